package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sockd/sockd/client"
)

// relayWrite is the write size of the relay cases (issue 14: 64 KiB writes
// from a Go writer into a sink).
const relayWrite = 64 << 10

// relayCases: a Go writer's 64 KiB writes into a TCP sink, bytes per second
// reaching the sink, in one run: direct loopback TCP (before and after the
// others, averaged), a sockd relay with no fault (CreateRelay between a
// socket sockd accepted from the writer and one it connected to the sink),
// a sockd TCP proxy with no fault, Go's own splice relay (io.Copy between
// two *net.TCPConn, in a process of its own), a Go relay that splices in
// and out at once (concurrentSplice: what overlapping the two would give),
// toxiproxy v2.5.0 with no toxic, and socat's relay (its default 8 KiB buffer). Each path's note
// gives the CPU it took, in cores: the relaying process's, this process's
// (the writer and the sink), and the whole machine's (2 cores here).
func relayCases(ctx context.Context, e *env) ([]result, error) {
	toxi, err := e.toxiproxy(ctx)
	if err != nil {
		return nil, err
	}
	sink, err := newTCPSink()
	if err != nil {
		return nil, err
	}
	defer sink.close()
	gr, err := startGoRelay(sink.addr(), false)
	if err != nil {
		return nil, err
	}
	defer gr.close()
	cr, err := startGoRelay(sink.addr(), true)
	if err != nil {
		return nil, err
	}
	defer cr.close()
	sockdPid := e.cmd.Process.Pid

	// phase measures one path and the CPU it took; pid is the relaying
	// process (0: none, the writer and the sink alone).
	phase := func(pid int, measure func() (float64, error)) (float64, string, error) {
		m := startCPU(pid, 0)
		rate, err := measure()
		c := m.cores()
		cpu := fmt.Sprintf("CPU in cores: writer + sink %.2f, machine %.2f", c[1], m.machineCores())
		if pid != 0 {
			cpu = fmt.Sprintf("CPU in cores: relay %.2f, writer + sink %.2f, machine %.2f", c[0], c[1], m.machineCores())
		}
		return rate, cpu, err
	}
	writes := func(addr string) func() (float64, error) {
		return func() (float64, error) { return e.tcpWrites(ctx, sink, addr, relayWrite) }
	}

	direct1, directCPU, err := phase(0, writes(sink.addr()))
	if err != nil {
		return nil, err
	}
	// The relay: the writer dials a sockd listener, sockd accepts (a) and
	// connects to the sink (b), and CreateRelay joins a and b.
	var path string
	relayed, relayCPU, err := phase(sockdPid, func() (float64, error) {
		var rate float64
		var err error
		rate, path, err = e.viaRelay(ctx, sink.addr(), func(w net.Conn) float64 { return e.connRateOut(ctx, w, sink.bytes.Load) })
		return rate, err
	})
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	p, err := e.c.CreateProxy(ctx, client.ProxyOptions{Listen: "127.0.0.1:0", Upstream: sink.addr()})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	proxied, proxyCPU, err := phase(sockdPid, writes(p.GetListenAddress()))
	e.c.DeleteProxy(context.Background(), p.GetId())
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	viaGo, goCPU, err := phase(gr.cmd.Process.Pid, writes(gr.addr))
	if err != nil {
		return nil, fmt.Errorf("go relay: %w", err)
	}
	viaConcurrent, concurrentCPU, err := phase(cr.cmd.Process.Pid, writes(cr.addr))
	if err != nil {
		return nil, fmt.Errorf("concurrent splice relay: %w", err)
	}
	name := fmt.Sprintf("relay%d", nextName())
	listen, err := toxi.createProxy(ctx, name, sink.addr())
	if err != nil {
		return nil, err
	}
	viaToxi, toxiCPU, err := phase(toxi.cmd.Process.Pid, writes(listen))
	toxi.deleteProxy(context.Background(), name)
	if err != nil {
		return nil, fmt.Errorf("toxiproxy: %w", err)
	}
	viaSocat, err := e.socat(ctx, sink, relayWrite)
	if err != nil {
		return nil, err
	}
	direct2, _, err := phase(0, writes(sink.addr()))
	if err != nil {
		return nil, err
	}
	direct := (direct1 + direct2) / 2

	// The same into issue 14's socat sink, counted at the writer: direct,
	// the sockd relay, Go's relay.
	ss, err := startSocatSink()
	if err != nil {
		return nil, err
	}
	defer ss.close()
	gs, err := startGoRelay(ss.addr, false)
	if err != nil {
		return nil, err
	}
	defer gs.close()
	ssDirect, err := e.writerRate(ctx, ss.addr)
	if err != nil {
		return nil, err
	}
	ssRelayed, _, err := e.viaRelay(ctx, ss.addr, func(w net.Conn) float64 { return e.connRateOut(ctx, w, nil) })
	if err != nil {
		return nil, fmt.Errorf("relay into socat: %w", err)
	}
	ssGo, err := e.writerRate(ctx, gs.addr)
	if err != nil {
		return nil, err
	}

	const against = "direct loopback TCP (mean of before and after)"
	return []result{
		{Case: "relay-tcp-64KiB-vs-tcp", Unit: "B/s", Sockd: relayed, Baseline: direct, Against: against, Ratio: relayed / direct, Target: ">= 0.9",
			Note: fmt.Sprintf("path %s; sockd's %s; direct's %s; load %s", path, relayCPU, directCPU, loadAverage())},
		{Case: "relay-tcp-64KiB-vs-go-splice", Unit: "B/s", Sockd: relayed, Baseline: viaGo, Against: "Go io.Copy relay (splice), own process", Ratio: relayed / viaGo,
			Note: "Go relay's " + goCPU},
		{Case: "relay-tcp-64KiB-vs-concurrent-splice", Unit: "B/s", Sockd: relayed, Baseline: viaConcurrent, Against: "a Go relay splicing in and out at once, own process", Ratio: relayed / viaConcurrent,
			Note: fmt.Sprintf("that relay is %.2f× direct; its %s", viaConcurrent/((direct1+direct2)/2), concurrentCPU)},
		{Case: "relay-tcp-64KiB-vs-toxiproxy", Unit: "B/s", Sockd: relayed, Baseline: viaToxi, Against: "toxiproxy v2.5.0, no toxic", Ratio: relayed / viaToxi, Target: ">= 2",
			Note: "toxiproxy's " + toxiCPU},
		{Case: "relay-tcp-64KiB-vs-socat", Unit: "B/s", Sockd: relayed, Baseline: viaSocat, Against: "socat -b 8192 relay", Ratio: relayed / viaSocat},
		{Case: "relay-socat-sink-vs-tcp", Unit: "B/s", Sockd: ssRelayed, Baseline: ssDirect, Against: "direct loopback TCP into the socat sink", Ratio: ssRelayed / ssDirect,
			Note: fmt.Sprintf("issue 14's set-up: the sink is socat -u into /dev/null (8 KiB reads), counted at the writer; Go's io.Copy relay into it: %.0f MB/s (%.2f× direct)", ssGo/1e6, ssGo/ssDirect)},
		{Case: "relay-proxy-tcp-64KiB-vs-tcp", Unit: "B/s", Sockd: proxied, Baseline: direct, Against: against, Ratio: proxied / direct, Target: ">= 0.9", Note: "sockd's " + proxyCPU},
		{Case: "relay-proxy-tcp-64KiB-vs-toxiproxy", Unit: "B/s", Sockd: proxied, Baseline: viaToxi, Against: "toxiproxy v2.5.0, no toxic", Ratio: proxied / viaToxi, Target: ">= 2"},
	}, nil
}

// viaRelay makes a relay from a Go writer to sinkAddr with CreateRelay —
// a sockd listener, the writer's connection accepted by sockd (a), a sockd
// socket connected to the sink (b) — runs measure with the writer's
// connection, and says which path the relay's upstream direction took
// while bytes moved (splice, with no fault).
func (e *env) viaRelay(ctx context.Context, sinkAddr string, measure func(w net.Conn) float64) (float64, string, error) {
	l, err := e.c.Create(ctx, client.CreateOptions{Bind: "127.0.0.1:0", Listen: true})
	if err != nil {
		return 0, "", err
	}
	defer e.c.CloseSocket(context.Background(), l.GetId())
	w, err := net.Dial("tcp4", l.GetLocalAddress())
	if err != nil {
		return 0, "", err
	}
	defer w.Close()
	a, err := e.c.Accept(ctx, l.GetId(), nil, "")
	if err != nil {
		return 0, "", err
	}
	b, err := e.c.Create(ctx, client.CreateOptions{Connect: sinkAddr})
	if err != nil {
		e.c.CloseSocket(context.Background(), a.GetId())
		return 0, "", err
	}
	r, err := e.c.CreateRelay(ctx, client.RelayOptions{A: a.GetId(), B: b.GetId()})
	if err != nil {
		e.c.CloseSocket(context.Background(), a.GetId())
		e.c.CloseSocket(context.Background(), b.GetId())
		return 0, "", err
	}
	defer e.c.DeleteRelay(context.Background(), r.GetId(), true)
	pathSeen := make(chan string, 1)
	go func() { // the path mid-run, while bytes move
		time.Sleep(e.o.warmup + e.o.duration/2)
		info, err := e.c.GetRelay(ctx, r.GetId())
		if err != nil {
			pathSeen <- err.Error()
			return
		}
		pathSeen <- info.GetUpstreamPath()
	}()
	rate := measure(w)
	return rate, strings.TrimSpace(<-pathSeen), nil
}

// connRateOut writes relayWrite-byte chunks to c until the window ends and
// returns how fast count grew (nil: the bytes written).
func (e *env) connRateOut(ctx context.Context, c net.Conn, count func() int64) float64 {
	var wrote atomic.Int64
	if count == nil {
		count = wrote.Load
	}
	return e.rate(ctx, func(ctx context.Context) {
		stop := context.AfterFunc(ctx, func() { c.SetWriteDeadline(time.Unix(1, 0)) })
		defer stop()
		buf := make([]byte, relayWrite)
		for ctx.Err() == nil {
			n, err := c.Write(buf)
			wrote.Add(int64(n))
			if err != nil {
				return
			}
		}
	}, count)
}
