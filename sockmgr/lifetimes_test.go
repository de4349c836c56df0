package sockmgr_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/sockd/sockd/sockmgr"
)

func nextKind(t *testing.T, sub *sockmgr.Subscription, kind sockmgr.EventKind) sockmgr.Event {
	t.Helper()
	for {
		ev := nextEvent(t, sub)
		if ev.Kind == kind {
			return ev
		}
	}
}

// fakeClock is a manager's clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// lifetimeManager is a manager on a fake clock whose reaper never fires by
// itself: the test advances the clock and reaps.
func lifetimeManager(t *testing.T, cfg sockmgr.Config) (*sockmgr.Manager, *fakeClock) {
	clock := newFakeClock()
	cfg.Clock, cfg.ReapInterval = clock.Now, time.Hour
	return newManager(t, cfg), clock
}

// An idle socket is closed after its idle timeout, with a closed (idle)
// event; one in a blocking call is not idle; a per-socket 0 means never.
func TestIdleSocketsAreReaped(t *testing.T) {
	m, clock := lifetimeManager(t, sockmgr.Config{IdleTimeout: 150 * time.Millisecond})
	sub := must[*sockmgr.Subscription](t)(m.Subscribe(sockmgr.SubscribeOptions{Scope: sockmgr.Scope{Admin: true}}))
	defer sub.Close()
	idle := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
	never := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{IdleTimeout: dur(0)}))
	waiting := listener(t, m, sockmgr.IPv4)
	acceptDone := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _, err := waiting.Accept(ctx, sockmgr.AcceptOptions{}); acceptDone <- err }()
	waitBusy(t, waiting)

	clock.advance(100 * time.Millisecond)
	m.ReapNow()
	if m.Len() != 3 {
		t.Fatalf("reaped before the idle timeout: %d left", m.Len())
	}
	clock.advance(100 * time.Millisecond)
	m.ReapNow()
	ev := nextKind(t, sub, sockmgr.EventClosed)
	if ev.Socket.ID != idle.ID() || ev.Detail != "idle" {
		t.Fatalf("first closed: %s (%s), want %s (idle)", ev.Socket.ID, ev.Detail, idle.ID())
	}
	// Well past the timeout, the one blocked in accept and the one that
	// never idles are still there.
	clock.advance(time.Hour)
	m.ReapNow()
	for _, s := range []*sockmgr.Socket{never, waiting} {
		if _, err := m.Get(sockmgr.Scope{Owner: owner}, s.ID()); err != nil {
			t.Fatalf("%s reaped: %v", s.ID(), err)
		}
	}
	cancel()
	<-acceptDone
	// Once its accept has ended it idles like any other.
	clock.advance(200 * time.Millisecond)
	m.ReapNow()
	if ev := nextKind(t, sub, sockmgr.EventClosed); ev.Socket.ID != waiting.ID() || ev.Detail != "idle" {
		t.Fatalf("after accept ended: %s (%s)", ev.Socket.ID, ev.Detail)
	}
}

// The sockets of a lease close when it lapses: while kept alive it does
// not; after the keep-alive ends the TTL runs; activity on its sockets
// renews it.
func TestLeases(t *testing.T) {
	m, clock := lifetimeManager(t, sockmgr.Config{})
	scope := sockmgr.Scope{Owner: owner}
	li := must[sockmgr.LeaseInfo](t)(m.CreateLease(owner, time.Second))
	if _, err := m.Create(owner, sockmgr.CreateOptions{LeaseID: "nosuchlease"}); !errors.Is(err, sockmgr.ErrNotFound) {
		t.Fatalf("create under an unknown lease: %v", err)
	}
	if _, err := m.Create("someone-else", sockmgr.CreateOptions{LeaseID: li.ID}); !errors.Is(err, sockmgr.ErrNotFound) {
		t.Fatalf("create under another owner's lease: %v", err)
	}
	l := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{LeaseID: li.ID}))
	check(t, l.Bind(ctxT(t), "127.0.0.1:0"))
	check(t, l.Listen(5))
	peer, err := net.Dial("tcp4", l.Info().LocalAddr.String())
	check(t, err)
	defer peer.Close()
	conn := must[*sockmgr.Socket](t)(l.Accept(ctxT(t), sockmgr.AcceptOptions{}))
	if conn.Info().LeaseID != li.ID {
		t.Fatal("an accepted socket does not inherit its listener's lease")
	}
	release, err := m.KeepLease(scope, li.ID)
	check(t, err)
	if got := must[sockmgr.LeaseInfo](t)(m.Lease(scope, li.ID)); !got.Expires.IsZero() || got.Sockets != 2 {
		t.Fatalf("kept lease: %+v", got)
	}
	clock.advance(time.Hour) // far past the TTL: the keep-alive holds it
	m.ReapNow()
	if m.Len() != 2 {
		t.Fatalf("sockets of a kept lease closed: %d left", m.Len())
	}
	release()
	if got := must[sockmgr.LeaseInfo](t)(m.Lease(scope, li.ID)); !got.Expires.Equal(clock.Now().Add(time.Second)) {
		t.Fatalf("released lease expires %v, want a TTL from now (%v)", got.Expires, clock.Now().Add(time.Second))
	}
	clock.advance(900 * time.Millisecond)
	m.ReapNow()
	if m.Len() != 2 {
		t.Fatal("the lease lapsed before its TTL")
	}
	clock.advance(200 * time.Millisecond)
	m.ReapNow()
	if m.Len() != 0 {
		t.Fatalf("the lease's sockets are still open a TTL after the keep-alive ended: %d", m.Len())
	}
	if _, err := m.Lease(scope, li.ID); !errors.Is(err, sockmgr.ErrLeaseNotFound) {
		t.Fatalf("lapsed lease still there: %v", err)
	}

	// Calls on a lease's sockets renew it.
	li2 := must[sockmgr.LeaseInfo](t)(m.CreateLease(owner, time.Second))
	u := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{Protocol: sockmgr.UDP, LeaseID: li2.ID}))
	check(t, u.Bind(ctxT(t), "127.0.0.1:0"))
	for range 8 { // 1.6 s of activity, past the TTL
		clock.advance(200 * time.Millisecond)
		must[int](t)(u.SendTo(ctxT(t), []byte("tick"), u.Info().LocalAddr.String(), sockmgr.SendOptions{}))
		m.ReapNow()
	}
	if m.Len() != 1 {
		t.Fatal("a lease whose socket is in use lapsed")
	}
	info := must[sockmgr.LeaseInfo](t)(m.RevokeLease(scope, li2.ID))
	if info.Sockets != 1 || m.Len() != 0 {
		t.Fatalf("revoke: %+v, %d sockets left", info, m.Len())
	}
	if _, err := m.CreateLease(owner, time.Millisecond); !errors.Is(err, sockmgr.ErrInvalidArgument) {
		t.Fatalf("a 1 ms lease: %v", err)
	}
}

// The reaper goroutine does run by itself on the real clock.
func TestReaperRunsOnItsOwn(t *testing.T) {
	m := newManager(t, sockmgr.Config{IdleTimeout: 50 * time.Millisecond, ReapInterval: 10 * time.Millisecond})
	must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
	waitFor(t, "the idle socket to be reaped", func() bool { return m.Len() == 0 })
}

// denyWildcard is a policy that allows loopback only, as sockd's default.
type denyWildcard struct{}

func (denyWildcard) Check(op sockmgr.Op, _ string, _ sockmgr.Protocol, ap netip.AddrPort) error {
	if ap.Addr().IsLoopback() {
		return nil
	}
	return errors.New(string(op) + " " + ap.String() + " is not loopback")
}

// With a policy that forbids the wildcard, sendto on an unbound UDP socket
// binds it to loopback (for a loopback destination) instead of 0.0.0.0;
// listen on an unbound TCP socket is refused.
func TestImplicitBindUnderPolicy(t *testing.T) {
	m := newManager(t, sockmgr.Config{Policy: denyWildcard{}})
	ctx := ctxT(t)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	check(t, err)
	defer pc.Close()
	u := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{Protocol: sockmgr.UDP}))
	must[int](t)(u.SendTo(ctx, []byte("hi"), pc.LocalAddr().String(), sockmgr.SendOptions{}))
	if a := u.Info().LocalAddr; !a.Addr().IsLoopback() || a.Port() == 0 || u.Info().State != sockmgr.StateBound {
		t.Fatalf("after sendto: %s %s, want bound to loopback", u.Info().State, a)
	}
	buf := make([]byte, 10)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, from, err := pc.ReadFrom(buf); err != nil || string(buf[:n]) != "hi" || from.String() != u.Info().LocalAddr.String() {
		t.Fatalf("peer got %q from %v: %v", buf[:n], from, err)
	}
	l := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
	if err := l.Listen(5); !errors.Is(err, sockmgr.ErrPolicyDenied) {
		t.Fatalf("listen on an unbound socket: %v", err)
	}
}
