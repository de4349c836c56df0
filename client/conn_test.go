package client

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"
)

// A writer cut short by its deadline, then an echo of everything it wrote:
// nettest's FutureTimeout, which needs acknowledgements and written reports
// to get past a full window in both directions.
func TestConnWriteUntilDeadlineThenEcho(t *testing.T) {
	d := startDaemon(t, daemonConfig{})
	c := dial(t, d.addr)
	c1, c2 := connPair(t, c)
	c1.SetDeadline(time.Now().Add(100 * time.Millisecond))
	var wrote int
	for {
		n, err := c1.Write(make([]byte, 1024))
		wrote += n
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal(err)
			}
			break
		}
	}
	c1.SetDeadline(time.Time{})
	go io.CopyBuffer(struct{ io.Writer }{c2}, struct{ io.Reader }{c2}, make([]byte, 1024))
	if _, err := c1.Write([]byte{0xff}); err != nil {
		t.Fatal(err)
	}
	got := 0
	buf := make([]byte, 1024)
	for {
		c1.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := c1.Read(buf)
		if err != nil {
			t.Fatalf("read after %d of %d bytes: %v", got, wrote+1, err)
		}
		got += n
		if n > 0 && bytes.IndexByte(buf[:n], 0xff) == n-1 && got == wrote+1 {
			return
		}
	}
}

// A peer that answers before it reads (it writes all it has, then reads
// what it was sent) while the client's request fills the buffers on the way
// to it: the client's
// acknowledgements of the answer must get past its own unwritten bytes, or
// sockd stops reading the answer (the client has not acknowledged it) and
// the peer never reads.
func TestConnPeerAnswersBeforeReading(t *testing.T) {
	const answer, request = 24 << 20, 96 << 20
	d := startDaemon(t, daemonConfig{})
	c := dial(t, d.addr)
	peer, addr := listenOnce(t)
	ctx := ctxT(t)
	conn, err := c.DialTCP(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	p := <-peer
	defer p.Close()
	peerDone := make(chan error, 1)
	go func() {
		// Answer once the request has filled the kernel's buffers on the
		// way to this peer (then sockd has unwritten bytes of it queued).
		time.Sleep(500 * time.Millisecond)
		if _, err := p.Write(make([]byte, answer)); err != nil {
			peerDone <- err
			return
		}
		n, err := io.Copy(io.Discard, p)
		if err == nil && n != request {
			err = fmt.Errorf("peer read %d bytes, want %d", n, request)
		}
		peerDone <- err
	}()
	wrote := make(chan error, 1)
	go func() {
		_, err := conn.Write(make([]byte, request))
		if err == nil {
			err = conn.CloseWrite()
		}
		wrote <- err
	}()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, err := io.Copy(io.Discard, io.LimitReader(conn, answer)); err != nil || n != answer {
		t.Fatalf("read %d of the answer's %d bytes: %v", n, answer, err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if err := <-peerDone; err != nil {
		t.Fatal(err)
	}
}

// A peer that writes everything before it reads anything, while the Conn
// writes as much to it: sockd's writes to the peer wait, sockd stops
// reading the peer until the client acknowledges what it delivered, and
// those acknowledgements come on the stream behind the client's data. The
// client keeps less in flight than sockd reads ahead (ServerInfo), so the
// acknowledgements always get through and both directions finish.
func TestConnBothWaysWithAPeerThatWritesBeforeItReads(t *testing.T) {
	const n = 24 << 20
	d := startDaemon(t, daemonConfig{})
	c := dial(t, d.addr)
	ctx := ctxT(t)
	ch, addr := listenOnce(t)
	conn, err := c.DialTCP(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	p := <-ch
	defer p.Close()
	toPeer, fromPeer := randomBytes(n, 21), randomBytes(n, 22)
	peerGot := make(chan []byte, 1)
	go func() {
		if _, err := p.Write(fromPeer); err != nil { // nothing read until all is written
			peerGot <- nil
			return
		}
		b := make([]byte, n)
		_, err := io.ReadFull(p, b)
		if err != nil {
			b = nil
		}
		peerGot <- b
	}()
	sent := make(chan error, 1)
	go func() {
		_, err := conn.Write(toPeer)
		sent <- err
	}()
	conn.SetDeadline(time.Now().Add(time.Minute)) // bounded: a deadlock fails here
	got := make([]byte, n)
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("reading the peer's %d bytes: %v", n, err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("writing %d bytes: %v", n, err)
	}
	if !bytes.Equal(got, fromPeer) {
		t.Fatal("the peer's bytes differ")
	}
	if b := <-peerGot; !bytes.Equal(b, toPeer) {
		t.Fatal("the peer did not get the Conn's bytes intact")
	}
}
