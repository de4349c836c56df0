package service

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/mem"

	"github.com/sockd/sockd/sockmgr"
)

// A batch of megabytes is written in pieces, and the client hears the write
// offset after each piece, not once at the end of the batch: a client that
// waits for the report stops sending meanwhile. The bytes arrive in order.
func TestCoalescerReportsEachPiece(t *testing.T) {
	m := sockmgr.New(sockmgr.Config{})
	defer m.Close()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sock, err := m.Create("test", sockmgr.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sock.Connect(ctx, l.Addr().String(), nil); err != nil {
		t.Fatal(err)
	}
	peer, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	const total = 4 << 20
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(peer, total))
		got <- b
	}()

	var mu sync.Mutex
	var reports []int64
	co := newCoalescer(ctx, sock, coalesceLimit, false)
	co.onWritten = func(off int64) {
		mu.Lock()
		reports = append(reports, off)
		mu.Unlock()
	}
	defer co.close()
	// One add: the writer takes the whole batch at once.
	want := make([]byte, total)
	var batch mem.BufferSlice
	for i := range want {
		want[i] = byte(i * 7 / 5)
	}
	for off := 0; off < total; off += 64 << 10 {
		batch = append(batch, mem.SliceBuffer(want[off:off+64<<10]))
	}
	if err := co.add(batch); err != nil {
		t.Fatal(err)
	}
	if err := co.flush(); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("the peer received %d bytes, not the %d written in order", len(b), total)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) != total/writePiece {
		t.Fatalf("%d reports for %d bytes in pieces of %d: %v", len(reports), total, writePiece, reports)
	}
	for i, off := range reports {
		if off != int64(i+1)*writePiece {
			t.Fatalf("report %d says %d: %v", i, off, reports)
		}
	}
}
