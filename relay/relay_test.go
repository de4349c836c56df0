package relay_test

import (
	"bytes"
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/relay"
	"github.com/sockd/sockd/sockmgr"
)

func TestRelayMovesBytesBothWaysBySplice(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	p := e.newTCPPair()
	if p.relay.UpstreamPath != relay.PathSplice || p.relay.DownstreamPath != relay.PathSplice {
		t.Fatalf("paths %s/%s, want splice both ways", p.relay.UpstreamPath, p.relay.DownstreamPath)
	}
	msg := bytes.Repeat([]byte("ping "), 1000)
	_, err := p.client.Write(msg)
	check(t, err)
	got := make([]byte, len(msg))
	_, err = io.ReadFull(p.server, got)
	check(t, err)
	if !bytes.Equal(got, msg) {
		t.Fatal("upstream bytes differ")
	}
	_, err = p.server.Write([]byte("pong"))
	check(t, err)
	got = make([]byte, 4)
	_, err = io.ReadFull(p.client, got)
	check(t, err)
	if string(got) != "pong" {
		t.Fatalf("downstream got %q", got)
	}
	// The relay counts once a splice returns, which may be just after the
	// peer has the bytes.
	var info relay.RelayInfo
	waitFor(t, 5*time.Second, "the counters", func() bool {
		info = must[relay.RelayInfo](t)(e.rm.Relay(me, p.relay.ID))
		return info.BytesUpstream == uint64(len(msg)) && info.BytesDownstream == 4
	})
	// The sockets' own counters see the relayed bytes too.
	if c := p.a.Info().Counters; c.BytesReceived != uint64(len(msg)) || c.BytesSent != 4 {
		t.Fatalf("socket a counters %+v", c)
	}
	if c := p.b.Info().Counters; c.BytesSent != uint64(len(msg)) || c.BytesReceived != 4 {
		t.Fatalf("socket b counters %+v", c)
	}
	if pid, rid := e.rm.OwnerOf(p.a.ID()); pid != "" || rid != p.relay.ID {
		t.Fatalf("OwnerOf(a) = %q, %q", pid, rid)
	}
}

func TestHalfClosePassesThrough(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	evs := e.watch()
	p := e.newTCPPair()
	_, err := p.client.Write([]byte("request"))
	check(t, err)
	check(t, p.client.CloseWrite())
	// The server reads the request and then EOF, and can still answer.
	got, err := readAll(p.server, 5*time.Second)
	check(t, err)
	if string(got) != "request" {
		t.Fatalf("server read %q", got)
	}
	waitFor(t, 5*time.Second, "upstream done", func() bool {
		info, err := e.rm.Relay(me, p.relay.ID)
		return err == nil && info.UpstreamPath == relay.PathDone && info.DownstreamPath == relay.PathSplice
	})
	for i := 0; i < 3; i++ {
		_, err = p.server.Write([]byte("answer "))
		check(t, err)
		time.Sleep(10 * time.Millisecond)
	}
	check(t, p.server.CloseWrite())
	got, err = readAll(p.client, 5*time.Second)
	check(t, err)
	if string(got) != "answer answer answer " {
		t.Fatalf("client read %q", got)
	}
	e.relayGone(p.relay.ID)
	// A relay of the caller's own sockets leaves them open.
	if _, err := e.sm.Get(me, p.a.ID()); err != nil {
		t.Fatalf("socket a after the relay: %v", err)
	}
	waitFor(t, time.Second, "relay_ended", func() bool { return evs.has(relay.EventRelayEnded) })
}

func TestResetPassesThrough(t *testing.T) {
	for _, side := range []string{"client", "server"} {
		t.Run(side, func(t *testing.T) {
			e := newEnv(t, sockmgr.Config{}, relay.Config{})
			p := e.newTCPPair()
			from, to := p.client, p.server
			if side == "server" {
				from, to = p.server, p.client
			}
			_, err := from.Write([]byte("x"))
			check(t, err)
			one := make([]byte, 1)
			_, err = io.ReadFull(to, one)
			check(t, err)
			check(t, from.SetLinger(0))
			check(t, from.Close())
			_ = to.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = to.Read(one)
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("the other peer's read: %v, want ECONNRESET", err)
			}
			e.relayGone(p.relay.ID)
		})
	}
}

func TestResetAfterEOFPassesThrough(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	p := e.newTCPPair()
	check(t, p.client.CloseWrite())
	got, err := readAll(p.server, 5*time.Second)
	check(t, err)
	if len(got) != 0 {
		t.Fatalf("server read %q", got)
	}
	// The client now resets its half-closed connection: the server, which
	// has read the EOF, learns of it before it writes anything.
	check(t, p.client.SetLinger(0))
	check(t, p.client.Close())
	e.relayGone(p.relay.ID)
	var werr error
	for i := 0; i < 3 && werr == nil; i++ {
		_, werr = p.server.Write([]byte("late"))
		time.Sleep(20 * time.Millisecond)
	}
	if !errors.Is(werr, syscall.ECONNRESET) && !errors.Is(werr, syscall.EPIPE) {
		t.Fatalf("server write after the reset: %v, want ECONNRESET or EPIPE", werr)
	}
}

func TestClosingASocketEndsTheRelay(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	p := e.newTCPPair()
	check(t, p.a.Close())
	e.relayGone(p.relay.ID)
	// The client sees its connection closed; b stays open (the caller's).
	got, err := readAll(p.client, 5*time.Second)
	if err != nil || len(got) != 0 {
		t.Fatalf("client read %q, %v; want EOF", got, err)
	}
	if _, err := e.sm.Get(me, p.b.ID()); err != nil {
		t.Fatalf("socket b: %v", err)
	}
}

func TestDeleteRelayLosesNoByte(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	// A long latency holds the bytes in the relay when it is deleted.
	p := e.newTCPPair(relay.Fault{Direction: relay.Upstream, Params: relay.LatencyParams{Latency: 10 * time.Second}})
	_, err := p.client.Write([]byte("in flight"))
	check(t, err)
	time.Sleep(100 * time.Millisecond) // the relay has read them and holds them for the latency
	info := must[relay.RelayInfo](t)(e.rm.DeleteRelay(ctxT(t), me, p.relay.ID, false))
	if info.UpstreamPath != relay.PathDone {
		t.Fatalf("path after delete: %s", info.UpstreamPath)
	}
	got := make([]byte, len("in flight"))
	_ = p.server.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadFull(p.server, got)
	check(t, err)
	if string(got) != "in flight" {
		t.Fatalf("server read %q", got)
	}
	// The sockets are the caller's again, and their stream offsets count
	// the relayed bytes: a Send and a Recv at the offsets the counters say
	// go on where the relay left off.
	ctx := ctxT(t)
	sent := int64(p.b.Info().Counters.BytesSent)
	if sent != int64(len("in flight")) {
		t.Fatalf("b wrote %d bytes, the relay passed %d", sent, len("in flight"))
	}
	_, err = p.b.Send(ctx, []byte("direct"), sockmgr.SendOptions{All: true, Offset: &sent})
	check(t, err)
	got = make([]byte, 6)
	_, err = io.ReadFull(p.server, got)
	check(t, err)
	if string(got) != "direct" {
		t.Fatalf("server read %q", got)
	}
	if _, err := p.client.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	off := int64(p.a.Info().Counters.BytesReceived)
	res, err := p.a.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 10, Offset: &off, Timeout: ptr(5 * time.Second)})
	check(t, err)
	if string(res.Data) != "hi" || res.Offset != int64(len("in flight")) {
		t.Fatalf("a.Recv = %q at offset %d", res.Data, res.Offset)
	}
}

func TestCreateRelayErrors(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	ctx := ctxT(t)
	p := e.newTCPPair()
	unconnected := must[*sockmgr.Socket](t)(e.sm.Create(owner, sockmgr.CreateOptions{}))
	udp := must[*sockmgr.Socket](t)(e.sm.Create(owner, sockmgr.CreateOptions{Protocol: sockmgr.UDP}))
	other := must[*sockmgr.Socket](t)(e.sm.Create("someone-else", sockmgr.CreateOptions{}))
	cases := []struct {
		name string
		a, b string
		want error
	}{
		{"in use", p.a.ID(), p.b.ID(), relay.ErrSocketInUse},
		{"not connected", unconnected.ID(), p.b.ID(), sockmgr.ErrWrongState},
		{"to itself", unconnected.ID(), unconnected.ID(), sockmgr.ErrInvalidArgument},
		{"protocols", unconnected.ID(), udp.ID(), sockmgr.ErrInvalidArgument},
		{"another owner's", unconnected.ID(), other.ID(), sockmgr.ErrNotFound},
		{"missing", "", p.b.ID(), sockmgr.ErrInvalidArgument},
	}
	for _, c := range cases {
		_, err := e.rm.CreateRelay(ctx, me, relay.RelayOptions{A: c.a, B: c.b})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		var re *relay.Error
		if !errors.As(err, &re) {
			t.Errorf("%s: %T is not a *relay.Error", c.name, err)
		}
	}
	if _, err := e.rm.Relay(sockmgr.Scope{Owner: "someone-else"}, p.relay.ID); !errors.Is(err, relay.ErrRelayNotFound) {
		t.Errorf("another owner's relay: %v", err)
	}
	if _, err := e.rm.Relay(sockmgr.Scope{Owner: "root", Admin: true}, p.relay.ID); err != nil {
		t.Errorf("admin: %v", err)
	}
}
