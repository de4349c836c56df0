package main

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// relayWrite is the write size of the relay cases (issue 14: 64 KiB writes
// from a Go writer into a sink).
const relayWrite = 64 << 10

// relayCases: a Go writer's 64 KiB writes into a TCP sink, bytes per second
// reaching the sink, six ways in one run — direct loopback TCP (before and
// after the others, averaged), a sockd relay with no fault (CreateRelay
// between a socket sockd accepted from the writer and one it connected to
// the sink), a sockd TCP proxy with no fault, toxiproxy v2.5.0 with no
// toxic, and socat's relay (its default 8 KiB buffer). Each note gives the
// CPU each process used, in cores, while it moved the bytes.
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
	sockdPid, toxiPid := e.cmd.Process.Pid, toxi.cmd.Process.Pid

	direct1, err := e.tcpWrites(ctx, sink, sink.addr(), relayWrite)
	if err != nil {
		return nil, err
	}

	// The relay: the writer dials a sockd listener, sockd accepts (a) and
	// connects to the sink (b), and CreateRelay joins a and b.
	meter := startCPU(sockdPid, 0)
	relayed, path, err := e.relayWrites(ctx, sink)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	relayCPU := meter.cores()

	// The proxy.
	p, err := createProxy(ctx, e.c, &sockdv1.CreateProxyRequest{ListenAddress: "127.0.0.1:0", UpstreamAddress: sink.addr()})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	meter = startCPU(sockdPid, 0)
	proxied, err := e.tcpWrites(ctx, sink, p.GetListenAddress(), relayWrite)
	proxyCPU := meter.cores()
	deleteProxy(context.Background(), e.c, p.GetId())
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}

	// toxiproxy, no toxic.
	name := fmt.Sprintf("relay%d", nextName())
	listen, err := toxi.createProxy(ctx, name, sink.addr())
	if err != nil {
		return nil, err
	}
	meter = startCPU(toxiPid, 0)
	viaToxi, err := e.tcpWrites(ctx, sink, listen, relayWrite)
	toxiCPU := meter.cores()
	toxi.deleteProxy(context.Background(), name)
	if err != nil {
		return nil, fmt.Errorf("toxiproxy: %w", err)
	}

	viaSocat, err := e.socat(ctx, sink, relayWrite)
	if err != nil {
		return nil, err
	}
	direct2, err := e.tcpWrites(ctx, sink, sink.addr(), relayWrite)
	if err != nil {
		return nil, err
	}
	direct := (direct1 + direct2) / 2

	relayNote := fmt.Sprintf("path %s; CPU in cores: sockd %.2f, writer + sink %.2f; toxiproxy %.2f (writer + sink %.2f); load %s",
		path, relayCPU[0], relayCPU[1], toxiCPU[0], toxiCPU[1], loadAverage())
	proxyNote := fmt.Sprintf("CPU in cores: sockd %.2f, writer + sink %.2f", proxyCPU[0], proxyCPU[1])
	const against = "direct loopback TCP (mean of before and after)"
	return []result{
		{Case: "relay-tcp-64KiB-vs-tcp", Unit: "B/s", Sockd: relayed, Baseline: direct, Against: against, Ratio: relayed / direct, Target: ">= 0.9", Note: relayNote},
		{Case: "relay-tcp-64KiB-vs-toxiproxy", Unit: "B/s", Sockd: relayed, Baseline: viaToxi, Against: "toxiproxy v2.5.0, no toxic", Ratio: relayed / viaToxi, Target: ">= 2"},
		{Case: "relay-tcp-64KiB-vs-socat", Unit: "B/s", Sockd: relayed, Baseline: viaSocat, Against: "socat -b 8192 relay", Ratio: relayed / viaSocat},
		{Case: "relay-proxy-tcp-64KiB-vs-tcp", Unit: "B/s", Sockd: proxied, Baseline: direct, Against: against, Ratio: proxied / direct, Target: ">= 0.9", Note: proxyNote},
		{Case: "relay-proxy-tcp-64KiB-vs-toxiproxy", Unit: "B/s", Sockd: proxied, Baseline: viaToxi, Against: "toxiproxy v2.5.0, no toxic", Ratio: proxied / viaToxi, Target: ">= 2"},
	}, nil
}

// relayWrites measures a relay made with CreateRelay from the writer to the
// sink, and says which path its upstream direction took (splice with no
// fault).
func (e *env) relayWrites(ctx context.Context, sink *tcpSink) (float64, string, error) {
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
	b, err := e.c.Create(ctx, client.CreateOptions{Connect: sink.addr()})
	if err != nil {
		e.c.CloseSocket(context.Background(), a.GetId())
		return 0, "", err
	}
	r, err := createRelay(ctx, e.c, a.GetId(), b.GetId())
	if err != nil {
		e.c.CloseSocket(context.Background(), a.GetId())
		e.c.CloseSocket(context.Background(), b.GetId())
		return 0, "", err
	}
	defer deleteRelay(context.Background(), e.c, r.GetId())
	var path string
	rate := e.rate(ctx, func(ctx context.Context) {
		writeUntilDone(ctx, w, relayWrite)
	}, func() int64 {
		if path == "" { // read once, mid-run: the path while bytes move
			if info, err := getRelay(ctx, e.c, r.GetId()); err == nil {
				path = info.GetUpstreamPath()
			}
		}
		return sink.bytes.Load()
	})
	return rate, strings.TrimSpace(path), nil
}
