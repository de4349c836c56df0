package client

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/service"
	"github.com/sockd/sockd/sockmgr"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// daemon is sockd's service with its real interceptors and a real sockmgr
// underneath, served in-process on a loopback port.
type daemon struct {
	addr string
	mgr  *sockmgr.Manager
	srv  *grpc.Server
}

type daemonConfig struct {
	maxCallBytes int
	retainBytes  int
	// wrap, if set, serves this instead of the service (to lose answers).
	wrap func(sockdv1.SocketServiceServer) sockdv1.SocketServiceServer
}

func startDaemon(t testing.TB, cfg daemonConfig) *daemon {
	t.Helper()
	mgr := sockmgr.New(sockmgr.Config{RetainBytes: cfg.retainBytes})
	maxCall := cfg.maxCallBytes
	if maxCall == 0 {
		maxCall = service.DefaultMaxBytesPerCall
	}
	msgLimit := 2*maxCall + 64<<10
	svc := service.New(mgr, service.Config{MaxBytesPerCall: maxCall, Info: service.ServerInfo{Version: "test", MaxMessageBytes: msgLimit}})
	done := make(chan struct{})
	unary, stream := service.Interceptors(service.InterceptorConfig{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), StreamsDone: done})
	srv := grpc.NewServer(append(service.ServerOptions(),
		grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(stream...), grpc.MaxRecvMsgSize(msgLimit),
		grpc.InitialWindowSize(16<<20), grpc.InitialConnWindowSize(16<<20))...)
	var impl sockdv1.SocketServiceServer = svc
	if cfg.wrap != nil {
		impl = cfg.wrap(svc)
	}
	sockdv1.RegisterSocketServiceServer(srv, impl)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		close(done)
		srv.Stop()
		mgr.Close()
	})
	return &daemon{addr: l.Addr().String(), mgr: mgr, srv: srv}
}

// dial connects a client to addr; it is closed with the test.
func dial(t *testing.T, addr string) *Client {
	t.Helper()
	c, err := Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// cutter is a TCP relay between the client and sockd whose connections a
// test can cut (with a reset), as a network failure would.
type cutter struct {
	l     net.Listener
	to    string
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newCutter(t *testing.T, to string) *cutter {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{l: l, to: to}
	c.wg.Go(c.serve)
	t.Cleanup(func() {
		l.Close()
		c.cut()
		c.wg.Wait()
	})
	return c
}

func (c *cutter) addr() string { return c.l.Addr().String() }

func (c *cutter) serve() {
	for {
		in, err := c.l.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp4", c.to)
		if err != nil {
			in.Close()
			continue
		}
		c.mu.Lock()
		c.conns = append(c.conns, in, out)
		c.mu.Unlock()
		for _, pair := range [][2]net.Conn{{in, out}, {out, in}} {
			c.wg.Go(func() {
				io.Copy(pair[0], pair[1])
				pair[0].Close()
				pair[1].Close()
			})
		}
	}
}

// cut resets every connection through the relay.
func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	}
	c.conns = nil
}

// connPair is a connected pair of remote sockets as Conns: one dialled, one
// accepted.
func connPair(t *testing.T, c *Client) (*Conn, *Conn) {
	t.Helper()
	ctx := ctxT(t)
	l, err := c.ListenTCP(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- conn
	}()
	c1, err := c.DialTCP(ctx, l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := (<-accepted).(*Conn)
	if c2 == nil {
		t.FailNow()
	}
	t.Cleanup(func() { c1.Close(); c2.Close() })
	return c1, c2
}

// listenOnce is a local peer: it accepts one connection.
func listenOnce(t testing.TB) (<-chan net.Conn, string) {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan net.Conn, 1)
	go func() {
		defer l.Close()
		c, err := l.Accept()
		if err != nil {
			close(ch)
			return
		}
		ch <- c
	}()
	t.Cleanup(func() { l.Close() })
	return ch, l.Addr().String()
}
