package main

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// The offsets side of the bare sink must make the client do what it does
// against sockd: keep what it sends until the sink reports it written. A
// write of more than the client's window only completes if the reports
// come, and Detach only returns once every byte is reported.
func TestOffsetSinkReportsWhatItDrops(t *testing.T) {
	srv := newSinkServer()
	const readAhead = 8 << 20
	sockdv1.RegisterSocketServiceServer(srv, &offsetSinkServer{limits: &sockdv1.ServerLimits{
		RetainBytes: 1 << 20, AttachReadAheadBytes: readAhead,
	}})
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Stop()
	c, err := client.Dial(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := c.ServerInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.GetLimits().GetRetainBytes() == 0 {
		t.Fatal("the sink says it keeps no offsets: the client would not keep its bytes")
	}
	conn, err := c.Conn(ctx, "sink")
	if err != nil {
		t.Fatal(err)
	}
	conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 64<<10)
	for n := 0; n < 3*readAhead; n += len(buf) {
		if _, err := conn.Write(buf); err != nil {
			t.Fatalf("write at %d: %v (the sink's written reports did not free the window)", n, err)
		}
	}
	if err := conn.Detach(); err != nil {
		t.Fatalf("detach: %v", err)
	}
}
