package sockmgr_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/sockd/sockd/sockmgr"
)

func nextEvent(t *testing.T, sub *sockmgr.Subscription) sockmgr.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev, err := sub.Next(ctx)
	check(t, err)
	return ev
}

func TestEventsInOrderPerSocket(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	sub := must[*sockmgr.Subscription](t)(m.Subscribe(sockmgr.SubscribeOptions{Scope: sockmgr.Scope{Owner: owner}}))
	defer sub.Close()
	ctx := ctxT(t)
	l := listener(t, m, sockmgr.IPv4)
	peer, err := net.Dial("tcp4", l.Info().LocalAddr.String())
	check(t, err)
	defer peer.Close()
	conn := must[*sockmgr.Socket](t)(l.Accept(ctx, sockmgr.AcceptOptions{}))
	check(t, conn.Shutdown(sockmgr.ShutWrite))
	check(t, conn.Close())
	check(t, l.Close())

	want := []struct {
		kind sockmgr.EventKind
		id   string
	}{
		{sockmgr.EventCreated, l.ID()},
		{sockmgr.EventBound, l.ID()},
		{sockmgr.EventListening, l.ID()},
		{sockmgr.EventAccepted, conn.ID()},
		{sockmgr.EventShutdown, conn.ID()},
		{sockmgr.EventClosed, conn.ID()},
		{sockmgr.EventClosed, l.ID()},
	}
	var last uint64
	for i, w := range want {
		ev := nextEvent(t, sub)
		if ev.Kind != w.kind || ev.Socket.ID != w.id {
			t.Fatalf("event %d: %s on %s, want %s on %s", i, ev.Kind, ev.Socket.ID, w.kind, w.id)
		}
		if ev.Seq <= last {
			t.Fatalf("event %d: seq %d after %d", i, ev.Seq, last)
		}
		last = ev.Seq
	}
	// Snapshots carry the state after the change.
	if m.LastEventSeq() != last {
		t.Fatalf("LastEventSeq %d, last delivered %d", m.LastEventSeq(), last)
	}
}

func TestEventsScopeFilterAndErrors(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	mine := must[*sockmgr.Subscription](t)(m.Subscribe(sockmgr.SubscribeOptions{
		Scope: sockmgr.Scope{Owner: "alice"},
		Match: func(ev *sockmgr.Event) bool { return ev.Kind != sockmgr.EventCreated },
	}))
	defer mine.Close()
	bob := must[*sockmgr.Socket](t)(m.Create("bob", sockmgr.CreateOptions{}))
	check(t, bob.Bind(ctxT(t), "127.0.0.1:0"))
	alice := must[*sockmgr.Socket](t)(m.Create("alice", sockmgr.CreateOptions{}))
	// A kernel error on a socket call is an event too.
	err := alice.Bind(ctxT(t), bob.Info().LocalAddr.String())
	if err == nil {
		t.Fatal("bind conflict succeeded")
	}
	ev := nextEvent(t, mine)
	if ev.Kind != sockmgr.EventError || ev.Socket.ID != alice.ID() {
		t.Fatalf("alice saw %s on %s, want only her error event", ev.Kind, ev.Socket.ID)
	}
}

// A subscriber that does not read never blocks the data path or grows
// without bound: its queue is capped and it is told how many it missed.
func TestSlowSubscriberIsToldWhatItMissed(t *testing.T) {
	m := newManager(t, sockmgr.Config{SubscriberBuffer: 4})
	slow := must[*sockmgr.Subscription](t)(m.Subscribe(sockmgr.SubscribeOptions{Scope: sockmgr.Scope{Admin: true}}))
	defer slow.Close()
	for range 10 {
		s := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
		check(t, s.Close())
	} // 20 events; the subscriber holds 4
	for range 4 {
		if ev := nextEvent(t, slow); ev.Kind == sockmgr.EventMissed {
			t.Fatalf("missed reported before the queued events")
		}
	}
	ev := nextEvent(t, slow)
	if ev.Kind != sockmgr.EventMissed || ev.Missed != 16 {
		t.Fatalf("after the queue: %s missed=%d, want missed 16", ev.Kind, ev.Missed)
	}
	s := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
	if ev := nextEvent(t, slow); ev.Kind != sockmgr.EventCreated || ev.Socket.ID != s.ID() {
		t.Fatalf("after catching up: %s", ev.Kind)
	}
}

func TestReplaySinceAndTruncatedHistory(t *testing.T) {
	m := newManager(t, sockmgr.Config{EventHistory: 5})
	for range 4 {
		s := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
		check(t, s.Close())
	} // events 1..8; history keeps 4..8
	sub := must[*sockmgr.Subscription](t)(m.Subscribe(sockmgr.SubscribeOptions{Scope: sockmgr.Scope{Owner: owner}, Replay: true, Since: 6}))
	for _, want := range []uint64{7, 8} {
		if ev := nextEvent(t, sub); ev.Seq != want {
			t.Fatalf("replay from 6: seq %d, want %d", ev.Seq, want)
		}
	}
	sub.Close()
	old := must[*sockmgr.Subscription](t)(m.Subscribe(sockmgr.SubscribeOptions{Scope: sockmgr.Scope{Owner: owner}, Replay: true, Since: 1}))
	defer old.Close()
	if ev := nextEvent(t, old); ev.Kind != sockmgr.EventMissed || ev.Missed != 2 {
		t.Fatalf("replay from beyond the history: %s missed=%d, want missed 2 (events 2 and 3)", ev.Kind, ev.Missed)
	}
	if ev := nextEvent(t, old); ev.Seq != 4 {
		t.Fatalf("first replayed event seq %d, want 4", ev.Seq)
	}
}

func TestManagerCloseEndsSubscriptionsAndSockets(t *testing.T) {
	m := sockmgr.New(sockmgr.Config{})
	sub := must[*sockmgr.Subscription](t)(m.Subscribe(sockmgr.SubscribeOptions{Scope: sockmgr.Scope{Admin: true}}))
	s := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
	check(t, m.Close())
	if s.Info().State != sockmgr.StateClosed {
		t.Fatal("socket not closed by manager Close")
	}
	nextEvent(t, sub) // created
	if ev := nextEvent(t, sub); ev.Kind != sockmgr.EventClosed || ev.Detail != "shutdown" {
		t.Fatalf("got %s %q, want closed (shutdown)", ev.Kind, ev.Detail)
	}
	if _, err := sub.Next(context.Background()); !errors.Is(err, sockmgr.ErrManagerClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	if _, err := m.Create(owner, sockmgr.CreateOptions{}); !errors.Is(err, sockmgr.ErrManagerClosed) {
		t.Fatalf("Create after Close: %v", err)
	}
}
