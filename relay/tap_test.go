package relay_test

import (
	"bytes"
	"io"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/sockd/sockd/capture"
	"github.com/sockd/sockd/relay"
	"github.com/sockd/sockd/sockmgr"
)

// capture's rings are what the daemon taps with.
var _ relay.Tap = (*capture.Ring)(nil)

// recorder is a Tap that keeps what it is given.
type recorder struct {
	mu             sync.Mutex
	sent, received bytes.Buffer
	sentN, recvN   int
	peers          map[netip.AddrPort]bool
}

func (r *recorder) Sent(at time.Time, b []byte, to netip.AddrPort) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent.Write(b)
	r.sentN++
	r.peers[to] = true
}

func (r *recorder) Received(at time.Time, b []byte, from netip.AddrPort) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.received.Write(b)
	r.recvN++
	r.peers[from] = true
}

func (r *recorder) snapshot() (sent, received string, peers int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent.String(), r.received.String(), len(r.peers)
}

// settled is snapshot once what was sent is want, or after 5 s: a tap
// records a send after the write returns, so a peer may read the bytes
// before the tap has them.
func (r *recorder) settled(want string) (sent, received string, peers int) {
	sent, received, peers = r.snapshot()
	for deadline := time.Now().Add(5 * time.Second); sent != want && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		sent, received, peers = r.snapshot()
	}
	return sent, received, peers
}

// taps records the sockets whose ids are in it.
type taps struct {
	mu sync.Mutex
	on map[string]*recorder
}

func (ts *taps) tap(s *sockmgr.Socket) relay.Tap {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if r := ts.on[s.ID()]; r != nil {
		return r
	}
	return nil
}

func (ts *taps) set(id string, r *recorder) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if r == nil {
		delete(ts.on, id)
	} else {
		ts.on[id] = r
	}
}

func TestTapRecordsARelaysBytes(t *testing.T) {
	ts := &taps{on: map[string]*recorder{}}
	e := newEnv(t, sockmgr.Config{}, relay.Config{Tap: ts.tap})
	p := e.newTCPPair()
	rec := &recorder{peers: map[netip.AddrPort]bool{}}
	ts.set(p.a.ID(), rec)
	e.rm.Retap(p.a.ID())
	waitFor(t, time.Second, "the user path while a socket records", func() bool {
		info := must[relay.RelayInfo](t)(e.rm.Relay(me, p.relay.ID))
		return info.UpstreamPath == relay.PathUser && info.DownstreamPath == relay.PathUser
	})
	_, err := p.client.Write([]byte("question"))
	check(t, err)
	_, err = io.ReadFull(p.server, make([]byte, 8))
	check(t, err)
	_, err = p.server.Write([]byte("answer"))
	check(t, err)
	_, err = io.ReadFull(p.client, make([]byte, 6))
	check(t, err)
	// The tap records a send once the write has returned, which may be
	// after the client has read the answer: wait (bounded) for it.
	sent, received, peers := rec.settled("answer")
	if received != "question" || sent != "answer" || peers != 1 {
		t.Fatalf("recorded sent %q, received %q, %d peers", sent, received, peers)
	}
	// Capture off: back to splice, nothing more recorded.
	ts.set(p.a.ID(), nil)
	e.rm.Retap(p.a.ID())
	waitFor(t, time.Second, "splice again", func() bool {
		info := must[relay.RelayInfo](t)(e.rm.Relay(me, p.relay.ID))
		return info.UpstreamPath == relay.PathSplice && info.DownstreamPath == relay.PathSplice
	})
	_, err = p.client.Write([]byte("more"))
	check(t, err)
	_, err = io.ReadFull(p.server, make([]byte, 4))
	check(t, err)
	if _, received, _ := rec.snapshot(); received != "question" {
		t.Fatalf("recorded %q after the tap was removed", received)
	}
}

func TestTapRecordsAUDPProxysSharedSocket(t *testing.T) {
	ts := &taps{on: map[string]*recorder{}}
	e := newEnv(t, sockmgr.Config{}, relay.Config{Tap: ts.tap})
	srv := udpEcho(t)
	rec := &recorder{peers: map[netip.AddrPort]bool{}}
	px := e.newProxy(relay.ProxyOptions{Protocol: sockmgr.UDP, UpstreamAddress: srv.LocalAddr().String(),
		OnSocket: func(s *sockmgr.Socket) {
			ts.mu.Lock()
			first := len(ts.on) == 0
			ts.mu.Unlock()
			if first {
				ts.set(s.ID(), rec) // the first socket made is the shared one
			}
		}})
	c := udpClient(t, px.ListenAddress)
	answer := ask(t, c, "ping")
	// The tap records a send once sendmmsg has returned, which may be
	// after the client has read the answer: wait (bounded) for it.
	sent, received, peers := rec.settled(answer)
	if received != "ping" || sent != answer || peers != 1 {
		t.Fatalf("recorded sent %q, received %q, %d peers (answer %q)", sent, received, peers, answer)
	}
}
