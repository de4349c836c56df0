package sockmgr_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/sockd/sockd/sockmgr"
)

func off(n int64) *int64 { return &n }

// A receive asked again from the same offset returns the same bytes, and an
// acknowledged offset cannot be asked for again.
func TestRecvFromOffsetReturnsTheSameBytesAgain(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	a, b := connectedPair(t, m)
	ctx := ctxT(t)
	must[int](t)(a.Send(ctx, []byte("hello world"), sockmgr.SendOptions{All: true}))
	first := must[sockmgr.RecvResult](t)(b.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 5, Offset: off(0), Timeout: dur(5 * time.Second)}))
	if string(first.Data) != "hello" || first.Offset != 0 {
		t.Fatalf("first recv: %q at %d", first.Data, first.Offset)
	}
	// The answer was "lost": ask again from 0.
	again := must[sockmgr.RecvResult](t)(b.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 64, Offset: off(0), Timeout: dur(5 * time.Second)}))
	if string(again.Data) != "hello" || again.Offset != 0 {
		t.Fatalf("asked again: %q at %d, want the same 5 bytes at 0", again.Data, again.Offset)
	}
	next := must[sockmgr.RecvResult](t)(b.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 64, Offset: off(5), Ack: true, Timeout: dur(5 * time.Second)}))
	if string(next.Data) != " world" || next.Offset != 5 {
		t.Fatalf("next: %q at %d", next.Data, next.Offset)
	}
	// Offset 5 acknowledged the first five bytes.
	if _, err := b.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 64, Offset: off(0), Timeout: dur(time.Second)}); !errors.Is(err, sockmgr.ErrOffsetUnavailable) {
		t.Fatalf("asking for acknowledged bytes: %v, want ErrOffsetUnavailable", err)
	}
	if _, err := b.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 64, Offset: off(99), Timeout: dur(time.Second)}); !errors.Is(err, sockmgr.ErrInvalidOffset) {
		t.Fatalf("asking beyond the stream: %v, want ErrInvalidOffset", err)
	}
	if got := b.Info().Counters.BytesReceived; got != 11 {
		t.Fatalf("bytes received %d, want 11 (a repeat is not counted twice)", got)
	}
	// A call without offset forgets what was retained.
	must[int](t)(a.Send(ctx, []byte("xyz"), sockmgr.SendOptions{All: true}))
	plain := must[sockmgr.RecvResult](t)(b.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 64, Timeout: dur(5 * time.Second)}))
	if string(plain.Data) != "xyz" || plain.Offset != 11 {
		t.Fatalf("plain recv: %q at %d", plain.Data, plain.Offset)
	}
	if _, err := b.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 64, Offset: off(11), Timeout: dur(time.Second)}); !errors.Is(err, sockmgr.ErrOffsetUnavailable) {
		t.Fatalf("asking again after a plain recv: %v, want ErrOffsetUnavailable", err)
	}
	// EOF reports the stream's length.
	check(t, a.Shutdown(sockmgr.ShutWrite))
	eof := must[sockmgr.RecvResult](t)(b.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 64, Offset: off(14), Timeout: dur(5 * time.Second)}))
	if !eof.EOF || eof.Offset != 14 {
		t.Fatalf("eof: %+v", eof)
	}
}

// A retried send at an offset the socket already wrote writes nothing again;
// a partly written one writes only the rest.
func TestSendAtOffsetNeverWritesTwice(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	a, b := connectedPair(t, m)
	ctx := ctxT(t)
	n := must[int](t)(a.Send(ctx, []byte("abcdef"), sockmgr.SendOptions{All: true, Offset: off(0)}))
	if n != 6 {
		t.Fatalf("sent %d", n)
	}
	// The answer was "lost": the same send again.
	if n := must[int](t)(a.Send(ctx, []byte("abcdef"), sockmgr.SendOptions{All: true, Offset: off(0)})); n != 6 {
		t.Fatalf("retried send reports %d, want 6 (acknowledged)", n)
	}
	// A send that overlaps what was written: only "gh" is new.
	if n := must[int](t)(a.Send(ctx, []byte("efgh"), sockmgr.SendOptions{All: true, Offset: off(4)})); n != 4 {
		t.Fatalf("overlapping send reports %d, want 4", n)
	}
	if _, err := a.Send(ctx, []byte("zz"), sockmgr.SendOptions{Offset: off(100)}); !errors.Is(err, sockmgr.ErrInvalidOffset) {
		t.Fatalf("send beyond the stream: %v, want ErrInvalidOffset", err)
	}
	check(t, a.Shutdown(sockmgr.ShutWrite))
	if got := recvText(t, b, 100); got != "abcdefgh" {
		t.Fatalf("peer got %q, want abcdefgh", got)
	}
	if got := a.Info().Counters.BytesSent; got != 8 {
		t.Fatalf("bytes sent %d, want 8", got)
	}
}

// Retention is bounded: a receive that retains returns at most what fits,
// and nothing when it is full, until acknowledged.
func TestRetentionIsBounded(t *testing.T) {
	m := newManager(t, sockmgr.Config{RetainBytes: 1000})
	a, b := connectedPair(t, m)
	ctx := ctxT(t)
	must[int](t)(a.Send(ctx, bytes.Repeat([]byte("x"), 3000), sockmgr.SendOptions{All: true}))
	time.Sleep(50 * time.Millisecond)
	r := must[sockmgr.RecvResult](t)(b.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 4000, Offset: off(0), WaitAll: true, Timeout: dur(5 * time.Second)}))
	if len(r.Data) != 1000 {
		t.Fatalf("retaining recv returned %d bytes, want the 1000 retention holds", len(r.Data))
	}
	// Offset 1000 with Ack acknowledges the first 1000; the socket takes the next.
	r = must[sockmgr.RecvResult](t)(b.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 600, Offset: off(1000), Ack: true, Timeout: dur(5 * time.Second)}))
	if len(r.Data) != 600 || r.Offset != 1000 {
		t.Fatalf("second: %d bytes at %d", len(r.Data), r.Offset)
	}
	// Without an ack (the Attach way: reading on from 1600 while 1000-1600
	// is unacknowledged), only 400 more fit.
	r = must[sockmgr.RecvResult](t)(b.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 4000, Offset: off(1600), Timeout: dur(5 * time.Second)}))
	if len(r.Data) != 400 {
		t.Fatalf("third: %d bytes, want 400", len(r.Data))
	}
	check(t, b.AckReceived(1600))
	r = must[sockmgr.RecvResult](t)(b.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 4000, Offset: off(2000), Timeout: dur(5 * time.Second)}))
	if len(r.Data) != 600 {
		t.Fatalf("after the ack: %d bytes, want 600", len(r.Data))
	}
	if _, err := b.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 10, Offset: off(2600), Timeout: dur(time.Second)}); !errors.Is(err, sockmgr.ErrRetentionFull) {
		t.Fatalf("full retention: %v, want ErrRetentionFull", err)
	}
	if err := b.AckReceived(5000); !errors.Is(err, sockmgr.ErrInvalidOffset) {
		t.Fatalf("ack beyond delivered: %v", err)
	}
}

// The exactly-once property under cancellation: a reader that cancels its
// receives at random and keeps only the answers it saw, asking again from
// its own offset, gets every byte once and in order; a writer that cancels
// its sends and retries from its own offset writes every byte once.
func TestOffsetsSurviveRandomCancels(t *testing.T) {
	m := newManager(t, sockmgr.Config{RetainBytes: 256 << 10})
	a, b := connectedPair(t, m)
	const total = 8 << 20
	src := make([]byte, total)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range src {
		src[i] = byte(rng.Uint32())
	}
	var wg sync.WaitGroup
	wg.Go(func() { // writer
		rng := rand.New(rand.NewPCG(3, 4))
		var pos int64
		for i := 0; pos < total && i < 100000; i++ {
			end := min(pos+int64(1+rng.IntN(128<<10)), total)
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(2000))*time.Microsecond)
			n, err := a.Send(ctx, src[pos:end], sockmgr.SendOptions{All: true, Offset: off(pos)})
			cancel()
			if err == nil {
				pos += int64(n)
			} else if n > 0 && rng.IntN(2) == 0 {
				pos += int64(n) // sometimes the client learns of a partial send
			}
		}
		_ = a.Shutdown(sockmgr.ShutWrite)
	})
	var got []byte
	for i := 0; i < 200000; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(3000))*time.Microsecond)
		r, err := b.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 1 + rng.IntN(96<<10), Offset: off(int64(len(got))), Ack: true})
		lost := rng.IntN(5) == 0 // the answer never reaches the client
		cancel()
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, sockmgr.ErrTimeout) {
				t.Fatalf("recv: %v", err)
			}
			continue
		}
		if r.Offset != int64(len(got)) {
			t.Fatalf("answer at offset %d, asked for %d", r.Offset, len(got))
		}
		if r.EOF {
			break
		}
		if !lost {
			got = append(got, r.Data...)
		}
	}
	wg.Wait()
	if len(got) != total || sha256.Sum256(got) != sha256.Sum256(src) {
		t.Fatalf("received %d of %d bytes, checksums match: %v", len(got), total, sha256.Sum256(got) == sha256.Sum256(src))
	}
}

// A vectored send at an offset skips what was written, across buffers: two
// streams of the same client bytes (an old one still writing, a resumed
// one) write each byte once.
func TestSendBuffersAtOffsetSkipsWhatWasWritten(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	a, b := connectedPair(t, m)
	ctx := ctxT(t)
	if n := must[int](t)(a.SendBuffers(ctx, [][]byte{[]byte("abc"), []byte("def")}, sockmgr.SendOptions{Offset: off(0)})); n != 6 {
		t.Fatalf("sent %d", n)
	}
	// The resumed stream sends from offset 2: "cd" were written, "efgh" not all.
	if n := must[int](t)(a.SendBuffers(ctx, [][]byte{[]byte("c"), []byte("de"), []byte("fgh")}, sockmgr.SendOptions{Offset: off(2)})); n != 6 {
		t.Fatalf("resumed send reports %d, want 6", n)
	}
	if _, err := a.SendBuffers(ctx, [][]byte{[]byte("x")}, sockmgr.SendOptions{Offset: off(99)}); !errors.Is(err, sockmgr.ErrInvalidOffset) {
		t.Fatalf("beyond the stream: %v", err)
	}
	check(t, a.Shutdown(sockmgr.ShutWrite))
	if got := recvText(t, b, 100); got != "abcdefgh" {
		t.Fatalf("peer got %q, want abcdefgh", got)
	}
}
