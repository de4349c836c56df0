package sockmgr_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/sockd/sockd/sockmgr"
)

// The Python socket tutorial's flows, each side once played by a peer that
// sockmgr did not create.

const pyEchoServer = `
import socket
with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind(("127.0.0.1", 0))
    s.listen()
    print(s.getsockname()[1])
    conn, addr = s.accept()
    with conn:
        while True:
            data = conn.recv(1024)
            if not data:
                break
            conn.sendall(data)
print("done")
`

func TestTutorialTCPClientAgainstPythonServer(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	ctx := ctxT(t)
	py := startPython(t, pyEchoServer)
	port := py.line(t)

	c := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
	check(t, c.Connect(ctx, "127.0.0.1:"+port, nil))
	if got := c.Info(); got.State != sockmgr.StateConnected || got.RemoteAddr.String() != "127.0.0.1:"+port {
		t.Fatalf("after connect: state %s remote %s", got.State, got.RemoteAddr)
	}
	n := must[int](t)(c.Send(ctx, []byte("Hello, world"), sockmgr.SendOptions{All: true}))
	if n != 12 {
		t.Fatalf("sendall sent %d bytes, want 12", n)
	}
	if got := recvText(t, c, 12); got != "Hello, world" {
		t.Fatalf("echo = %q", got)
	}
	// shutdown(write): Python's recv sees EOF, closes, and we see EOF too.
	check(t, c.Shutdown(sockmgr.ShutWrite))
	r := must[sockmgr.RecvResult](t)(c.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 1024}))
	if !r.EOF || len(r.Data) != 0 {
		t.Fatalf("after the peer closed: %+v, want EOF", r)
	}
	if py.line(t) != "done" {
		t.Fatal("python server did not finish")
	}
	py.wait(t)
	info := c.Info()
	if info.Counters.BytesSent != 12 || info.Counters.BytesReceived != 12 {
		t.Fatalf("counters %+v, want 12 bytes each way", info.Counters)
	}
	check(t, c.Close())
}

const pyEchoClient = `
import socket, sys, hashlib, os
payload = b"Hello, world" + os.urandom(1 << 20)
with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.connect(("127.0.0.1", int(sys.argv[1])))
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        data = s.recv(65536)
        if not data:
            break
        got += data
print("equal" if got == payload else "differ %d %d" % (len(got), len(payload)))
`

func TestTutorialTCPServerWithPythonClient(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	ctx := ctxT(t)
	l := listener(t, m, sockmgr.IPv4)
	py := startPython(t, pyEchoClient, strconv.Itoa(int(l.Info().LocalAddr.Port())))

	conn := must[*sockmgr.Socket](t)(l.Accept(ctx, sockmgr.AcceptOptions{Timeout: dur(10 * time.Second)}))
	if conn.Info().ParentID != l.ID() || conn.Info().State != sockmgr.StateConnected {
		t.Fatalf("accepted socket: %+v", conn.Info())
	}
	total := 0
	for {
		r := must[sockmgr.RecvResult](t)(conn.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 65536, Timeout: dur(10 * time.Second)}))
		if r.EOF {
			break
		}
		total += len(r.Data)
		must[int](t)(conn.Send(ctx, r.Data, sockmgr.SendOptions{All: true}))
	}
	check(t, conn.Close())
	if got := py.line(t); got != "equal" {
		t.Fatalf("python client: %s", got)
	}
	py.wait(t)
	if want := 12 + 1<<20; total != want {
		t.Fatalf("echoed %d bytes, want %d", total, want)
	}
	if l.Info().Counters.Accepted != 1 {
		t.Fatalf("listener accepted count %d, want 1", l.Info().Counters.Accepted)
	}
}

const pyUDPEchoServer = `
import socket
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    for _ in range(3):
        data, addr = s.recvfrom(65536)
        s.sendto(data.upper(), addr)
print("done")
`

func TestTutorialUDPClientAgainstPythonServer(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	ctx := ctxT(t)
	py := startPython(t, pyUDPEchoServer)
	server := "127.0.0.1:" + py.line(t)

	c := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{Protocol: sockmgr.UDP}))
	// sendto on an unbound socket binds it implicitly, as the kernel does.
	for _, msg := range []string{"one", "two", "three"} {
		must[int](t)(c.SendTo(ctx, []byte(msg), server, sockmgr.SendOptions{}))
	}
	if info := c.Info(); info.State != sockmgr.StateBound || info.LocalAddr.Port() == 0 {
		t.Fatalf("after sendto: state %s local %s, want BOUND with a port", info.State, info.LocalAddr)
	}
	// Datagram boundaries are kept: three sends, three datagrams.
	for _, want := range []string{"ONE", "TWO", "THREE"} {
		r := must[sockmgr.RecvResult](t)(c.RecvFrom(ctx, sockmgr.RecvOptions{MaxBytes: 100, Timeout: dur(10 * time.Second)}))
		if string(r.Data) != want || r.From.String() != server || r.Truncated {
			t.Fatalf("recvfrom = %q from %s truncated=%v, want %q from %s", r.Data, r.From, r.Truncated, want, server)
		}
	}
	py.line(t)
	py.wait(t)
	if c := c.Info().Counters; c.DatagramsSent != 3 || c.DatagramsReceived != 3 || c.BytesSent != 11 {
		t.Fatalf("counters %+v", c)
	}
}

const pyUDPClient = `
import socket, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(10)
    s.sendto(b"x" * 100, ("127.0.0.1", int(sys.argv[1])))
    s.sendto(b"hello", ("127.0.0.1", int(sys.argv[1])))
    data, addr = s.recvfrom(1024)
    print(data.decode(), addr[1] == int(sys.argv[1]))
`

func TestTutorialUDPServerWithPythonClient(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	ctx := ctxT(t)
	s := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{Protocol: sockmgr.UDP}))
	check(t, s.Bind(ctx, "127.0.0.1:0"))
	py := startPython(t, pyUDPClient, strconv.Itoa(int(s.Info().LocalAddr.Port())))

	// A small max_bytes truncates the datagram and says so; the rest is gone.
	r := must[sockmgr.RecvResult](t)(s.RecvFrom(ctx, sockmgr.RecvOptions{MaxBytes: 10, Timeout: dur(10 * time.Second)}))
	if len(r.Data) != 10 || !r.Truncated {
		t.Fatalf("first datagram: %d bytes truncated=%v, want 10 bytes truncated", len(r.Data), r.Truncated)
	}
	// Recv (not RecvFrom) works on an unconnected bound UDP socket too.
	r2 := must[sockmgr.RecvResult](t)(s.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 1024, Timeout: dur(10 * time.Second)}))
	if string(r2.Data) != "hello" || r2.Truncated {
		t.Fatalf("second datagram %q truncated=%v", r2.Data, r2.Truncated)
	}
	must[int](t)(s.SendTo(ctx, []byte("HELLO"), r2.From.String(), sockmgr.SendOptions{}))
	if got := py.line(t); got != "HELLO True" {
		t.Fatalf("python client got %q", got)
	}
	py.wait(t)
}

// A Go net peer, and IPv6 loopback, and connected UDP.
func TestIPv6LoopbackAndGoPeer(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	ctx := ctxT(t)
	l := listener(t, m, sockmgr.IPv6)
	if !l.Info().LocalAddr.Addr().Is6() {
		t.Fatalf("IPv6 listener bound to %s", l.Info().LocalAddr)
	}
	peer, err := net.Dial("tcp6", l.Info().LocalAddr.String())
	check(t, err)
	t.Cleanup(func() { peer.Close() })
	conn := must[*sockmgr.Socket](t)(l.Accept(ctx, sockmgr.AcceptOptions{}))
	payload := make([]byte, 200_000)
	rand.Read(payload)
	go func() {
		peer.Write(payload)
		peer.(*net.TCPConn).CloseWrite()
	}()
	var got bytes.Buffer
	for {
		r := must[sockmgr.RecvResult](t)(conn.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 4096}))
		if r.EOF {
			break
		}
		got.Write(r.Data)
	}
	if sha(got.Bytes()) != sha(payload) {
		t.Fatalf("received %d bytes that differ from the %d sent", got.Len(), len(payload))
	}

	// Connected UDP over IPv6 against a Go peer: send/recv without addresses.
	pc, err := net.ListenPacket("udp6", "[::1]:0")
	check(t, err)
	t.Cleanup(func() { pc.Close() })
	u := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{Protocol: sockmgr.UDP, Family: sockmgr.IPv6}))
	check(t, u.Connect(ctx, pc.LocalAddr().String(), nil))
	must[int](t)(u.Send(ctx, []byte("ping6"), sockmgr.SendOptions{}))
	buf := make([]byte, 100)
	n, from, err := pc.ReadFrom(buf)
	check(t, err)
	if string(buf[:n]) != "ping6" || from.String() != u.Info().LocalAddr.String() {
		t.Fatalf("go peer got %q from %s, want ping6 from %s", buf[:n], from, u.Info().LocalAddr)
	}
	_, err = pc.WriteTo([]byte("pong6"), from)
	check(t, err)
	r := must[sockmgr.RecvResult](t)(u.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 100}))
	if string(r.Data) != "pong6" {
		t.Fatalf("connected UDP recv %q", r.Data)
	}
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
