package main

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// What the proxy, fault and capture cases share over one sockbench run: a
// toxiproxy server started on first use and stopped at the end.
var shared struct {
	mu   sync.Mutex
	toxi *toxiproxy
}

// toxiproxy is the run's toxiproxy server, started (and built) on first use.
func (e *env) toxiproxy(ctx context.Context) (*toxiproxy, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.toxi != nil {
		return shared.toxi, nil
	}
	t, err := startToxiproxy(ctx)
	if err != nil {
		return nil, err
	}
	shared.toxi = t
	return t, nil
}

// closeShared stops what the run started on first use.
func closeShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.toxi != nil {
		shared.toxi.close()
		shared.toxi = nil
	}
	removeToxiproxyBinary()
}

var names atomic.Int64

// nextName numbers the proxies a run makes in toxiproxy, whose names must
// be unique.
func nextName() int64 { return names.Add(1) }

// writeUntilDone writes size-byte chunks to c until ctx ends (which sets a
// past write deadline to end a blocked write).
func writeUntilDone(ctx context.Context, c net.Conn, size int) {
	stop := context.AfterFunc(ctx, func() { c.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, size)
	for ctx.Err() == nil {
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}
