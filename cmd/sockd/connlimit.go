package main

import (
	"log/slog"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"
)

// connLimitListener caps the gRPC listener's open connections: one over
// the cap is closed at once (the client sees the connection end and may
// retry), and the refusal is logged at most once a second. gRPC's own
// limits then bound each connection (its streams, its idle time, its
// handshake time).
//
// The connections are handed to gRPC as they are, not wrapped: grpc-go
// reads a bare *net.TCPConn with its non-blocking pooled reader, and any
// other type through bufio, which made every Attach byte about a fifth
// slower. So the listener does not learn of a close as it happens: it
// keeps the connections it let in, and only when they reach the cap does
// it look which of them have closed since (a closed connection's
// descriptor refuses RawConn.Control).
type connLimitListener struct {
	net.Listener
	log     *slog.Logger
	max     int
	mu      sync.Mutex
	open    []net.Conn
	lastLog time.Time
	refused int
}

func newConnLimitListener(l net.Listener, max int, log *slog.Logger) net.Listener {
	return &connLimitListener{Listener: l, log: log, max: max}
}

func (l *connLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.admit(c) {
			return c, nil
		}
		c.Close()
		l.noteRefused()
	}
}

// admit records c if there is room, sweeping out closed connections first
// when there seems to be none.
func (l *connLimitListener) admit(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.open) >= l.max {
		l.open = slices.DeleteFunc(l.open, closed)
	}
	if len(l.open) >= l.max {
		return false
	}
	l.open = append(l.open, c)
	return true
}

// closed reports whether c has been closed (by gRPC, or by its peer and
// then gRPC). A connection that cannot tell counts as open.
func closed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	return raw.Control(func(uintptr) {}) != nil
}

func (l *connLimitListener) noteRefused() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refused++
	if time.Since(l.lastLog) >= time.Second {
		l.log.Warn("gRPC connection refused: at --grpc-max-conns", "max", l.max, "refused", l.refused)
		l.lastLog, l.refused = time.Now(), 0
	}
}
