package main

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/sockd/sockd/client"
)

// calls runs callers goroutines calling call until the window ends, and
// returns calls per second and the 99th percentile latency.
func (e *env) calls(ctx context.Context, callers int, call func(ctx context.Context, i int) error) (float64, time.Duration, error) {
	return e.callsN(ctx, callers, 0, call)
}

// callsN is calls that also stops after max calls (0: no bound), for calls
// that each hold a descriptor. A bounded run warms up for the warm-up time
// or a fifth of its calls, whichever ends first, so that it always measures.
// The rate is the measured calls over the time from the first measured
// call's start to the last one's end.
func (e *env) callsN(ctx context.Context, callers, max int, call func(ctx context.Context, i int) error) (float64, time.Duration, error) {
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	begin := time.Now()
	warmCalls := int64(max / 5)
	var started atomic.Int64
	var measureFrom atomic.Int64 // since begin, +1 so that 0 means not yet
	var lastEnd atomic.Int64
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			var mine []time.Duration
			for {
				start := time.Since(begin)
				n := started.Add(1)
				if max > 0 && n > int64(max) {
					break
				}
				warm := start < e.o.warmup && (max == 0 || n <= warmCalls)
				if !warm {
					measureFrom.CompareAndSwap(0, int64(start)+1)
					if start >= time.Duration(measureFrom.Load()-1)+e.o.duration {
						break
					}
				}
				err := call(ctx, i)
				if err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					return
				}
				if !warm {
					end := time.Since(begin)
					mine = append(mine, end-start)
					for {
						last := lastEnd.Load()
						if int64(end) <= last || lastEnd.CompareAndSwap(last, int64(end)) {
							break
						}
					}
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if firstErr != nil {
		return 0, 0, firstErr
	}
	slices.Sort(lat)
	if len(lat) == 0 {
		return 0, 0, fmt.Errorf("no calls completed")
	}
	window := time.Duration(lastEnd.Load() - (measureFrom.Load() - 1))
	return float64(len(lat)) / window.Seconds(), lat[len(lat)*99/100], nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (e *env) check(ctx context.Context, _ int) error {
	_, err := e.health.Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

// unaryCases: Send of 1 KiB and Recv against the health Check on the same
// server, with 1 and 32 callers: calls per second and p99 latency. The
// Check is measured before and after the sockd calls, and averaged.
func unaryCases(ctx context.Context, e *env) ([]result, error) {
	var out []result
	for _, callers := range []int{1, 32} {
		// Each caller sends on its own socket into a sink, and receives on
		// its own socket from a peer that keeps it full.
		sink, err := newTCPSink()
		if err != nil {
			return nil, err
		}
		floodL, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		var peersMu sync.Mutex
		var peers []net.Conn
		go func() {
			for {
				c, err := floodL.Accept()
				if err != nil {
					return
				}
				peersMu.Lock()
				peers = append(peers, c)
				peersMu.Unlock()
				go func() {
					buf := make([]byte, 64<<10)
					for {
						if _, err := c.Write(buf); err != nil {
							return
						}
					}
				}()
			}
		}()
		sendIDs, recvIDs := make([]string, callers), make([]string, callers)
		for i := range callers {
			s, err := e.c.Create(ctx, client.CreateOptions{Connect: sink.addr()})
			if err != nil {
				return nil, err
			}
			r, err := e.c.Create(ctx, client.CreateOptions{Connect: floodL.Addr().String()})
			if err != nil {
				return nil, err
			}
			sendIDs[i], recvIDs[i] = s.GetId(), r.GetId()
		}
		payload := make([]byte, 1<<10)
		checkRate, checkP99, err := e.calls(ctx, callers, e.check)
		if err != nil {
			return nil, err
		}
		sendRate, sendP99, err := e.calls(ctx, callers, func(ctx context.Context, i int) error {
			_, err := e.c.Send(ctx, sendIDs[i], payload, true, nil)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("send: %w", err)
		}
		recvRate, recvP99, err := e.calls(ctx, callers, func(ctx context.Context, i int) error {
			_, _, err := e.c.Recv(ctx, recvIDs[i], client.RecvOptions{MaxBytes: 1 << 10})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("recv: %w", err)
		}
		// The baseline again, after: the machine's speed drifts, and the
		// mean of before and after brackets the sockd phases.
		checkRate2, checkP99b, err := e.calls(ctx, callers, e.check)
		if err != nil {
			return nil, err
		}
		checkRate, checkP99 = (checkRate+checkRate2)/2, (checkP99+checkP99b)/2
		for i := range callers {
			e.c.CloseSocket(ctx, sendIDs[i])
			e.c.CloseSocket(ctx, recvIDs[i])
		}
		floodL.Close()
		peersMu.Lock()
		for _, p := range peers {
			p.Close()
		}
		peersMu.Unlock()
		sink.close()
		c := fmt.Sprintf("c%d", callers)
		out = append(out,
			result{Case: "unary-send-1KiB-" + c, Unit: "ops/s", Sockd: sendRate, Baseline: checkRate, Against: "health Check", Ratio: sendRate / checkRate, Target: ">= 0.7"},
			result{Case: "unary-send-1KiB-" + c + "-p99", Unit: "s", Sockd: sendP99.Seconds(), Baseline: checkP99.Seconds(), Against: "health Check p99", Ratio: sendP99.Seconds() / checkP99.Seconds(), Target: "<= 1.5"},
			result{Case: "unary-recv-1KiB-" + c, Unit: "ops/s", Sockd: recvRate, Baseline: checkRate, Against: "health Check", Ratio: recvRate / checkRate, Target: ">= 0.7"},
			result{Case: "unary-recv-1KiB-" + c + "-p99", Unit: "s", Sockd: recvP99.Seconds(), Baseline: checkP99.Seconds(), Against: "health Check p99", Ratio: recvP99.Seconds() / checkP99.Seconds(), Target: "<= 1.5"},
		)
	}
	return out, nil
}
