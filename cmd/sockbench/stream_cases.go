package main

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockd/sockd/client"
)

// rate runs load (until its context ends) and returns how fast counter grew
// per second over the measurement window, after the warm-up.
func (e *env) rate(ctx context.Context, load func(context.Context), counter func() int64) float64 {
	lctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { load(lctx) })
	time.Sleep(e.o.warmup)
	c0, t0 := counter(), time.Now()
	time.Sleep(e.o.duration)
	c1, t1 := counter(), time.Now()
	stop()
	wg.Wait()
	return float64(c1-c0) / t1.Sub(t0).Seconds()
}

// attachFlood attaches to a socket with the client (a Conn, or a
// PacketConn for UDP) and writes chunks of size bytes until ctx ends,
// counting what it wrote; then it detaches, leaving the socket open.
func attachFlood(ctx context.Context, c *client.Client, id string, udp bool, size int, sent *atomic.Int64) error {
	var w interface {
		Write([]byte) (int, error)
		SetWriteDeadline(time.Time) error
		Detach() error
	}
	var err error
	if udp {
		w, err = c.PacketConn(ctx, id)
	} else {
		w, err = c.Conn(ctx, id)
	}
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { w.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, size)
	for ctx.Err() == nil {
		if _, err := w.Write(buf); err != nil {
			if ctx.Err() != nil {
				break
			}
			w.Detach()
			return err
		}
		sent.Add(int64(size))
	}
	return w.Detach()
}

// throughput is one chunk size through every path.
type throughput struct {
	size                           int
	sockd, bare, direct, socatBps  float64
	bareOffsets                    float64 // the bare sink with offsets (the client keeps what it sends)
	allocsPerMsg, bareAllocsPerMsg float64 // heap allocations per Attach message, in sockd and in the bare sink
}

func (e *env) measureTCP(ctx context.Context, size int, withSocat bool) (throughput, error) {
	t := throughput{size: size}
	sink, err := newTCPSink()
	if err != nil {
		return t, err
	}
	defer sink.close()

	// sockd: client → Attach → sockd → a real TCP socket → the sink.
	sock, err := e.c.Create(ctx, client.CreateOptions{Connect: sink.addr()})
	if err != nil {
		return t, fmt.Errorf("sockd socket: %w", err)
	}
	defer e.c.CloseSocket(context.Background(), sock.GetId())
	var floodErr error
	var sent atomic.Int64
	mallocs0, err := e.mallocs()
	if err != nil {
		return t, err
	}
	t.sockd = e.rate(ctx, func(ctx context.Context) { floodErr = attachFlood(ctx, e.c, sock.GetId(), false, size, &sent) }, sink.bytes.Load)
	if floodErr != nil {
		return t, fmt.Errorf("attach: %w", floodErr)
	}
	// Every allocation sockd made during the run (the stream's set-up and
	// this query included) over the messages it carried.
	mallocs1, err := e.mallocs()
	if err != nil {
		return t, err
	}
	if msgs := sent.Load() / int64(size); msgs > 0 {
		t.allocsPerMsg = float64(mallocs1-mallocs0) / float64(msgs)
	}

	// Bare: the same client and codec into a gRPC sink with nothing behind it.
	var bareSent atomic.Int64
	if mallocs0, err = e.sinkProf.mallocs(); err != nil {
		return t, err
	}
	t.bare = e.rate(ctx, func(ctx context.Context) { floodErr = attachFlood(ctx, e.sinkC, "sink", false, size, &bareSent) }, bareSent.Load)
	if floodErr != nil {
		return t, fmt.Errorf("bare sink: %w", floodErr)
	}
	if mallocs1, err = e.sinkProf.mallocs(); err != nil {
		return t, err
	}
	if msgs := bareSent.Load() / int64(size); msgs > 0 {
		t.bareAllocsPerMsg = float64(mallocs1-mallocs0) / float64(msgs)
	}

	// Bare with offsets: the client does what it does against sockd.
	var bareOffSent atomic.Int64
	t.bareOffsets = e.rate(ctx, func(ctx context.Context) { floodErr = attachFlood(ctx, e.sinkOffC, "sink", false, size, &bareOffSent) }, bareOffSent.Load)
	if floodErr != nil {
		return t, fmt.Errorf("bare sink with offsets: %w", floodErr)
	}

	// Direct loopback TCP, size-byte writes.
	t.direct, err = e.tcpWrites(ctx, sink, sink.addr(), size)
	if err != nil {
		return t, err
	}
	if withSocat {
		t.socatBps, err = e.socat(ctx, sink, size)
		if err != nil {
			return t, err
		}
	}
	return t, nil
}

// tcpWrites writes size-byte chunks to addr and measures what reaches the
// sink.
func (e *env) tcpWrites(ctx context.Context, sink *tcpSink, addr string, size int) (float64, error) {
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, size)
	return e.rate(ctx, func(ctx context.Context) {
		stop := context.AfterFunc(ctx, func() { c.SetWriteDeadline(time.Unix(1, 0)) })
		defer stop()
		for ctx.Err() == nil {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}, sink.bytes.Load), nil
}

// socat relays with its default 8 KiB buffer: client → socat → the sink.
func (e *env) socat(ctx context.Context, sink *tcpSink, size int) (float64, error) {
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command("socat", "-b", "8192", "TCP4-LISTEN:"+port+",bind=127.0.0.1,reuseaddr", "TCP4:"+sink.addr())
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("socat (apt-get install socat): %w", err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp4", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("socat did not listen: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// socat relays one connection (the probe) and exits unless fork; start
	// it again for the measured one.
	cmd.Process.Kill()
	cmd.Wait()
	cmd = exec.Command("socat", "-b", "8192", "TCP4-LISTEN:"+port+",bind=127.0.0.1,reuseaddr", "TCP4:"+sink.addr())
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	var c net.Conn
	for {
		if c, err = net.Dial("tcp4", "127.0.0.1:"+port); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return 0, err
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer c.Close()
	buf := make([]byte, size)
	return e.rate(ctx, func(ctx context.Context) {
		stop := context.AfterFunc(ctx, func() { c.SetWriteDeadline(time.Unix(1, 0)) })
		defer stop()
		for ctx.Err() == nil {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}, sink.bytes.Load), nil
}

func attachTCPCases(ctx context.Context, e *env) ([]result, error) {
	big, err := e.measureTCP(ctx, 64<<10, true)
	if err != nil {
		return nil, err
	}
	small, err := e.measureTCP(ctx, 1<<10, false)
	if err != nil {
		return nil, err
	}
	return []result{
		{Case: "attach-tcp-64KiB", Unit: "B/s", Sockd: big.sockd, Baseline: big.bare, Against: "bare gRPC stream into a sink", Ratio: big.sockd / big.bare, Target: ">= 0.8",
			Note: fmt.Sprintf("heap allocations per message: sockd %.2f, bare sink %.2f", big.allocsPerMsg, big.bareAllocsPerMsg)},
		{Case: "attach-tcp-64KiB-vs-bare-offsets", Unit: "B/s", Sockd: big.sockd, Baseline: big.bareOffsets, Against: "bare gRPC stream into a sink, with offsets", Ratio: big.sockd / big.bareOffsets, Target: ">= 0.8"},
		{Case: "attach-tcp-64KiB-offsets-cost", Unit: "B/s", Sockd: big.bareOffsets, Baseline: big.bare, Against: "the same sink without offsets", Ratio: big.bareOffsets / big.bare},
		{Case: "attach-tcp-64KiB-vs-tcp", Unit: "B/s", Sockd: big.sockd, Baseline: big.direct, Against: "direct loopback TCP", Ratio: big.sockd / big.direct, Target: ">= 0.35"},
		{Case: "attach-tcp-64KiB-vs-socat", Unit: "B/s", Sockd: big.sockd, Baseline: big.socatBps, Against: "socat -b 8192 relay", Ratio: big.sockd / big.socatBps, Target: ">= 1"},
		{Case: "attach-tcp-1KiB", Unit: "B/s", Sockd: small.sockd, Baseline: small.bare, Against: "bare gRPC stream into a sink", Ratio: small.sockd / small.bare, Target: ">= 0.6",
			Note: fmt.Sprintf("heap allocations per message: sockd %.2f, bare sink %.2f", small.allocsPerMsg, small.bareAllocsPerMsg)},
		{Case: "attach-tcp-1KiB-vs-bare-offsets", Unit: "B/s", Sockd: small.sockd, Baseline: small.bareOffsets, Against: "bare gRPC stream into a sink, with offsets", Ratio: small.sockd / small.bareOffsets, Target: ">= 0.6"},
	}, nil
}

// attachUDPCases: 1 KiB datagrams through Attach on a connected UDP socket
// against a plain Go sender, counted at a real receiver.
func attachUDPCases(ctx context.Context, e *env) ([]result, error) {
	const size = 1 << 10
	rx, err := newUDPSink()
	if err != nil {
		return nil, err
	}
	defer rx.c.Close()
	sock, err := e.c.Create(ctx, client.CreateOptions{UDP: true, Connect: rx.c.LocalAddr().String()})
	if err != nil {
		return nil, err
	}
	defer e.c.CloseSocket(context.Background(), sock.GetId())
	var sent atomic.Int64
	var floodErr error
	viaSockd := e.rate(ctx, func(ctx context.Context) { floodErr = attachFlood(ctx, e.c, sock.GetId(), true, size, &sent) }, rx.count.Load)
	if floodErr != nil {
		return nil, floodErr
	}
	tx, err := net.DialUDP("udp4", nil, rx.c.LocalAddr().(*net.UDPAddr))
	if err != nil {
		return nil, err
	}
	defer tx.Close()
	buf := make([]byte, size)
	plain := e.rate(ctx, func(ctx context.Context) {
		for ctx.Err() == nil {
			tx.Write(buf)
		}
	}, rx.count.Load)
	return []result{{Case: "attach-udp-1KiB", Unit: "dgrams/s", Sockd: viaSockd, Baseline: plain, Against: "plain Go sender → receiver", Ratio: viaSockd / plain, Target: ">= 0.5"}}, nil
}
