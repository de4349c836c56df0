package main

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// controlCases: the set-up calls a harness makes — create+bind+listen in one
// call, connect+accept, close — against the health Check (measured before
// and after, and averaged), 8 callers each.
func controlCases(ctx context.Context, e *env) ([]result, error) {
	const callers = 8
	checkRate, _, err := e.calls(ctx, callers, e.check)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	var listeners []*sockdv1.Socket
	// Each created socket holds a descriptor in sockd: the phases stop after
	// a bounded number (the warm-up's included), within the descriptor limit.
	const most = 3000
	createRate, _, err := e.callsN(ctx, callers, most, func(ctx context.Context, _ int) error {
		s, err := e.c.Create(ctx, client.CreateOptions{Bind: "127.0.0.1:0", Listen: true})
		if err == nil {
			mu.Lock()
			listeners = append(listeners, s)
			mu.Unlock()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	// connect+accept: two calls per connection, counted as calls.
	var next atomic.Int64
	var conns []string
	pairRate, _, err := e.callsN(ctx, callers, most, func(ctx context.Context, _ int) error {
		l := listeners[int(next.Add(1)-1)%len(listeners)]
		c, err := e.c.Create(ctx, client.CreateOptions{Connect: l.GetLocalAddress()})
		if err != nil {
			return err
		}
		a, err := e.c.Accept(ctx, l.GetId(), nil, "")
		if err != nil {
			return err
		}
		mu.Lock()
		conns = append(conns, c.GetId(), a.GetId())
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	var all []string
	for _, l := range listeners {
		all = append(all, l.GetId())
	}
	all = append(all, conns...)
	var idx atomic.Int64
	closeRate, _, err := e.callsN(ctx, callers, len(all), func(ctx context.Context, _ int) error {
		_, err := e.c.CloseSocket(ctx, all[int(idx.Add(1)-1)])
		return err
	})
	if err != nil {
		return nil, err
	}
	// The baseline again, after (see unaryCases).
	checkRate2, _, err := e.calls(ctx, callers, e.check)
	if err != nil {
		return nil, err
	}
	checkRate = (checkRate + checkRate2) / 2
	// Whatever the close phase did not reach.
	for i := int(min(idx.Load(), int64(len(all)))); i < len(all); i++ {
		e.c.CloseSocket(ctx, all[i])
	}
	pairCalls := pairRate * 2
	return []result{
		{Case: "control-create-bind-listen", Unit: "ops/s", Sockd: createRate, Baseline: checkRate, Against: "health Check (8 callers)", Ratio: createRate / checkRate, Target: ">= 0.7"},
		{Case: "control-connect-accept", Unit: "ops/s", Sockd: pairCalls, Baseline: checkRate, Against: "health Check (8 callers)", Ratio: pairCalls / checkRate, Target: ">= 0.7", Note: "calls per second (2 per connection)"},
		{Case: "control-close", Unit: "ops/s", Sockd: closeRate, Baseline: checkRate, Against: "health Check (8 callers)", Ratio: closeRate / checkRate, Target: ">= 0.7"},
	}, nil
}
