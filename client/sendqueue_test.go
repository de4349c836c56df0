package client

import (
	"errors"
	"os"
	"testing"
	"time"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// With offsets the queue holds a window of sent, unwritten bytes; Write may
// still get only `ahead` bytes ahead of what the stream has sent, and the
// window bounds the whole.
func TestQueueKeepsWriteALittleAheadOfTheStream(t *testing.T) {
	const chunk, ahead, window = 64 << 10, 512 << 10, 2 << 20
	s := &session{
		sock: &sockdv1.Socket{}, tcp: true, offs: true, window: window, ahead: ahead,
		wake: make(chan struct{}, 1), space: make(chan struct{}, 1), closing: make(chan struct{}),
		rd: newDeadline(), wd: newDeadline(),
	}
	put := func() error {
		b, pooled := newChunk(chunk)
		return s.queue("write", outItem{data: b, pooled: pooled})
	}
	blocked := func(what string) {
		t.Helper()
		s.wd.set(time.Now().Add(50 * time.Millisecond))
		if err := put(); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%s: queue = %v, want it to wait (deadline exceeded)", what, err)
		}
		s.wd.set(time.Time{})
	}
	sendAll := func() {
		s.mu.Lock()
		s.q.sent = s.q.end
		s.mu.Unlock()
		signal(s.space)
	}
	for range ahead / chunk {
		if err := put(); err != nil {
			t.Fatal(err)
		}
	}
	blocked("with nothing sent")
	sendAll() // the stream sent it: room ahead again, though none is written
	if err := put(); err != nil {
		t.Fatalf("after the stream sent: %v", err)
	}
	// Sent as fast as it comes, until the window is full of unwritten bytes.
	for s.q.bytes < window {
		sendAll()
		if err := put(); err != nil {
			t.Fatal(err)
		}
	}
	sendAll()
	blocked("with the window unwritten")
	s.mu.Lock()
	s.q.trim(s.q.end) // sockd reports it all written
	s.mu.Unlock()
	signal(s.space)
	if err := put(); err != nil {
		t.Fatalf("after the written report: %v", err)
	}
}
