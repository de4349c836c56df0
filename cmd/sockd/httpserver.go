package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
)

// newHTTPServer is the HTTP side's server with its limits: timeouts for
// reading a request (headers, whole), for a response that stalls (set per
// request, see restCall), and for idle keep-alive connections; a cap on open
// connections where an idle one gives way to a new one.
func newHTTPServer(cfg *config, handler http.Handler, log *slog.Logger) *http.Server {
	limiter := newIdleFirstLimiter(cfg.httpMaxConns)
	return &http.Server{
		Handler:           limiter.wrap(handler),
		ReadHeaderTimeout: cfg.httpReadHeaderTimeout,
		ReadTimeout:       cfg.httpReadTimeout,
		IdleTimeout:       cfg.httpIdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ConnState:         limiter.track,
		ConnContext:       func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// idleFirstLimiter caps the HTTP server's open connections. A connection
// over the cap closes the oldest idle keep-alive connection to make room;
// when none is idle, the new one is answered 503 and closed. So idle
// connections (a slowloris of keep-alives) can never lock out a new
// client, and the descriptors sockd spends on HTTP stay bounded.
type idleFirstLimiter struct {
	max  int
	mu   sync.Mutex
	open map[net.Conn]http.ConnState
	idle []net.Conn // oldest first
	over map[net.Conn]bool
}

func newIdleFirstLimiter(max int) *idleFirstLimiter {
	return &idleFirstLimiter{max: max, open: map[net.Conn]http.ConnState{}, over: map[net.Conn]bool{}}
}

func (l *idleFirstLimiter) track(c net.Conn, state http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch state {
	case http.StateNew:
		if len(l.open) >= l.max {
			if len(l.idle) > 0 {
				oldest := l.idle[0]
				l.idle = l.idle[1:]
				delete(l.open, oldest)
				oldest.Close()
			} else {
				l.over[c] = true // answered 503 by wrap
			}
		}
		l.open[c] = state
	case http.StateIdle:
		l.open[c] = state
		l.idle = append(l.idle, c)
	case http.StateActive:
		l.open[c] = state
		l.dropIdle(c)
	case http.StateHijacked, http.StateClosed:
		delete(l.open, c)
		delete(l.over, c)
		l.dropIdle(c)
	}
}

func (l *idleFirstLimiter) dropIdle(c net.Conn) {
	for i, ic := range l.idle {
		if ic == c {
			l.idle = append(l.idle[:i], l.idle[i+1:]...)
			return
		}
	}
}

type connKey struct{}

// wrap answers requests on a connection over the cap with 503 and closes it.
func (l *idleFirstLimiter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Context().Value(connKey{}).(net.Conn)
		l.mu.Lock()
		over := l.over[c]
		l.mu.Unlock()
		if over {
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "1")
			http.Error(w, "sockd: too many HTTP connections (--http-max-conns); try again", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}
