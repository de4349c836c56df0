package relay

import (
	"errors"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/internal/sockaddr"
	"github.com/sockd/sockd/sockmgr"
)

// A UDP proxy has one bound socket. Its demux goroutine receives every
// datagram (recvmmsg, with the sources) and hands each client's to that
// client's session: a socket connected to the upstream, made at the
// client's first datagram (the connect policy is checked then, after DNS),
// and a relay whose upstream direction is fed by the demux and whose
// downstream direction reads the session's socket and sends from the shared
// socket to the client. A session idle for SessionIdleTimeout is closed.

type udpSession struct {
	p      *proxy
	client netip.AddrPort
	relay  *link
	up     *udpFlow
	last   atomic.Int64 // unix ns of the last datagram either way
}

// ended is called by the session's relay once it has ended.
func (s *udpSession) ended(r *link) {
	s.up.endExternal()
	s.p.forgetSession(s)
}

func (p *proxy) forgetSession(s *udpSession) {
	p.mu.Lock()
	if p.sessions[s.client] == s {
		delete(p.sessions, s.client)
	}
	p.mu.Unlock()
}

// demux receives the shared socket's datagrams until it closes.
func (p *proxy) demux(run *proxyRun, rd *sockmgr.Turn) {
	defer rd.Release()
	rr := newDgramReader(rd, true)
	defer rr.release()
	var group [][]byte
	var zzz sleeper
	defer zzz.stop()
	for {
		n, err := rr.recv(run.ctx)
		if err != nil {
			switch {
			case run.ctx.Err() != nil:
				return
			case errors.Is(err, sockmgr.ErrNotFound):
				p.listenerGone(run)
				return
			case errors.Is(err, unix.ECONNREFUSED):
				continue
			}
			if _, err := zzz.sleep(10*time.Millisecond, run.ctx, run.ctx); err != nil {
				return
			}
			continue
		}
		bytes := 0
		for i := 0; i < n; {
			from := rr.b.addrs[i].AddrPort()
			group = group[:0]
			j := i
			for ; j < n && rr.b.addrs[j].AddrPort() == from; j++ {
				d := rr.b.data(j)
				group = append(group, d)
				bytes += len(d)
			}
			p.deliverFrom(run, from, group)
			i = j
		}
		clear(group)
		rd.Count(bytes, n)
	}
}

// deliverFrom passes a client's datagrams to its session, making one if
// needed (or again, if the last one has just ended).
func (p *proxy) deliverFrom(run *proxyRun, from netip.AddrPort, ds [][]byte) {
	for range 2 {
		s := p.session(run, from)
		if s == nil {
			return // could not be made; counted as an upstream error
		}
		err := s.up.deliverExternal(ds)
		if err != errStopped {
			var se *sockErr
			if err != nil && errors.Is(err, sockmgr.ErrNotFound) && errors.As(err, &se) {
				s.relay.socketGone(se.s)
			}
			return
		}
		p.forgetSession(s)
	}
}

// session returns the client's session, made now if it has none.
func (p *proxy) session(run *proxyRun, client netip.AddrPort) *udpSession {
	p.mu.Lock()
	s := p.sessions[client]
	p.mu.Unlock()
	if s != nil {
		return s
	}
	sock, err := p.dialUpstream(run.ctx)
	if err != nil {
		if run.ctx.Err() == nil {
			p.upstreamFailed(err)
		}
		return nil
	}
	turns, err := takeTurns(run.ctx, 0, sock)
	if err != nil {
		_ = sock.Close()
		return nil
	}
	rd, wr := turns[0], turns[1]
	p.mu.Lock()
	if p.run != run {
		p.mu.Unlock()
		releaseTurns(turns)
		_ = sock.Close()
		return nil
	}
	r := p.m.newRelay(p.owner, "", sockmgr.UDP, p, run.listener, sock)
	r.clientAddr = client
	s = &udpSession{p: p, client: client, relay: r}
	s.last.Store(time.Now().UnixNano())
	r.session = s
	if err := p.m.registerRelay(r, sock); err != nil {
		p.mu.Unlock()
		releaseTurns(turns)
		r.cancel()
		_ = sock.Close()
		return nil
	}
	up := newUDPFlow(r, Upstream, &connSink{turn: wr})
	down := newUDPFlow(r, Downstream, &addrSink{sock: run.listener, to: sockaddr.From(client)})
	up.activity, down.activity = &s.last, &s.last
	s.up = up
	r.mu.Lock()
	r.up, r.down = up, down
	for _, fs := range p.faults {
		r.addAppLocked(fs, true)
	}
	r.replanLocked()
	r.mu.Unlock()
	p.relays[r] = struct{}{}
	p.sessions[client] = s
	p.mu.Unlock()
	p.total.Add(1)
	p.m.totals.proxyConns.Add(1)
	p.m.totals.relaysCreated.Add(1)
	r.wg.Add(1)
	go down.runKernel(rd)
	go r.supervise()
	p.m.sm.Publish(EventRelayCreated, p.owner, r.Info(), "")
	return s
}

// reapSessions closes sessions idle for longer than SessionIdleTimeout.
func (p *proxy) reapSessions(run *proxyRun) {
	every := min(max(p.sessionIdle/4, 10*time.Millisecond), time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-run.ctx.Done():
			return
		case now := <-t.C:
			var idle []*udpSession
			p.mu.Lock()
			for _, s := range p.sessions {
				if now.Sub(time.Unix(0, s.last.Load())) > p.sessionIdle {
					idle = append(idle, s)
				}
			}
			p.mu.Unlock()
			for _, s := range idle {
				s.relay.terminate(endClose, "idle", "session idle for "+p.sessionIdle.String())
			}
		}
	}
}
