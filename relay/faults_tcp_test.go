package relay_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/relay"
	"github.com/sockd/sockd/sockmgr"
)

// Timing tolerances: the machine has two noisy cores, so a delay may run
// late by tens of milliseconds, never early.
const late = 150 * time.Millisecond

// echo makes the server side of a pair echo what it reads. (Not io.Copy:
// between two TCP conns it splices through a pipe from Go's own pool, which
// the descriptor check would count.)
func (p *tcpPair) echo(t *testing.T) {
	go echoConn(p.server)
}

func echoConn(c net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err == io.EOF {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.CloseWrite() // the client's EOF, echoed
			}
		}
		if err != nil {
			return
		}
	}
}

// rtts measures n round trips of one byte through an echoing pair.
func rtts(t *testing.T, c net.Conn, n int) []time.Duration {
	t.Helper()
	one := []byte{'x'}
	var out []time.Duration
	for range n {
		start := time.Now()
		_, err := c.Write(one)
		check(t, err)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadFull(c, one)
		check(t, err)
		out = append(out, time.Since(start))
	}
	return out
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func TestLatencyAddsToTheRoundTrip(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	p := e.newTCPPair()
	p.echo(t)
	base := median(rtts(t, p.client, 5))
	target := relay.Target{Relay: p.relay.ID}
	must[relay.Fault](t)(e.rm.AddFault(me, target, relay.Fault{Params: relay.LatencyParams{Latency: 100 * time.Millisecond}}))
	for _, d := range rtts(t, p.client, 5) {
		if d < 100*time.Millisecond || d > 100*time.Millisecond+base+late {
			t.Errorf("round trip %v with 100ms of downstream latency", d)
		}
	}
	info := must[relay.RelayInfo](t)(e.rm.Relay(me, p.relay.ID))
	if info.DownstreamPath != relay.PathUser || info.UpstreamPath != relay.PathSplice {
		t.Errorf("paths %s/%s, want splice/user", info.UpstreamPath, info.DownstreamPath)
	}
	if len(info.ActiveFaults) != 1 || info.ActiveFaults[0] != "latency_downstream" {
		t.Errorf("active faults %v", info.ActiveFaults)
	}
	// A live update: upstream too now, with jitter.
	must[relay.Fault](t)(e.rm.AddFault(me, target, relay.Fault{Direction: relay.Upstream, Params: relay.LatencyParams{Latency: 50 * time.Millisecond, Jitter: 20 * time.Millisecond}}))
	must[relay.Fault](t)(e.rm.UpdateFault(me, target, relay.Fault{Name: "latency_downstream", Params: relay.LatencyParams{Latency: 200 * time.Millisecond}}, []string{"latency.latency"}))
	for _, d := range rtts(t, p.client, 5) {
		if d < 230*time.Millisecond || d > 270*time.Millisecond+base+late {
			t.Errorf("round trip %v with 200ms down and 50±20ms up", d)
		}
	}
	must[relay.Fault](t)(e.rm.RemoveFault(me, target, "latency_downstream"))
	must[relay.Fault](t)(e.rm.RemoveFault(me, target, "latency_upstream"))
	if d := median(rtts(t, p.client, 5)); d > base+late {
		t.Errorf("round trip %v after the faults were removed", d)
	}
	waitFor(t, time.Second, "splice again", func() bool {
		info := must[relay.RelayInfo](t)(e.rm.Relay(me, p.relay.ID))
		return info.UpstreamPath == relay.PathSplice && info.DownstreamPath == relay.PathSplice
	})
}

func TestLatencyDoesNotCapThroughput(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	p := e.newTCPPair(relay.Fault{Direction: relay.Upstream, Params: relay.LatencyParams{Latency: 100 * time.Millisecond}})
	const total = 32 << 20
	go func() {
		_ = sendStream(p.client, 3, total)
	}()
	start := time.Now()
	check(t, checkStream(p.server, 3, total))
	// Chunk by chunk, 512 chunks of 64 KiB would take 51 s; pipelined it is
	// one latency plus the transfer.
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("32 MiB under 100ms of latency took %v", el)
	} else {
		t.Logf("32 MiB under 100ms of latency in %v", el)
	}
}

// measureRate reads from c for about d after the first byte and returns the
// rate in bytes per second.
func measureRate(t *testing.T, c net.Conn, d time.Duration) float64 {
	t.Helper()
	buf := make([]byte, 1<<20)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(buf)
	check(t, err)
	_ = n // the first read starts the clock
	start := time.Now()
	got := 0
	_ = c.SetReadDeadline(start.Add(d))
	for {
		n, err := c.Read(buf)
		got += n
		if err != nil {
			break
		}
	}
	return float64(got) / time.Since(start).Seconds()
}

func TestBandwidthHoldsItsRate(t *testing.T) {
	for _, rate := range []int64{10_000, 100_000, 1_000_000, 10_000_000} {
		t.Run(itoa(rate), func(t *testing.T) {
			e := newEnv(t, sockmgr.Config{}, relay.Config{})
			p := e.newTCPPair(relay.Fault{Direction: relay.Upstream, Params: relay.BandwidthParams{Rate: rate}})
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				buf := make([]byte, 64<<10)
				for {
					select {
					case <-stop:
						return
					default:
					}
					_ = p.client.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
					_, _ = p.client.Write(buf)
				}
			}()
			got := measureRate(t, p.server, 2500*time.Millisecond)
			if got < 0.9*float64(rate) || got > 1.1*float64(rate) {
				t.Errorf("rate %.0f B/s, want %d ±10%%", got, rate)
			} else {
				t.Logf("rate %.0f B/s for %d (%+.1f%%)", got, rate, 100*(got/float64(rate)-1))
			}
			info := must[relay.RelayInfo](t)(e.rm.Relay(me, p.relay.ID))
			if info.UpstreamPath != relay.PathSplice {
				t.Errorf("bandwidth alone should keep splice, path %s", info.UpstreamPath)
			}
		})
	}
}

func itoa(n int64) string { return string(strconvAppend(nil, n)) }

func strconvAppend(b []byte, n int64) []byte {
	if n >= 10 {
		b = strconvAppend(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

func TestSlicerMakesManySmallReads(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	p := e.newTCPPair(relay.Fault{Params: relay.SlicerParams{AverageSize: 10, SizeVariation: 5, Delay: time.Millisecond}})
	msg := bytes.Repeat([]byte("0123456789"), 100)
	go func() { _, _ = p.server.Write(msg); _ = p.server.CloseWrite() }()
	var sizes []int
	var got []byte
	buf := make([]byte, 4096)
	_ = p.client.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		n, err := p.client.Read(buf)
		if n > 0 {
			sizes = append(sizes, n)
			got = append(got, buf[:n]...)
		}
		if err != nil {
			break
		}
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("the bytes differ (%d of %d)", len(got), len(msg))
	}
	slices.Sort(sizes)
	if len(sizes) < 30 || sizes[len(sizes)/2] > 30 {
		t.Fatalf("%d reads, median %d bytes: want many small reads", len(sizes), sizes[len(sizes)/2])
	}
	t.Logf("%d reads, median %d bytes", len(sizes), sizes[len(sizes)/2])
}

func TestTimeoutStallsThenCloses(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	p := e.newTCPPair(relay.Fault{Direction: relay.Upstream, Params: relay.TimeoutParams{Timeout: 300 * time.Millisecond}})
	start := time.Now()
	_, err := p.client.Write([]byte("never arrives"))
	check(t, err)
	got, err := readAll(p.server, 5*time.Second)
	if len(got) != 0 || err != nil {
		t.Fatalf("server read %q, %v; want nothing, then EOF", got, err)
	}
	if el := time.Since(start); el < 280*time.Millisecond || el > 300*time.Millisecond+late {
		t.Errorf("closed after %v, want 300ms", el)
	}
	got, err = readAll(p.client, 5*time.Second)
	if len(got) != 0 || err != nil {
		t.Fatalf("client read %q, %v; want EOF", got, err)
	}
	e.relayGone(p.relay.ID)
}

func TestTimeoutZeroStallsForever(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	p := e.newTCPPair(relay.Fault{Type: relay.FaultTimeout})
	_, err := p.server.Write([]byte("dropped"))
	check(t, err)
	_ = p.client.SetReadDeadline(time.Now().Add(400 * time.Millisecond))
	if n, err := p.client.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %d, %v: want a stall", n, err)
	}
	// Removed, data flows again (what came meanwhile was dropped).
	must[relay.Fault](t)(e.rm.RemoveFault(me, relay.Target{Relay: p.relay.ID}, "timeout_downstream"))
	_, err = p.server.Write([]byte("after"))
	check(t, err)
	got := make([]byte, 5)
	_ = p.client.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadFull(p.client, got)
	check(t, err)
	if string(got) != "after" {
		t.Fatalf("client read %q", got)
	}
}

func TestResetPeerResetsBothSides(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	p := e.newTCPPair()
	// Rolled out: no reset, and SO_LINGER is left alone.
	must[relay.Fault](t)(e.rm.AddFault(me, relay.Target{Relay: p.relay.ID}, relay.Fault{Name: "never", Probability: ptr(0.0), Params: relay.ResetPeerParams{}}))
	time.Sleep(50 * time.Millisecond)
	if v := must[int](t)(p.a.GetOption("SO_LINGER")); v != -1 {
		t.Fatalf("SO_LINGER = %d on a connection the fault does not apply to", v)
	}
	start := time.Now()
	must[relay.Fault](t)(e.rm.AddFault(me, relay.Target{Relay: p.relay.ID}, relay.Fault{Params: relay.ResetPeerParams{Timeout: 200 * time.Millisecond}}))
	for _, c := range []*net.TCPConn{p.client, p.server} {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := c.Read(make([]byte, 1))
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("read: %v, want ECONNRESET", err)
		}
	}
	if el := time.Since(start); el < 180*time.Millisecond || el > 200*time.Millisecond+late {
		t.Errorf("reset after %v, want 200ms", el)
	}
	e.relayGone(p.relay.ID)
}

func TestLimitDataClosesAfterExactlyN(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	for _, n := range []int64{1, 1000, 100_000} {
		p := e.newTCPPair(relay.Fault{Params: relay.LimitDataParams{Bytes: n}})
		msg := make([]byte, 3*n+7)
		newStream(uint64(n)).fill(msg)
		go func() { _, _ = p.server.Write(msg) }()
		got, err := readAll(p.client, 5*time.Second)
		if err != nil {
			t.Fatalf("limit %d: %v", n, err)
		}
		if !bytes.Equal(got, msg[:n]) {
			t.Fatalf("limit %d: got %d bytes", n, len(got))
		}
		e.relayGone(p.relay.ID)
	}
}

func TestSlowCloseDelaysTheEOF(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	p := e.newTCPPair(relay.Fault{Params: relay.SlowCloseParams{Delay: 300 * time.Millisecond}})
	_, err := p.server.Write([]byte("bye"))
	check(t, err)
	check(t, p.server.CloseWrite())
	got := make([]byte, 3)
	_ = p.client.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadFull(p.client, got)
	check(t, err)
	start := time.Now()
	n, err := p.client.Read(got)
	if n != 0 || err != io.EOF {
		t.Fatalf("read %d, %v; want EOF", n, err)
	}
	if el := time.Since(start); el < 250*time.Millisecond || el > 300*time.Millisecond+late {
		t.Errorf("EOF after %v, want 300ms", el)
	}
}

func TestBlackholeBlocksTheSenderAndLosesNothing(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	p := e.newTCPPair(relay.Fault{Direction: relay.Upstream, Type: relay.FaultBlackhole})
	// Write until the kernel's buffers are full and the write blocks.
	sent := &bytes.Buffer{}
	chunk := make([]byte, 64<<10)
	s := newStream(9)
	for i := 0; i < 4096; i++ {
		s.fill(chunk)
		_ = p.client.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := p.client.Write(chunk)
		sent.Write(chunk[:n])
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		check(t, err)
	}
	if sent.Len() == 0 || sent.Len() >= 4096*len(chunk) {
		t.Fatalf("the sender wrote %d bytes: it should block once the buffers are full", sent.Len())
	}
	_ = p.server.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, _ := p.server.Read(chunk); n != 0 {
		t.Fatalf("the server read %d bytes through a blackhole", n)
	}
	t.Logf("the sender blocked after %d KiB", sent.Len()>>10)
	must[relay.Fault](t)(e.rm.RemoveFault(me, relay.Target{Relay: p.relay.ID}, "blackhole_upstream"))
	check(t, p.client.CloseWrite())
	got, err := readAll(p.server, 10*time.Second)
	check(t, err)
	if !bytes.Equal(got, sent.Bytes()) {
		t.Fatalf("after the blackhole the server read %d bytes of %d", len(got), sent.Len())
	}
}
