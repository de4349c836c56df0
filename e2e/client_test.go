package e2e

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/sockd/sockd/client"
)

func dialClient(t *testing.T, d *daemon) *client.Client {
	t.Helper()
	c, err := client.Dial(d.GRPC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// The standard conformance suite for net.Conn, with both ends of the pipe
// remote sockets in a real sockd: a listener there, a socket there that
// connects to it, and the accepted one.
func TestClientConnPassesNettest(t *testing.T) {
	d := startSockd(t)
	c := dialClient(t, d)
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		l, err := c.ListenTCP(ctx, "127.0.0.1:0")
		if err != nil {
			return nil, nil, nil, err
		}
		defer l.Close()
		accepted := make(chan net.Conn, 1)
		acceptErr := make(chan error, 1)
		go func() {
			conn, err := l.Accept()
			accepted <- conn
			acceptErr <- err
		}()
		c1, err = c.DialTCP(ctx, l.Addr().String())
		if err != nil {
			return nil, nil, nil, err
		}
		c2, err = <-accepted, <-acceptErr
		if err != nil {
			c1.Close()
			return nil, nil, nil, err
		}
		return c1, c2, func() { c2.Close(); c1.Close() }, nil
	})
}

// Errors map back to Go: errno, timeouts and sentinels.
func TestClientErrorsMapToGo(t *testing.T) {
	d := startSockd(t)
	c := dialClient(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	free, _ := net.Listen("tcp4", "127.0.0.1:0")
	closed := free.Addr().String()
	free.Close()
	_, err := c.DialTCP(ctx, closed)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial to a closed port: %v, want ECONNREFUSED", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || ne.Timeout() {
		t.Fatalf("%v: want a net.Error that is not a timeout", err)
	}
	if _, err := c.Get(ctx, "nosuchsocket"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	l, err := c.ListenTCP(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sock, err := c.Create(ctx, client.CreateOptions{Connect: l.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	timeout := 50 * time.Millisecond
	_, _, err = c.Recv(ctx, sock.GetId(), client.RecvOptions{MaxBytes: 10, Timeout: &timeout})
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("recv timeout: %v, want a net.Error timeout", err)
	}
	if _, err := c.Bind(ctx, sock.GetId(), "127.0.0.1:0"); !errors.Is(err, client.ErrWrongState) && !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("bind a connected socket: %v", err)
	}
	_, err = c.Create(ctx, client.CreateOptions{Bind: l.Addr().String()})
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("bind conflict: %v", err)
	}
}

// A listener whose Accept is blocked is woken by Close; accepted
// connections outlive it; a PacketConn keeps datagram boundaries.
func TestClientListenerAndPacketConn(t *testing.T) {
	d := startSockd(t)
	c := dialClient(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := c.ListenTCP(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.Dial("tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	conn, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	blocked := make(chan error, 1)
	go func() { _, err := l.Accept(); blocked <- err }()
	l.Close()
	select {
	case err := <-blocked:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("accept after close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake Accept")
	}
	peer.Write([]byte("still connected"))
	buf := make([]byte, 15)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "still connected" {
		t.Fatalf("accepted conn after listener close: %q %v", buf, err)
	}
	conn.Close()
	if _, err := peer.Read(buf); err != io.EOF {
		t.Fatalf("peer after Close: %v, want EOF", err)
	}

	pc, err := c.ListenUDP(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	local, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	for _, msg := range []string{"one", "two", "three"} {
		if _, err := pc.WriteTo([]byte(msg), local.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	local.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, want := range []string{"one", "two", "three"} {
		n, from, err := local.ReadFrom(buf)
		if err != nil || string(buf[:n]) != want || from.String() != pc.LocalAddr().String() {
			t.Fatalf("local got %q from %v (%v), want %q from %v", buf[:n], from, err, want, pc.LocalAddr())
		}
		local.WriteTo([]byte("re:"+want), from)
	}
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, want := range []string{"re:one", "re:two", "re:three"} {
		n, from, err := pc.ReadFrom(buf)
		if err != nil || string(buf[:n]) != want || from.String() != local.LocalAddr().String() {
			t.Fatalf("remote got %q from %v (%v), want %q", buf[:n], from, err, want)
		}
	}
	pc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, _, err := pc.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past deadline: %v", err)
	}
}
