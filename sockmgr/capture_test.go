package sockmgr_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/sockd/sockd/capture"
	"github.com/sockd/sockd/sockmgr"
)

// A capture.Ring is a sockmgr.CaptureHook as it is.
var _ sockmgr.CaptureHook = (*capture.Ring)(nil)

// What a capturing socket records: the connection, the bytes each way (once,
// not again when asked for from an offset, never a peek), the half-close,
// the peer's EOF and the close; a socket that stops capturing records
// nothing more.
func TestCaptureRecordsWhatMoves(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	a, b := connectedPair(t, m)
	ring := capture.NewRing(capture.Meta{SocketID: b.ID(), Protocol: capture.TCP}, 1<<20, capture.NewBudget(1<<20))
	defer ring.Release()
	if old := b.SetCapture(ring); old != nil {
		t.Fatal("a fresh socket had a hook")
	}
	ctx := ctxT(t)
	must[int](t)(a.Send(ctx, []byte("hello"), sockmgr.SendOptions{All: true}))
	r := must[sockmgr.RecvResult](t)(b.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 5, WaitAll: true, Offset: off(0), Timeout: dur(5 * time.Second)}))
	if string(r.Data) != "hello" {
		t.Fatalf("recv %q", r.Data)
	}
	must[sockmgr.RecvResult](t)(b.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 5, Offset: off(0), Timeout: dur(5 * time.Second)})) // again: not recorded
	must[int](t)(a.Send(ctx, []byte("x"), sockmgr.SendOptions{All: true}))
	must[sockmgr.RecvResult](t)(b.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 5, Peek: true, Timeout: dur(5 * time.Second)})) // a peek: not recorded
	must[sockmgr.RecvResult](t)(b.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 5, Offset: off(5), Ack: true, Timeout: dur(5 * time.Second)}))
	must[int](t)(b.Send(ctx, []byte("world"), sockmgr.SendOptions{All: true}))
	check(t, b.Shutdown(sockmgr.ShutWrite))
	if got := recvText(t, a, 5); got != "world" {
		t.Fatalf("peer got %q", got)
	}
	check(t, a.Close())
	eof := must[sockmgr.RecvResult](t)(b.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 5, Timeout: dur(5 * time.Second)}))
	if !eof.EOF {
		t.Fatalf("want EOF, got %+v", eof)
	}
	check(t, b.Close())
	recs, _, _ := ring.Records(0, 100)
	var kinds []string
	var in, out []byte
	for _, rec := range recs {
		kinds = append(kinds, rec.Kind.String())
		if rec.Kind == capture.KindData {
			if rec.Dir == capture.In {
				in = append(in, rec.Data...)
			} else {
				out = append(out, rec.Data...)
			}
		}
	}
	if string(in) != "hellox" || string(out) != "world" {
		t.Fatalf("recorded in %q, out %q; want hellox, world (kinds %v)", in, out, kinds)
	}
	want := []string{"shutdown-write", "peer-closed", "closed"}
	got := kinds[len(kinds)-3:]
	for i := range want {
		if !bytes.Equal([]byte(got[i]), []byte(want[i])) {
			t.Fatalf("last records %v, want %v (all: %v)", got, want, kinds)
		}
	}
	// Off again: nothing more is recorded.
	c, d := connectedPair(t, m)
	ring2 := capture.NewRing(capture.Meta{SocketID: d.ID(), Protocol: capture.TCP}, 1<<20, capture.NewBudget(1<<20))
	defer ring2.Release()
	d.SetCapture(ring2)
	if d.SetCapture(nil) != ring2 {
		t.Fatal("SetCapture(nil) did not return the hook it replaced")
	}
	must[int](t)(c.Send(ctx, []byte("unseen"), sockmgr.SendOptions{All: true}))
	must[sockmgr.RecvResult](t)(d.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 6, WaitAll: true, Timeout: dur(5 * time.Second)}))
	if recs, _, _ := ring2.Records(0, 10); len(recs) != 0 {
		t.Fatalf("a socket with capture off recorded %d records", len(recs))
	}
}
