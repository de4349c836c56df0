package client

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"testing"
	"time"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// A Conn whose connection to sockd is cut (reset) again and again while
// bytes flow both ways resumes each time where it stood: both sides get
// every byte once.
func TestConnResumesAfterTheConnectionIsCut(t *testing.T) {
	const n = 24 << 20
	d := startDaemon(t, daemonConfig{})
	cut := newCutter(t, d.addr)
	c := dial(t, cut.addr())
	ctx := ctxT(t)
	peer := newStreamPeer(t, n, 21)
	conn, err := c.DialTCP(ctx, peer.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	out := randomBytes(n, 22)
	wrote := make(chan error, 1)
	go func() {
		_, err := conn.Write(out)
		if err == nil {
			err = conn.CloseWrite()
		}
		wrote <- err
	}()
	// A cut every 2 MiB read (not on a timer: an unraced run moves 24 MiB
	// before any timer fires), at an offset that varies, twelve in all.
	rng := rand.New(rand.NewPCG(25, 26))
	conn.SetReadDeadline(time.Now().Add(45 * time.Second))
	var got []byte
	buf := make([]byte, 64<<10)
	k, next := 0, 1<<20+rng.IntN(1<<20)
	for {
		var m int
		m, err = conn.Read(buf)
		got = append(got, buf[:m]...)
		if err != nil {
			break
		}
		if k < 12 && len(got) >= next {
			cut.cut()
			k++
			next += 1<<20 + rng.IntN(2<<20)
		}
	}
	if err == io.EOF {
		err = nil
	}
	if err != nil {
		t.Fatalf("read %d bytes, then %v (after %d cuts)", len(got), err, k)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(peer.sent) {
		t.Fatalf("received %d bytes, want the peer's %d", len(got), len(peer.sent))
	}
	if back := <-peer.received; sha256.Sum256(back) != sha256.Sum256(out) {
		at := firstDiff(back, out)
		t.Fatalf("the peer received %d bytes, want %d; they differ from offset %d (%s)", len(back), len(out), at, whereFrom(back[at:], out))
	}
	if k == 0 {
		t.Fatal("the connection was never cut")
	}
	t.Logf("%d cuts", k)
}

// A peer that half-closes at once and goes on reading (ncat -l < /dev/null):
// the Conn reads EOF, and what it writes after still reaches the peer.
func TestConnWritesOnAfterThePeerHalfCloses(t *testing.T) {
	const n = 5 << 20
	d := startDaemon(t, daemonConfig{})
	c := dial(t, d.addr)
	ch, addr := listenOnce(t)
	conn, err := c.DialTCP(ctxT(t), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	p := <-ch
	defer p.Close()
	p.(*net.TCPConn).CloseWrite()
	got := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(p); got <- b }()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(conn); err != nil || len(b) != 0 {
		t.Fatalf("read %d bytes, %v; want EOF", len(b), err)
	}
	out := randomBytes(n, 23)
	if _, err := conn.Write(out); err != nil {
		t.Fatal(err)
	}
	if err := conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := conn.Detach(); err != nil {
		t.Fatal(err)
	}
	if b := <-got; sha256.Sum256(b) != sha256.Sum256(out) {
		t.Fatalf("the peer received %d of %d bytes", len(b), n)
	}
	// Detach left the socket open (shut down both ways now).
	s, err := c.Get(ctxT(t), conn.Socket().GetId())
	if err != nil || s.GetBytesSent() != n || !s.GetWriteShutdown() {
		t.Fatalf("after detach: %v, %v", s, err)
	}
}

// A peer that resets: reads and writes fail with ECONNRESET.
func TestConnPeerReset(t *testing.T) {
	d := startDaemon(t, daemonConfig{})
	c := dial(t, d.addr)
	ch, addr := listenOnce(t)
	conn, err := c.DialTCP(ctxT(t), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	p := <-ch
	p.(*net.TCPConn).SetLinger(0)
	p.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(conn); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after the peer's reset: %v", err)
	}
	if _, err := conn.Write([]byte("x")); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("write after the peer's reset: %v", err)
	}
}

// Another process resumes where one that died left off: the bytes the dead
// one had not taken are delivered again from sockd's retention.
func TestConnFromRecvOffset(t *testing.T) {
	d := startDaemon(t, daemonConfig{})
	c := dial(t, d.addr)
	ctx := ctxT(t)
	peer := newStreamPeer(t, 1<<20, 24)
	conn, err := c.DialTCP(ctx, peer.addr)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 1000)
	if _, err := io.ReadFull(conn, first); err != nil {
		t.Fatal(err)
	}
	// This process "dies" here: its stream goes, unacknowledged.
	id := conn.Socket().GetId()
	conn.s.abort()
	<-conn.s.done
	other := dial(t, d.addr)
	again, err := other.Conn(ctx, id, FromRecvOffset(1000))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	again.SetReadDeadline(time.Now().Add(10 * time.Second))
	rest, err := io.ReadAll(again)
	if err != nil {
		t.Fatal(err)
	}
	if got := append(first, rest...); sha256.Sum256(got) != sha256.Sum256(peer.sent) {
		t.Fatalf("got %d bytes in two attachments, want %d", len(got), len(peer.sent))
	}
	if r, _ := again.Offsets(); r != int64(len(peer.sent)) {
		t.Fatalf("Offsets received = %d", r)
	}
}

// A PacketConn whose connection is cut is opened again and carries on.
func TestPacketConnResumes(t *testing.T) {
	d := startDaemon(t, daemonConfig{})
	cut := newCutter(t, d.addr)
	c := dial(t, cut.addr())
	ctx := ctxT(t)
	pc, err := c.ListenUDP(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	local, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	roundTrip := func(msg string) {
		t.Helper()
		if _, err := local.WriteTo([]byte(msg), pc.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		pc.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 100)
		n, from, err := pc.ReadFrom(buf)
		if err != nil || string(buf[:n]) != msg {
			t.Fatalf("ReadFrom: %q, %v", buf[:n], err)
		}
		if _, err := pc.WriteTo([]byte("re:"+msg), from); err != nil {
			t.Fatal(err)
		}
		local.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err = local.Read(buf)
		if err != nil || string(buf[:n]) != "re:"+msg {
			t.Fatalf("the peer read %q, %v", buf[:n], err)
		}
	}
	roundTrip("one")
	cut.cut()
	// Datagrams sent while the stream is down may be lost (as UDP allows):
	// try a few times.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := c.Get(ctx, pc.Socket().GetId()); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no way back to sockd")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the stream is opened again meanwhile
	roundTrip("two")
	if pc.Socket().GetProtocol() != sockdv1.Protocol_PROTOCOL_UDP {
		t.Fatal("not UDP")
	}
}

// firstDiff is the first offset where a and b differ.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// whereFrom says where in want the bytes at the start of got come from.
func whereFrom(got, want []byte) string {
	probe := got[:min(len(got), 64)]
	if i := bytes.Index(want, probe); i >= 0 {
		return fmt.Sprintf("they are want's bytes from %d", i)
	}
	return "they are nowhere in want"
}
