package main

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// The cap holds at max connections; a connection closed (as gRPC closes
// it) frees its place for the next one; and what gRPC is handed is the bare
// *net.TCPConn, which grpc-go reads with its non-blocking pooled reader
// (a wrapper would put every byte through bufio).
func TestConnLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newConnLimitListener(inner, 2, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer l.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp4", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	take := func() net.Conn {
		t.Helper()
		select {
		case c := <-accepted:
			return c
		case <-time.After(10 * time.Second):
			t.Fatal("no connection accepted")
			return nil
		}
	}
	dial()
	first := take()
	if _, ok := first.(*net.TCPConn); !ok {
		t.Fatalf("the listener hands gRPC a %T, want *net.TCPConn", first)
	}
	dial()
	take()

	// A third is over the cap: closed at once, so its client reads EOF.
	third := dial()
	third.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := third.Read(make([]byte, 1)); err == nil {
		t.Fatalf("a connection over the cap was served (%d bytes)", n)
	}
	select {
	case c := <-accepted:
		t.Fatalf("a connection over the cap was handed on: %v", c.RemoteAddr())
	default:
	}

	// Once one of the two is closed, the next is let in.
	first.Close()
	dial()
	take().Close()
}
