package relay_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockd/sockd/relay"
	"github.com/sockd/sockd/sockmgr"
)

func TestEventsAndStats(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	evs := e.watch()
	p := e.newTCPPair()
	target := relay.Target{Relay: p.relay.ID}
	must[relay.Fault](t)(e.rm.AddFault(me, target, relay.Fault{Name: "slow", Params: relay.LatencyParams{Latency: time.Millisecond}}))
	must[relay.Fault](t)(e.rm.UpdateFault(me, target, relay.Fault{Name: "slow", Params: relay.LatencyParams{Latency: 2 * time.Millisecond}}, nil))
	_, err := p.server.Write([]byte("12345"))
	check(t, err)
	_, err = io.ReadFull(p.client, make([]byte, 5))
	check(t, err)
	must[relay.Fault](t)(e.rm.RemoveFault(me, target, "slow"))
	must[relay.RelayInfo](t)(e.rm.DeleteRelay(ctxT(t), me, p.relay.ID, true))
	want := "relay_created fault_added fault_updated fault_removed relay_ended"
	waitFor(t, 5*time.Second, "the events", func() bool { return len(evs.kinds()) >= 5 })
	if got := strings.Join(evs.kinds(), " "); got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	evs.mu.Lock()
	for _, ev := range evs.evs {
		if ev.Owner != owner {
			t.Errorf("%s: owner %q", ev.Kind, ev.Owner)
		}
		switch s := ev.Subject.(type) {
		case relay.RelayInfo:
			if s.ID != p.relay.ID {
				t.Errorf("%s: relay %s", ev.Kind, s.ID)
			}
		case relay.FaultInfo:
			if s.RelayID != p.relay.ID || s.Fault.Name != "slow" {
				t.Errorf("%s: %+v", ev.Kind, s)
			}
		default:
			t.Errorf("%s: subject %T", ev.Kind, ev.Subject)
		}
	}
	last := evs.evs[len(evs.evs)-1]
	evs.mu.Unlock()
	if last.Detail != "deleted" || last.Subject.(relay.RelayInfo).BytesDownstream != 5 {
		t.Errorf("relay_ended: %q %+v", last.Detail, last.Subject)
	}
	st := e.rm.Stats()
	if st.Bytes[relay.Downstream] != 5 || st.RelaysCreated != 1 || st.RelaysEndedBy["deleted"] != 1 ||
		st.FaultsApplied[relay.FaultLatency] != 1 || st.Relays != 0 {
		t.Fatalf("stats %+v", st)
	}
	// DeleteRelay with close_sockets closed them.
	if e.sm.Len() != 0 {
		t.Fatalf("%d sockets left", e.sm.Len())
	}
}

// TestCloseDrainsAndLeavesNothing closes the manager with bytes in flight in
// a relay and in a proxy's connection: both are written out, the proxy's
// connection is closed, the caller's relay leaves its sockets open, and no
// goroutine is left.
func TestCloseDrainsAndLeavesNothing(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	slow := relay.Fault{Direction: relay.Upstream, Params: relay.LatencyParams{Latency: 30 * time.Second}}
	p := e.newTCPPair(slow)
	up := newEchoServer(t)
	px := e.newProxy(relay.ProxyOptions{UpstreamAddress: up.addr(), Faults: []relay.Fault{slow}})
	c := dial(t, px.ListenAddress)
	_, err := p.client.Write([]byte("relay"))
	check(t, err)
	_, err = c.Write([]byte("proxy"))
	check(t, err)
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	check(t, e.rm.Close())
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Close took %v", el)
	}
	got := make([]byte, 5)
	_ = p.server.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadFull(p.server, got)
	check(t, err)
	if string(got) != "relay" {
		t.Fatalf("the relay's server read %q", got)
	}
	// The proxy's connection: its bytes reached the echo server, which
	// answered after the upstream socket was already shut: the client sees
	// EOF.
	if _, err := readAll(c, 5*time.Second); err != nil {
		t.Fatalf("proxy client: %v", err)
	}
	if _, err := e.sm.Get(me, p.a.ID()); err != nil {
		t.Fatalf("the caller's socket after Close: %v", err)
	}
	if _, err := e.rm.CreateProxy(ctxT(t), owner, relay.ProxyOptions{ListenAddress: "127.0.0.1:0", UpstreamAddress: up.addr()}); !errors.Is(err, sockmgr.ErrManagerClosed) {
		t.Fatalf("create after close: %v", err)
	}
	if _, err := e.rm.CreateRelay(ctxT(t), me, relay.RelayOptions{A: p.a.ID(), B: p.b.ID()}); !errors.Is(err, sockmgr.ErrManagerClosed) {
		t.Fatalf("relay after close: %v", err)
	}
	check(t, e.rm.Close()) // again: nothing to do
	// Every goroutine of the relay manager is gone (the test's own peers
	// and the socket manager's are not counted).
	p.client.Close()
	p.server.Close()
	c.Close()
	up.l.Close()
	check(t, e.sm.Close())
	goleak.VerifyNone(t, ignore)
}
