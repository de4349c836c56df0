package relay

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockd/sockd/capture"
	"github.com/sockd/sockd/sockmgr"
)

// A replay plays one side of a recorded conversation through a new socket
// of sockd's, on sockd's host, keeping the recording's timing: each message
// goes out at its recorded offset from the first one (divided by the
// speed), scheduled against one clock, so that gaps do not drift however
// long the replay is; what the peer answers meanwhile is read and counted.

// ReplayOptions describe a replay.
type ReplayOptions struct {
	// Owner is the principal the socket is made for (its limits, the
	// policy and leases apply to it as to any socket).
	Owner string
	// To is where to connect (client side) or to listen (server side).
	To string
	// Server plays the side that accepted: listen on To, take one
	// connection (TCP) or the first datagram (UDP), then send the server's
	// messages to it. Otherwise the side that connected.
	Server bool
	// Speed divides the recorded gaps (2: twice as fast); 0 is 1. MaxSpeed
	// sends with no waits at all.
	Speed    float64
	MaxSpeed bool
	// Timeout bounds the wait for the peer (connect, accept, the first
	// datagram) and, after the last send, for its answers to end (TCP: its
	// EOF after ours). 0: 5 s.
	Timeout time.Duration
}

// ReplayResult says what a replay did.
type ReplayResult struct {
	SocketID      string
	BytesSent     int64
	MessagesSent  int64
	BytesReceived int64
	Duration      time.Duration // from the first send to the last
	Local, Remote netip.AddrPort
}

// ErrNothingToReplay: the side asked for sent nothing in the conversation.
var ErrNothingToReplay = errors.New("the conversation has nothing of that side to replay")

// Replay plays a side of conv through a new socket of sm (closed when the
// replay ends).
func Replay(ctx context.Context, sm *sockmgr.Manager, conv capture.Conversation, o ReplayOptions) (ReplayResult, error) {
	var msgs []capture.Message
	for _, m := range conv.Messages {
		if m.FromClient != o.Server && (len(m.Data) > 0 || conv.Protocol == capture.UDP) {
			msgs = append(msgs, m)
		}
	}
	if len(msgs) == 0 {
		return ReplayResult{}, &Error{Op: "replay", Err: fmt.Errorf("%w: the %s sent no data", ErrNothingToReplay, sideName(o.Server))}
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	speed := o.Speed
	if speed <= 0 {
		speed = 1
	}
	proto, fam := sockmgr.TCP, sockmgr.IPv4
	if conv.Protocol == capture.UDP {
		proto = sockmgr.UDP
	}
	if hp, err := sockmgr.ParseAddress(o.To); err == nil && hp.IP.Is6() && !hp.IP.Is4In6() {
		fam = sockmgr.IPv6
	}
	s, peer, cleanup, err := replaySocket(ctx, sm, proto, fam, o)
	if err != nil {
		return ReplayResult{}, err
	}
	defer cleanup()
	res := ReplayResult{SocketID: s.ID()}
	info := s.Info()
	res.Local, res.Remote = info.LocalAddr, info.RemoteAddr
	if peer.IsValid() {
		res.Remote = peer
	}

	// The peer's answers are read and counted while we send.
	var received atomic.Int64
	var wg sync.WaitGroup
	drainCtx, stopDrain := context.WithCancel(ctx)
	defer stopDrain()
	peerDone := make(chan struct{})
	wg.Go(func() {
		defer close(peerDone)
		blocking := sockmgr.Blocking
		for drainCtx.Err() == nil {
			r, err := s.Recv(drainCtx, sockmgr.RecvOptions{MaxBytes: 64 << 10, Timeout: &blocking})
			if err != nil || r.EOF {
				return
			}
			received.Add(int64(len(r.Data)))
		}
	})

	start := time.Now()
	first := msgs[0].At
	blocking := sockmgr.Blocking
	for _, m := range msgs {
		if !o.MaxSpeed {
			due := start.Add(time.Duration(float64(m.At.Sub(first)) / speed))
			if err := sleepUntil(ctx, due); err != nil {
				return res, err
			}
		}
		var n int
		if proto == sockmgr.UDP && peer.IsValid() {
			n, err = s.SendToAddr(ctx, m.Data, peer, sockmgr.SendOptions{Timeout: &blocking})
		} else {
			n, err = s.Send(ctx, m.Data, sockmgr.SendOptions{All: true, Timeout: &blocking})
		}
		res.BytesSent += int64(n)
		if err != nil {
			return res, &Error{Op: "replay", Err: err}
		}
		res.MessagesSent++
	}
	res.Duration = time.Since(start)
	// The answers: TCP until the peer's EOF after our own (or the timeout);
	// UDP for a moment.
	if proto == sockmgr.TCP {
		_ = s.Shutdown(sockmgr.ShutWrite)
		select {
		case <-peerDone:
		case <-time.After(o.Timeout):
		case <-ctx.Done():
		}
	} else {
		select {
		case <-time.After(min(o.Timeout, 200*time.Millisecond)):
		case <-ctx.Done():
		}
	}
	stopDrain()
	wg.Wait()
	res.BytesReceived = received.Load()
	return res, nil
}

// replaySocket makes the socket that plays: connected to To (client), or
// the connection accepted on To (TCP server; the listener is closed at
// once), or bound to To with the first datagram's source as the peer (UDP
// server).
func replaySocket(ctx context.Context, sm *sockmgr.Manager, proto sockmgr.Protocol, fam sockmgr.Family, o ReplayOptions) (*sockmgr.Socket, netip.AddrPort, func(), error) {
	fail := func(err error) (*sockmgr.Socket, netip.AddrPort, func(), error) {
		return nil, netip.AddrPort{}, nil, &Error{Op: "replay", Err: err}
	}
	s, err := sm.Create(o.Owner, sockmgr.CreateOptions{Protocol: proto, Family: fam, Labels: map[string]string{"sockd.replay": "true"}})
	if err != nil {
		return fail(err)
	}
	closeIt := func() { _ = s.Close() }
	timeout := o.Timeout
	if !o.Server {
		if err := s.Connect(ctx, o.To, &timeout); err != nil {
			closeIt()
			return fail(err)
		}
		return s, netip.AddrPort{}, closeIt, nil
	}
	if err := s.Bind(ctx, o.To); err != nil {
		closeIt()
		return fail(err)
	}
	if proto == sockmgr.UDP {
		// The first datagram says who the client is; it is the client's,
		// not an answer, so it is not counted.
		r, err := s.RecvFrom(ctx, sockmgr.RecvOptions{MaxBytes: 65535, Timeout: &timeout})
		if err != nil {
			closeIt()
			return fail(err)
		}
		return s, r.From, closeIt, nil
	}
	if err := s.Listen(1); err != nil {
		closeIt()
		return fail(err)
	}
	conn, err := s.Accept(ctx, sockmgr.AcceptOptions{Timeout: &timeout})
	closeIt() // one connection: the listener has done its job
	if err != nil {
		return fail(err)
	}
	return conn, netip.AddrPort{}, func() { _ = conn.Close() }, nil
}

// sleepUntil waits until t: a sleep to just before it, then a short spin,
// so that a replay keeps gaps to well under a millisecond.
func sleepUntil(ctx context.Context, t time.Time) error {
	const spin = 500 * time.Microsecond
	if d := time.Until(t) - spin; d > 0 {
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
	for time.Now().Before(t) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

func sideName(server bool) string {
	if server {
		return "server"
	}
	return "client"
}
