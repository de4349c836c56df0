package capture_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sockd/sockd/capture"
)

// frameRow is a written frame as a pcapng reader sees it.
type frameRow struct {
	iface string
	at    time.Time
	data  string
	notes []string
}

func readFrames(t *testing.T, b []byte) []frameRow {
	t.Helper()
	r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil // nothing written yet
	}
	if err != nil {
		t.Fatal(err)
	}
	var rows []frameRow
	for {
		data, ci, opts, err := r.ReadPacketDataWithOptions()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// The end, or the end so far of a stream still being written.
			return rows
		}
		if err != nil {
			t.Fatal(err)
		}
		intf, err := r.Interface(ci.InterfaceIndex)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, frameRow{intf.Name, ci.Timestamp, string(data), opts.Comments})
	}
}

// TestExportIncremental exports the same rings twice: once at the end, and
// in passes while they record, with a ring added between passes. The
// passes write the same frames as the one-shot export, none twice, none
// missing, in time order across rings.
func TestExportIncremental(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	tick := 0
	at := func() time.Time { tick++; return t0.Add(time.Duration(tick) * time.Millisecond) }
	local, remote := netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:80")
	a := capture.NewRing(capture.Meta{SocketID: "a", Protocol: capture.TCP}, 0, nil)
	b := capture.NewRing(capture.Meta{SocketID: "b", Protocol: capture.UDP, Local: netip.MustParseAddrPort("127.0.0.1:5353")}, 0, nil)
	c := capture.NewRing(capture.Meta{SocketID: "c", Protocol: capture.TCP, Family: capture.IPv6}, 0, nil)
	for _, r := range []*capture.Ring{a, b, c} {
		t.Cleanup(r.Release)
	}

	var passes bytes.Buffer
	e := capture.NewExporter(&passes)
	e.Add(a, b, a) // a twice: exported once
	step := func(f func()) {
		f()
		if err := e.WriteAvailable(); err != nil {
			t.Fatal(err)
		}
	}
	step(func() {
		a.Connected(at(), local, remote)
		b.Received(at(), []byte("query"), netip.MustParseAddrPort("127.0.0.1:6000"))
	})
	step(func() {}) // nothing new: nothing written
	step(func() {
		a.Sent(at(), []byte("GET / HTTP/1.0\r\n\r\n"), netip.AddrPort{})
		b.Sent(at(), []byte("answer"), netip.MustParseAddrPort("127.0.0.1:6000"))
		a.Received(at(), bytes.Repeat([]byte("x"), 100_000), netip.AddrPort{})
		e.Add(c)
		c.Accepted(at(), netip.MustParseAddrPort("[::1]:8080"), netip.MustParseAddrPort("[::1]:50000"))
	})
	step(func() {
		c.Received(at(), []byte("hello"), netip.AddrPort{})
		a.PeerClosed(at())
		c.ResetSent(at())
		a.Closed(at())
	})
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.WriteAvailable(); !errors.Is(err, capture.ErrExporterClosed) {
		t.Errorf("WriteAvailable after Close: %v, want ErrExporterClosed", err)
	}
	var once bytes.Buffer
	if err := capture.WritePcapng(&once, a, b, c); err != nil {
		t.Fatal(err)
	}

	got, want := readFrames(t, passes.Bytes()), readFrames(t, once.Bytes())
	if len(got) != len(want) {
		t.Fatalf("passes wrote %d frames, the one-shot export %d", len(got), len(want))
	}
	for i := range want {
		if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			t.Errorf("frame %d: passes %v, one-shot %v", i+1, got[i], want[i])
		}
		if i > 0 && want[i].at.Before(want[i-1].at) {
			t.Errorf("frame %d at %v, before frame %d at %v", i+1, want[i].at, i, want[i-1].at)
		}
	}
	perIface := map[string]int{}
	for _, f := range want {
		perIface[f.iface]++
	}
	// a: handshake 3, request 1+ack, 100,000 bytes in 2 segments + ack,
	// FIN+ACK from the peer, FIN+ACK from a. b: 2 datagrams. c: handshake
	// 3, data+ack, RST.
	if perIface["a"] != 3+2+3+2+2 || perIface["b"] != 2 || perIface["c"] != 3+2+1 {
		t.Errorf("frames per interface %v", perIface)
	}
}

// TestExportEmpty: an export with no ring, or with rings that hold nothing,
// is still a file that readers open.
func TestExportEmpty(t *testing.T) {
	var none bytes.Buffer
	if err := capture.WritePcapng(&none); err != nil {
		t.Fatal(err)
	}
	if rows := readFrames(t, none.Bytes()); len(rows) != 0 {
		t.Errorf("%d frames from no ring", len(rows))
	}
	r := tcpRing(0, nil)
	r.Closed(time.Time{}) // closed before it ever connected: nothing on the wire
	var idle bytes.Buffer
	if err := capture.WritePcapng(&idle, r); err != nil {
		t.Fatal(err)
	}
	if rows := readFrames(t, idle.Bytes()); len(rows) != 0 {
		t.Errorf("%d frames from a socket that never connected", len(rows))
	}
}

// failingWriter fails after n bytes.
type failingWriter struct{ n int }

func (w *failingWriter) Write(b []byte) (int, error) {
	if len(b) > w.n {
		return w.n, errors.New("disk full")
	}
	w.n -= len(b)
	return len(b), nil
}

func TestExportWriteErrorSticks(t *testing.T) {
	r := tcpRing(0, nil)
	r.Connected(time.Time{}, netip.MustParseAddrPort("127.0.0.1:1"), peer)
	r.Sent(time.Time{}, make([]byte, 100_000), netip.AddrPort{})
	e := capture.NewExporter(&failingWriter{n: 1000})
	e.Add(r)
	err := e.WriteAvailable()
	if err == nil {
		t.Fatal("no error from a failing writer")
	}
	if err2 := e.WriteAvailable(); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("second pass: %v, want the first error again (%v)", err2, err)
	}
	if err := e.Close(); err == nil {
		t.Errorf("Close after a write error: no error")
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte{}, b.buf.Bytes()...)
}

// TestFollowWhileAddingAndReleasing follows rings while other goroutines
// record into them, add new ones (a proxy's new connections) and release
// old ones (closed sockets): every record of a ring that was never released
// reaches the file, once.
func TestFollowWhileAddingAndReleasing(t *testing.T) {
	var out syncBuffer
	e := capture.NewExporter(&out)
	ctx, cancel := context.WithCancel(context.Background())
	followed := make(chan error, 1)
	go func() { followed <- e.Follow(ctx) }()

	const rings, writes = 20, 200
	kept := make([]*capture.Ring, rings)
	var wg sync.WaitGroup
	for i := range kept {
		kept[i] = capture.NewRing(capture.Meta{SocketID: fmt.Sprintf("kept%d", i), Protocol: capture.UDP,
			Local: netip.MustParseAddrPort("127.0.0.1:5000")}, 0, nil)
		gone := capture.NewRing(capture.Meta{SocketID: fmt.Sprintf("gone%d", i), Protocol: capture.TCP}, 0, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.Add(kept[i], gone)
			for j := 0; j < writes; j++ {
				kept[i].Sent(time.Time{}, []byte(fmt.Sprintf("%d/%d", i, j)), netip.MustParseAddrPort("127.0.0.1:6000"))
				gone.Sent(time.Time{}, []byte("x"), netip.AddrPort{})
				if j == writes/2 {
					gone.Release()
				}
			}
		}()
	}
	wg.Wait()
	// Everything recorded reaches the file without another nudge.
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := 0
		for _, f := range readFrames(t, out.Bytes()) {
			if strings.HasPrefix(f.iface, "kept") {
				n++
			}
		}
		if n == rings*writes {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d datagrams followed", n, rings*writes)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-followed; err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range readFrames(t, out.Bytes()) {
		if !strings.HasPrefix(f.iface, "kept") {
			continue
		}
		payload := f.data[28:] // after the IPv4 and UDP headers
		if seen[payload] {
			t.Fatalf("datagram %q written twice", payload)
		}
		seen[payload] = true
	}
	for _, r := range kept {
		r.Release()
	}
}
