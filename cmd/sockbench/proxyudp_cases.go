package main

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"

	"github.com/sockd/sockd/client"
)

// proxyUDPCases: 1 KiB datagrams from a plain Go sender, counted at a Go
// receiver, through a sockd UDP proxy with no fault against the same sender
// straight to the receiver (before and after, averaged). The note says what
// share of what was sent arrived. The receiver asks for an 8 MiB receive
// buffer (SO_RCVBUF, which the kernel caps at net.core.rmem_max), and so
// does the proxy's socket (SetOption on its listener, an ordinary sockd
// socket), as relay's own BenchmarkUDPProxy does; a second row measures the
// proxy with the kernel's default buffer, as a proxy is made.
func proxyUDPCases(ctx context.Context, e *env) ([]result, error) {
	const size = 1 << 10
	rx, err := newUDPSink()
	if err != nil {
		return nil, err
	}
	defer rx.c.Close()
	rxAddr := rx.c.LocalAddr().(*net.UDPAddr)

	plain1, plainSent1, plainGot1, err := e.udpBlast(ctx, rx, rxAddr, size)
	if err != nil {
		return nil, err
	}
	type proxied struct {
		rate      float64
		sent, got int64
		cpu       []float64
	}
	viaProxy := func(rcvbuf int64) (proxied, error) {
		var r proxied
		p, err := e.c.CreateProxy(ctx, client.ProxyOptions{UDP: true, Listen: "127.0.0.1:0", Upstream: rxAddr.String()})
		if err != nil {
			return r, fmt.Errorf("udp proxy: %w", err)
		}
		defer e.c.DeleteProxy(context.Background(), p.GetId())
		if rcvbuf > 0 {
			if _, err := e.c.SetOption(ctx, p.GetListenerId(), "SO_RCVBUF", rcvbuf); err != nil {
				return r, err
			}
		}
		proxyAddr, err := net.ResolveUDPAddr("udp4", p.GetListenAddress())
		if err != nil {
			return r, err
		}
		meter := startCPU(e.cmd.Process.Pid, 0)
		r.rate, r.sent, r.got, err = e.udpBlast(ctx, rx, proxyAddr, size)
		r.cpu = meter.cores()
		return r, err
	}
	big, err := viaProxy(8 << 20)
	if err != nil {
		return nil, err
	}
	dflt, err := viaProxy(0)
	if err != nil {
		return nil, err
	}
	plain2, plainSent2, plainGot2, err := e.udpBlast(ctx, rx, rxAddr, size)
	if err != nil {
		return nil, err
	}
	plain := (plain1 + plain2) / 2
	plainShare := 100 * share(plainGot1+plainGot2, plainSent1+plainSent2)
	note := func(r proxied) string {
		return fmt.Sprintf("arrived: through sockd %.1f %% of what was sent, plain %.1f %%; CPU in cores: sockd %.2f, sender + receiver %.2f; load %s",
			100*share(r.got, r.sent), plainShare, r.cpu[0], r.cpu[1], loadAverage())
	}
	const against = "plain Go sender → receiver (mean of before and after)"
	return []result{
		{Case: "proxyudp-1KiB", Unit: "dgrams/s", Sockd: big.rate, Baseline: plain, Against: against, Ratio: big.rate / plain, Target: ">= 0.6", Note: note(big)},
		{Case: "proxyudp-1KiB-default-rcvbuf", Unit: "dgrams/s", Sockd: dflt.rate, Baseline: plain, Against: against, Ratio: dflt.rate / plain, Note: note(dflt)},
	}, nil
}

// udpBlast sends size-byte datagrams to addr as fast as it can and returns
// the rate at which they reach rx, and how many were sent and received over
// the whole run.
func (e *env) udpBlast(ctx context.Context, rx *udpSink, addr *net.UDPAddr, size int) (rate float64, sent, got int64, err error) {
	tx, err := net.DialUDP("udp4", nil, addr)
	if err != nil {
		return 0, 0, 0, err
	}
	defer tx.Close()
	var n atomic.Int64
	got0 := rx.count.Load()
	buf := make([]byte, size)
	rate = e.rate(ctx, func(ctx context.Context) {
		for ctx.Err() == nil {
			if _, err := tx.Write(buf); err == nil {
				n.Add(1)
			}
		}
	}, rx.count.Load)
	return rate, n.Load(), rx.count.Load() - got0, nil
}

func share(part, whole int64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole)
}
