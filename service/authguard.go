package service

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// Failed authentications are logged and throttled per client address, so
// that guessing tokens is slow and visible: each address has a bucket of
// failures (authFailureBurst, refilled at authFailureRate per second); once
// it is empty, the address's calls are refused with AUTH_THROTTLED without
// their credentials even being checked, until the bucket refills. A
// successful call costs nothing. Log lines are rate-limited per address
// too: one per authLogEvery, counting the failures in between.
const (
	authFailureRate  = 1.0
	authFailureBurst = 10
	authLogEvery     = 10 * time.Second
	// authGuardAddrs bounds the addresses remembered; past it the oldest
	// entries are forgotten (an attacker with that many addresses gets
	// their full bursts, still logged).
	authGuardAddrs = 4096
)

type authGuard struct {
	log *slog.Logger
	mu  sync.Mutex
	by  map[netip.Addr]*authFailures
}

type authFailures struct {
	bucket   *rate.Limiter
	lastLog  time.Time
	unlogged int
	seen     time.Time
}

func newAuthGuard(log *slog.Logger) *authGuard {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &authGuard{log: log, by: map[netip.Addr]*authFailures{}}
}

// throttled reports AUTH_THROTTLED when addr has failed too often lately.
func (g *authGuard) throttled(addr netip.Addr) error {
	if g == nil || !addr.IsValid() {
		return nil
	}
	g.mu.Lock()
	f := g.by[addr]
	g.mu.Unlock()
	if f == nil || f.bucket.Tokens() >= 1 {
		return nil
	}
	wait := time.Duration(float64(time.Second) / authFailureRate)
	return withInfo(codes.ResourceExhausted,
		"too many failed authentications from "+addr.String()+": wait before trying again",
		ReasonAuthThrottled, map[string]string{"retryAfter": wait.String(), "clientAddress": addr.String()})
}

// failed records a failed authentication from addr, and logs it unless a
// line for that address was written lately.
func (g *authGuard) failed(addr netip.Addr, method, why string) {
	if g == nil {
		return
	}
	now := time.Now()
	g.mu.Lock()
	f := g.by[addr]
	if f == nil {
		if len(g.by) >= authGuardAddrs {
			g.forgetOldestLocked()
		}
		f = &authFailures{bucket: rate.NewLimiter(rate.Limit(authFailureRate), authFailureBurst)}
		g.by[addr] = f
	}
	f.seen = now
	f.bucket.AllowN(now, 1)
	f.unlogged++
	logIt := now.Sub(f.lastLog) >= authLogEvery
	n := f.unlogged
	if logIt {
		f.lastLog, f.unlogged = now, 0
	}
	g.mu.Unlock()
	if logIt {
		g.log.Warn("authentication failed", "clientAddress", addr.String(), "method", method, "why", why, "failures", n)
	}
}

func (g *authGuard) forgetOldestLocked() {
	var oldest netip.Addr
	var at time.Time
	for a, f := range g.by {
		if !oldest.IsValid() || f.seen.Before(at) {
			oldest, at = a, f.seen
		}
	}
	delete(g.by, oldest)
}

// clientAddr is the address of the caller: the HTTP client's for a REST
// call (as the gateway passed it on), else the gRPC peer's.
func clientAddr(ctx context.Context) netip.Addr {
	if viaGateway(ctx) {
		md, _ := metadata.FromIncomingContext(ctx)
		return hostOf(gatewayValue(ctx, md, HTTPClientHeader))
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return hostOf(p.Addr.String())
	}
	return netip.Addr{}
}

// hostOf is the IP of a "host:port" (or bare IP) string, or invalid.
func hostOf(hostport string) netip.Addr {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
