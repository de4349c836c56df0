package relay_test

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockd/sockd/relay"
	"github.com/sockd/sockd/sockmgr"
)

// The benchmarks measure bytes (or datagrams) per second reaching a sink,
// each case beside its baseline: run them together, e.g.
//
//	go test ./relay -run '^$' -bench . -benchtime 4s -count 5 | benchstat -
//
// TCP: a Go writer makes 64 KiB writes, a Go sink reads them (one op = one
// 64 KiB write, reported in MB/s). UDP: a Go sender sends 512-byte
// datagrams as fast as it can, a Go sink counts what arrives (dgrams/s,
// and the share lost on the way).

const benchWrite = 64 << 10

// benchTCP writes b.N chunks of 64 KiB into client and waits until server
// has read them all.
func benchTCP(b *testing.B, client, server net.Conn) {
	buf := make([]byte, benchWrite)
	total := int64(b.N) * benchWrite
	done := make(chan error, 1)
	b.SetBytes(benchWrite)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		rb := make([]byte, 256<<10)
		var got int64
		for got < total {
			n, err := server.Read(rb)
			got += int64(n)
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := 0; i < b.N; i++ {
		if _, err := client.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
}

// goPair is a plain loopback TCP connection.
func goPair(b *testing.B) (client, server *net.TCPConn) {
	l := goListener(b)
	c, err := net.DialTCP("tcp4", nil, l.Addr().(*net.TCPAddr))
	check(b, err)
	s, err := l.AcceptTCP()
	check(b, err)
	b.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// BenchmarkTCPDirect is the baseline: writer and sink on one connection.
func BenchmarkTCPDirect(b *testing.B) {
	c, s := goPair(b)
	benchTCP(b, c, s)
}

// BenchmarkTCPGoCopyRelay is Go's own relay for comparison: io.Copy between
// two *net.TCPConn, which splices.
func BenchmarkTCPGoCopyRelay(b *testing.B) {
	c, in := goPair(b)
	out, s := goPair(b)
	go func() { _, _ = io.Copy(out, in) }()
	benchTCP(b, c, s)
}

// BenchmarkTCPRelay is sockd's relay with no fault (splice).
func BenchmarkTCPRelay(b *testing.B) {
	e := newEnv(b, sockmgr.Config{}, relay.Config{})
	p := e.newTCPPair()
	benchTCP(b, p.client, p.server)
}

// BenchmarkTCPProxy is a TCP proxy with no fault: the relay plus the
// proxy's own sockets.
func BenchmarkTCPProxy(b *testing.B) {
	e := newEnv(b, sockmgr.Config{}, relay.Config{})
	l := goListener(b)
	px := e.newProxy(relay.ProxyOptions{UpstreamAddress: l.Addr().String()})
	c := dial(b, px.ListenAddress)
	s, err := l.Accept()
	check(b, err)
	b.Cleanup(func() { s.Close() })
	benchTCP(b, c, s)
}

// BenchmarkTCPRelayLatency is the user-space path: a 1 ms latency fault
// (throughput is then bounded by LatencyBuffer per latency).
func BenchmarkTCPRelayLatency(b *testing.B) {
	e := newEnv(b, sockmgr.Config{}, relay.Config{})
	p := e.newTCPPair(relay.Fault{Direction: relay.Upstream, Params: relay.LatencyParams{Latency: time.Millisecond}})
	benchTCP(b, p.client, p.server)
}

const benchDgram = 512

// benchUDP sends b.N datagrams and reports how many per second reached the
// sink, and the share lost.
func benchUDP(b *testing.B, send, sink *net.UDPConn) {
	_ = sink.SetReadBuffer(8 << 20)
	var got, lastAt atomic.Int64
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, err := sink.Read(buf); err != nil {
				return
			}
			got.Add(1)
			lastAt.Store(time.Now().UnixNano())
		}
	}()
	payload := make([]byte, benchDgram)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := send.Write(payload); err != nil {
			b.Fatal(err)
		}
	}
	for last := int64(-1); ; {
		time.Sleep(30 * time.Millisecond)
		if g := got.Load(); g == last || g == int64(b.N) {
			break
		} else {
			last = g
		}
	}
	b.StopTimer()
	n := got.Load()
	el := time.Duration(lastAt.Load() - start.UnixNano())
	if n > 0 && el > 0 {
		b.ReportMetric(float64(n)/el.Seconds(), "dgrams/s")
	}
	b.ReportMetric(100*(1-float64(n)/float64(b.N)), "%lost")
	b.SetBytes(benchDgram)
}

func udpSink(b *testing.B) *net.UDPConn {
	s, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	check(b, err)
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkUDPDirect is the baseline: plain Go datagrams.
func BenchmarkUDPDirect(b *testing.B) {
	s := udpSink(b)
	c, err := net.DialUDP("udp4", nil, s.LocalAddr().(*net.UDPAddr))
	check(b, err)
	b.Cleanup(func() { c.Close() })
	benchUDP(b, c, s)
}

// BenchmarkUDPProxy is a UDP proxy with no fault: the shared socket, one
// session, its upstream socket.
func BenchmarkUDPProxy(b *testing.B) {
	e := newEnv(b, sockmgr.Config{}, relay.Config{})
	s := udpSink(b)
	px := e.newProxy(relay.ProxyOptions{Protocol: sockmgr.UDP, UpstreamAddress: s.LocalAddr().String()})
	_, _ = must[*sockmgr.Socket](b)(e.sm.Get(me, px.ListenerID)).SetOption("SO_RCVBUF", 8<<20)
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(addrOf(px.ListenAddress)))
	check(b, err)
	b.Cleanup(func() { c.Close() })
	benchUDP(b, c, s)
}

// BenchmarkUDPRelay is a relay of two connected UDP sockets with no fault.
func BenchmarkUDPRelay(b *testing.B) {
	e := newEnv(b, sockmgr.Config{}, relay.Config{})
	p := e.newUDPPair()
	benchUDP(b, p.client, p.server)
}
