package sockmgr_test

import (
	"context"
	"io"
	"net"
	"runtime"
	"testing"

	"github.com/sockd/sockd/sockmgr"
)

// BenchmarkSendRecv moves one message from a client to a server socket on
// loopback per iteration: sendall of size bytes, then receives until all of
// them are in. impl=net is the baseline (net.TCPConn, the same buffers); run
// both in one go and compare with benchstat -col /impl (see `make bench`).
func BenchmarkSendRecv(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"64B", 64}, {"4KiB", 4 << 10}, {"64KiB", 64 << 10}} {
		b.Run("size="+size.name+"/impl=net", func(b *testing.B) { benchNet(b, size.n) })
		b.Run("size="+size.name+"/impl=sockmgr", func(b *testing.B) { benchSockmgr(b, size.n) })
	}
}

func benchNet(b *testing.B, size int) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp4", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	msg, buf := make([]byte, size), make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(s, buf); err != nil {
			b.Fatal(err)
		}
	}
}

func benchSockmgr(b *testing.B, size int) {
	m := sockmgr.New(sockmgr.Config{})
	defer m.Close()
	ctx := context.Background()
	l, _ := m.Create(owner, sockmgr.CreateOptions{})
	if err := l.Bind(ctx, "127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	if err := l.Listen(1); err != nil {
		b.Fatal(err)
	}
	c, _ := m.Create(owner, sockmgr.CreateOptions{})
	if err := c.Connect(ctx, l.Info().LocalAddr.String(), nil); err != nil {
		b.Fatal(err)
	}
	s, err := l.Accept(ctx, sockmgr.AcceptOptions{})
	if err != nil {
		b.Fatal(err)
	}
	msg, buf := make([]byte, size), make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Send(ctx, msg, sockmgr.SendOptions{All: true}); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Recv(ctx, sockmgr.RecvOptions{MaxBytes: size, WaitAll: true, Buf: buf}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIdleSocketHeap holds idle connected pairs (a dialled socket and
// the accepted one) and reports the live heap each socket costs
// (heap-B/socket, after a collection), against net's TCPConn as the
// baseline. It measures the library alone; the bench tool's idle case
// measures the whole sockd process.
func BenchmarkIdleSocketHeap(b *testing.B) {
	const pairs = 500
	b.Run("impl=net", func(b *testing.B) {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		for b.Loop() {
			conns := make([]net.Conn, 0, 2*pairs)
			perSocket := liveHeapPer(2*pairs, func() {
				for range pairs {
					c, err := net.Dial("tcp4", l.Addr().String())
					if err != nil {
						b.Fatal(err)
					}
					a, err := l.Accept()
					if err != nil {
						b.Fatal(err)
					}
					conns = append(conns, c, a)
				}
			})
			b.ReportMetric(perSocket, "heap-B/socket")
			for _, c := range conns {
				c.Close()
			}
		}
	})
	b.Run("impl=sockmgr", func(b *testing.B) {
		ctx := context.Background()
		for b.Loop() {
			m := sockmgr.New(sockmgr.Config{})
			l, _ := m.Create(owner, sockmgr.CreateOptions{})
			if err := l.Bind(ctx, "127.0.0.1:0"); err != nil {
				b.Fatal(err)
			}
			if err := l.Listen(pairs); err != nil {
				b.Fatal(err)
			}
			addr := l.Info().LocalAddr.String()
			perSocket := liveHeapPer(2*pairs, func() {
				for range pairs {
					c, err := m.Create(owner, sockmgr.CreateOptions{})
					if err != nil {
						b.Fatal(err)
					}
					if err := c.Connect(ctx, addr, nil); err != nil {
						b.Fatal(err)
					}
					if _, err := l.Accept(ctx, sockmgr.AcceptOptions{}); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(perSocket, "heap-B/socket")
			m.Close()
		}
	})
}

// liveHeapPer runs open and returns the live heap it added, per socket.
// (Memory outside the heap, such as the poller's per-descriptor records, is
// reused across iterations and so cannot be read this way: the bench tool's
// idle case measures the process's resident memory.)
func liveHeapPer(n int, open func()) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	open()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}
