package main

import (
	"log/slog"
	"net"
	"sync"
	"time"
)

// connLimitListener caps the gRPC listener's open connections: one over
// the cap is closed at once (the client sees the connection end and may
// retry), and the refusal is logged at most once a second. gRPC's own
// limits then bound each connection (its streams, its idle time, its
// handshake time).
type connLimitListener struct {
	net.Listener
	log     *slog.Logger
	slots   chan struct{}
	mu      sync.Mutex
	lastLog time.Time
	refused int
}

func newConnLimitListener(l net.Listener, max int, log *slog.Logger) net.Listener {
	return &connLimitListener{Listener: l, log: log, slots: make(chan struct{}, max)}
}

func (l *connLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
			c.Close()
			l.noteRefused()
		}
	}
}

func (l *connLimitListener) noteRefused() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refused++
	if time.Since(l.lastLog) >= time.Second {
		l.log.Warn("gRPC connection refused: at --grpc-max-conns", "max", cap(l.slots), "refused", l.refused)
		l.lastLog, l.refused = time.Now(), 0
	}
}

// limitedConn gives its slot back when closed (once).
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
