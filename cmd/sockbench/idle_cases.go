package main

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/sockd/sockd/client"
)

// idleCases: a fresh sockd holds o.idle sockets (half connected to an
// outside listener, half accepted from outside dialers, every peer in this
// process): memory per socket, the time to open them against plain Go
// dials, and the time to list them all. A sockd of its own each run, so
// that every run pays for the growth of the heap and the registry, and none
// reuses memory an earlier case left.
func idleCases(ctx context.Context, env *env) ([]result, error) {
	const workers = 32
	e, err := startSockd(ctx, env.o.sockd)
	if err != nil {
		return nil, err
	}
	defer e.close()
	pairs := env.o.idle / 2

	// Baseline: plain Go making the same sockets the same way. It holds
	// their peers too, twice sockd's descriptors in one process, more than
	// the limit here (20,000), so it makes them in two halves, each closed
	// before the next.
	var goTime time.Duration
	for _, half := range []int{pairs / 2, pairs - pairs/2} {
		took, err := timeGoSockets(half, workers)
		if err != nil {
			return nil, err
		}
		goTime += took
	}

	outside, err := newPeers()
	if err != nil {
		return nil, err
	}
	defer outside.close()
	lsock, err := e.c.Create(ctx, client.CreateOptions{Bind: "127.0.0.1:0", Backlog: ptr(int32(4096))})
	if err != nil {
		return nil, err
	}
	heapBefore, err := e.collectGarbage()
	if err != nil {
		return nil, err
	}
	before, err := quietRSS(e.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	if env.o.profile != "" {
		e.saveHeapProfile(env.o.profile + ".idle-heap-before")
	}
	var ids []string
	var idsMu sync.Mutex
	stopProfile := func() {}
	if env.o.profile != "" { // sockd's CPU while it opens the sockets
		if stopProfile, err = e.startProfile(env.o.profile+".idle-open", 2); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	var next atomic.Int64
	var failed firstError
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(pairs) && !failed.is() {
				c, err := e.c.Create(ctx, client.CreateOptions{Connect: outside.addr()})
				if err != nil {
					failed.set(err)
					return
				}
				if err := outside.dial(lsock.GetLocalAddress()); err != nil {
					failed.set(err)
					return
				}
				a, err := e.c.Accept(ctx, lsock.GetId(), nil, "")
				if err != nil {
					failed.set(err)
					return
				}
				idsMu.Lock()
				ids = append(ids, c.GetId(), a.GetId())
				idsMu.Unlock()
			}
		})
	}
	wg.Wait()
	sockdTime := time.Since(start)
	stopProfile()
	if err := failed.get(); err != nil {
		return nil, fmt.Errorf("opening %d sockets: %w", 2*pairs, err)
	}
	// Memory held for the sockets, not garbage left by the calls that made
	// them: collect, and let the runtime return the pages it will.
	heapAfter, err := e.collectGarbage()
	if err != nil {
		return nil, err
	}
	afterBurst, err := settledRSS(e.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	after, err := quietRSS(e.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	perSocket := float64(after-before) / float64(len(ids))
	heapPerSocket := float64(heapAfter-heapBefore) / float64(len(ids))
	if env.o.profile != "" {
		e.saveHeapProfile(env.o.profile + ".idle-heap")
	}

	// List them all, paged.
	listStart := time.Now()
	all, err := e.c.List(ctx, client.ListOptions{})
	if err != nil {
		return nil, err
	}
	listed := len(all)
	listTime := time.Since(listStart)

	// The floor of any per-socket API: as many health Checks as the sockd
	// case made calls (two per pair), with as many callers.
	checkStart := time.Now()
	var checks atomic.Int64
	var checkWG sync.WaitGroup
	for range workers {
		checkWG.Go(func() {
			for checks.Add(1) <= int64(len(ids)) {
				if _, err := e.health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
					return
				}
			}
		})
	}
	checkWG.Wait()
	checkTime := time.Since(checkStart)

	for _, id := range append(ids, lsock.GetId()) {
		e.c.CloseSocket(ctx, id)
	}
	n := fmt.Sprint(len(ids))
	return []result{
		{Case: "idle-" + n + "-memory-per-socket", Unit: "B", Sockd: perSocket, Baseline: 2048, Against: "the 2 KB budget", Ratio: perSocket / 2048, Target: "<= 1", Note: fmt.Sprintf("RSS %.1f → %.1f MB once quiet (%.1f MB just after the burst, %.0f B per socket); live heap %.0f B per socket", float64(before)/1e6, float64(after)/1e6, float64(afterBurst)/1e6, float64(afterBurst-before)/float64(len(ids)), heapPerSocket)},
		{Case: "idle-" + n + "-open-time", Unit: "s", Sockd: sockdTime.Seconds(), Baseline: goTime.Seconds(), Against: "plain Go dials", Ratio: sockdTime.Seconds() / goTime.Seconds(), Target: "<= 2",
			Note: fmt.Sprintf("%d health Checks alone take %.3f s (%.1f× the Go dials)", len(ids), checkTime.Seconds(), checkTime.Seconds()/goTime.Seconds())},
		{Case: "idle-" + n + "-list-all", Unit: "s", Sockd: listTime.Seconds(), Baseline: 1, Against: "1 second", Ratio: listTime.Seconds(), Target: "<= 1", Note: fmt.Sprintf("%d sockets listed", listed)},
	}, nil
}

// peers are the outside ends of the idle sockets, in this process: a
// listener that sockets connect to, and dialers into a socket's listener.
// They hold every connection until closed.
type peers struct {
	l      net.Listener
	mu     sync.Mutex
	conns  []net.Conn
	closed bool // a connection accepted after close is closed at once
}

func newPeers() (*peers, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &peers{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.keep(c)
		}
	}()
	return p, nil
}

func (p *peers) addr() string { return p.l.Addr().String() }

func (p *peers) keep(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return
	}
	p.conns = append(p.conns, c)
}

// dial connects an outside dialer to addr and keeps it.
func (p *peers) dial(addr string) error {
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		return err
	}
	p.keep(c)
	return nil
}

func (p *peers) close() {
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, c := range p.conns {
		c.Close()
	}
}

// timeGoSockets is the idle case done by plain Go: with as many workers,
// each pair is a dial to an outside listener and an accept of an outside
// dialer on a listener of its own, so Go makes the same sockets with the
// same peers, over as many connections, as sockd does. It returns the time
// to open them (closing them is not counted).
func timeGoSockets(pairs, workers int) (time.Duration, error) {
	outside, err := newPeers()
	if err != nil {
		return 0, err
	}
	defer outside.close()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	var mu sync.Mutex
	var conns []net.Conn
	start := time.Now()
	var next atomic.Int64
	var failed firstError
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(pairs) && !failed.is() {
				c, err := net.Dial("tcp4", outside.addr())
				if err != nil {
					failed.set(err)
					return
				}
				if err := outside.dial(l.Addr().String()); err != nil {
					failed.set(err)
					return
				}
				a, err := l.Accept()
				if err != nil {
					failed.set(err)
					return
				}
				mu.Lock()
				conns = append(conns, c, a)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	for _, c := range conns {
		c.Close()
	}
	return took, failed.get()
}

// firstError is the first error of several workers; the others see it and
// stop.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) set(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *firstError) is() bool { return f.get() != nil }

func ptr[T any](v T) *T { return &v }
