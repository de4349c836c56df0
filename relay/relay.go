package relay

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/sockmgr"
)

// link is a relay: it moves bytes between two connected sockets of sockd, both ways, with
// no client in the path: a is the downstream (client's) side, b the
// upstream; Upstream is a→b and Downstream b→a. Each direction runs in its
// own goroutine and holds its source's read turn and its destination's
// write turn while it runs, so the sockets' own callers queue behind it.
type link struct {
	m          *Manager
	id, name   string
	owner      string
	proto      sockmgr.Protocol
	proxy      *proxy      // nil: a relay of the caller's own sockets
	session    *udpSession // a UDP proxy's session: a is the proxy's shared socket
	a, b       *sockmgr.Socket
	clientAddr netip.AddrPort
	created    time.Time
	seq        uint64

	ctx    context.Context // ends the directions
	cancel context.CancelFunc
	// watchCtx ends when both directions have finished moving data: until
	// then a direction that has passed its EOF on keeps watching its source
	// for a reset (see tcpFlow.watch).
	watchCtx    context.Context
	watchCancel context.CancelFunc

	mu        sync.Mutex
	up, down  flow           // set once, under mu, when the relay starts
	own       []*faultState  // this relay's own faults, in the order added
	apps      []*application // the proxy's faults then its own, each rolled once
	stopping  bool
	how       endHow
	reason    string // the key for Stats.RelaysEndedBy
	why       string // the sentence of the relay_ended event
	flowsDone int

	wg   sync.WaitGroup // the directions' goroutines
	done chan struct{}  // closed once the relay has ended and its sockets are dealt with
}

// endHow is what a stopping relay does with its sockets.
type endHow uint8

const (
	// endKeep stops: bytes in flight are written out (within DrainTimeout)
	// or given back to their source socket; the sockets stay open.
	endKeep endHow = iota + 1
	// endClose writes out what is in flight (within DrainTimeout), then
	// closes both sockets gracefully (FIN).
	endClose
	// endReset drops what is in flight and resets both sockets (RST).
	endReset
)

// flow is one direction of a relay.
type flow interface {
	setPlan(p *plan)
	currentPlan() *plan
	path() Path
	// counts are the bytes and datagrams written to the destination, and
	// the bytes read from the source (for LIMIT_DATA).
	counts() (bytes, dgrams, read uint64)
}

// RelayOptions describe a relay of two of the caller's sockets.
type RelayOptions struct {
	// Name is optional; unique per owner among relays.
	Name string
	// A is the downstream socket (id or name), B the upstream one; both
	// connected, of the same protocol and owner.
	A, B string
	// Faults to start with.
	Faults []Fault
}

// CreateRelay relays two connected sockets that the scope sees. Neither may
// be part of a relay or proxy already, nor have a call in progress.
func (m *Manager) CreateRelay(ctx context.Context, scope sockmgr.Scope, opts RelayOptions) (RelayInfo, error) {
	const op = "create relay"
	if opts.Name != "" {
		if err := sockmgr.ValidateName(opts.Name); err != nil {
			return RelayInfo{}, wrap(op, Target{}, "", invalid("name", "%v", err))
		}
	}
	if opts.A == "" || opts.B == "" {
		return RelayInfo{}, wrap(op, Target{}, "", invalid("a", "both sockets (a and b) are required"))
	}
	a, err := m.sm.Get(scope, opts.A)
	if err != nil {
		return RelayInfo{}, wrap(op, Target{}, "", err)
	}
	b, err := m.sm.Get(scope, opts.B)
	if err != nil {
		return RelayInfo{}, wrap(op, Target{}, "", err)
	}
	if a == b {
		return RelayInfo{}, wrap(op, Target{}, "", invalid("b", "a socket cannot be relayed to itself"))
	}
	if a.Owner() != b.Owner() {
		return RelayInfo{}, wrap(op, Target{}, "", invalid("b", "the sockets belong to different owners"))
	}
	if a.Protocol() != b.Protocol() {
		return RelayInfo{}, wrap(op, Target{}, "", invalid("b", "socket a is %s and socket b is %s", a.Protocol(), b.Protocol()))
	}
	for _, s := range []*sockmgr.Socket{a, b} {
		if in := s.Info(); in.State != sockmgr.StateConnected || in.Connecting {
			return RelayInfo{}, wrap(op, Target{}, "", detail(sockmgr.ErrWrongState, "socket %s is %s %s: a relay needs connected sockets", in.ID, in.Protocol, in.State))
		}
	}
	faults, err := normalizeFaults(opts.Faults, a.Protocol(), "faults")
	if err != nil {
		return RelayInfo{}, wrap(op, Target{}, "", err)
	}
	turns, err := takeTurns(ctx, 0, a, b)
	if err != nil {
		return RelayInfo{}, wrap(op, Target{}, "", err)
	}
	r := m.newRelay(a.Owner(), opts.Name, a.Protocol(), nil, a, b)
	if err := m.registerRelay(r, a, b); err != nil {
		releaseTurns(turns)
		r.cancel()
		r.watchCancel()
		return RelayInfo{}, wrap(op, Target{}, "", err)
	}
	r.mu.Lock()
	for _, f := range faults {
		fs := newFaultState(f)
		r.own = append(r.own, fs)
		r.addAppLocked(fs, false)
	}
	r.mu.Unlock()
	r.startPair(turns)
	info := r.Info()
	m.sm.Publish(EventRelayCreated, r.owner, info, "")
	return info, nil
}

// takeTurns takes the read and write turns of each socket (a's then b's),
// waiting at most timeout for each; a turn that is held elsewhere is
// ErrSocketInUse.
func takeTurns(ctx context.Context, timeout time.Duration, socks ...*sockmgr.Socket) ([]*sockmgr.Turn, error) {
	var turns []*sockmgr.Turn
	for _, s := range socks {
		for _, take := range []func(context.Context, time.Duration) (*sockmgr.Turn, error){s.ReadTurn, s.WriteTurn} {
			t, err := take(ctx, timeout)
			if err != nil {
				releaseTurns(turns)
				if sockmgr.IsWouldBlock(err) || errors.Is(err, sockmgr.ErrTimeout) {
					return nil, detail(ErrSocketInUse, "a call is in progress on socket %s", s.ID())
				}
				return nil, err
			}
			turns = append(turns, t)
		}
	}
	return turns, nil
}

func releaseTurns(turns []*sockmgr.Turn) {
	for _, t := range turns {
		t.Release()
	}
}

func (m *Manager) newRelay(owner, name string, proto sockmgr.Protocol, proxy *proxy, a, b *sockmgr.Socket) *link {
	r := &link{m: m, owner: owner, name: name, proto: proto, proxy: proxy, a: a, b: b,
		created: time.Now(), done: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.watchCtx, r.watchCancel = context.WithCancel(r.ctx)
	return r
}

// startPair starts a relay of two sockets (TCP, or connected UDP) with the
// turns taken by takeTurns(a, b): a.read, a.write, b.read, b.write.
func (r *link) startPair(turns []*sockmgr.Turn) {
	aRead, aWrite, bRead, bWrite := turns[0], turns[1], turns[2], turns[3]
	if r.proto == sockmgr.TCP {
		up := newTCPFlow(r, Upstream, aRead, bWrite)
		down := newTCPFlow(r, Downstream, bRead, aWrite)
		r.mu.Lock()
		r.up, r.down = up, down
		r.replanLocked()
		r.mu.Unlock()
		r.wg.Add(2)
		go up.run()
		go down.run()
	} else {
		up := newUDPFlow(r, Upstream, &connSink{turn: bWrite})
		down := newUDPFlow(r, Downstream, &connSink{turn: aWrite})
		r.mu.Lock()
		r.up, r.down = up, down
		r.replanLocked()
		r.mu.Unlock()
		r.wg.Add(2)
		go up.runKernel(aRead)
		go down.runKernel(bRead)
	}
	r.m.totals.relaysCreated.Add(1)
	go r.supervise()
}

// flowFinished is called by a direction once it has moved its last byte.
func (r *link) flowFinished() {
	r.mu.Lock()
	r.flowsDone++
	both := r.flowsDone == 2
	r.mu.Unlock()
	if both {
		r.watchCancel()
	}
}

// terminate asks the relay to end; the first request wins. It returns at
// once: the relay's own goroutines do the rest (wait on r.done).
func (r *link) terminate(how endHow, reason, why string) {
	r.mu.Lock()
	if r.stopping {
		r.mu.Unlock()
		return
	}
	r.stopping, r.how, r.reason, r.why = true, how, reason, why
	for _, a := range r.apps {
		if a.timer != nil {
			a.timer.Stop()
		}
	}
	r.mu.Unlock()
	r.cancel()
}

// ending reports how a stopping relay ends (0 while it is not stopping).
func (r *link) ending() endHow {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopping {
		return 0
	}
	return r.how
}

// socketGone ends the relay because one of its sockets was closed by its
// owner: a proxy's connection closes its other side, a relay of the
// caller's own sockets leaves it open.
func (r *link) socketGone(s *sockmgr.Socket) {
	how := endKeep
	if r.proxy != nil {
		how = endClose
	}
	r.terminate(how, "closed", "socket "+s.ID()+" was closed")
}

// supervise waits for the directions, then closes what must be closed,
// forgets the relay and says so.
func (r *link) supervise() {
	defer r.m.wg.Done()
	r.wg.Wait()
	r.mu.Lock()
	if !r.stopping {
		// Both directions passed their EOF on: the connection is over.
		r.stopping, r.reason, r.why = true, "eof", "both sides closed"
		r.how = endKeep
		if r.proxy != nil {
			r.how = endClose
		}
	}
	for _, a := range r.apps {
		if a.timer != nil {
			a.timer.Stop()
		}
	}
	how, reason, why := r.how, r.reason, r.why
	r.mu.Unlock()
	r.cancel()
	if r.session != nil {
		r.session.ended(r)
	}
	socks := []*sockmgr.Socket{r.a, r.b}
	if r.session != nil {
		socks = socks[1:] // the proxy's shared socket stays
	}
	switch how {
	case endReset:
		for _, s := range socks {
			resetSocket(s)
		}
	case endClose:
		if r.proto == sockmgr.TCP && reason != "eof" {
			r.m.closeGracefully(socks...)
		} else {
			for _, s := range socks {
				_ = s.Close()
			}
		}
	}
	r.m.unregisterRelay(r, r.a, r.b)
	if r.proxy != nil {
		r.proxy.relayEnded(r)
	}
	r.m.countEnded(reason)
	info := r.Info()
	info.Ended = why
	info.UpstreamPath, info.DownstreamPath = PathDone, PathDone
	r.m.sm.Publish(EventRelayEnded, r.owner, info, why)
	close(r.done)
}

// resetSocket closes a TCP socket with SO_LINGER 0, so that the kernel
// sends an RST and drops what was unsent; a UDP socket just closes.
func resetSocket(s *sockmgr.Socket) {
	if s.Protocol() == sockmgr.TCP {
		_, _ = s.SetOption("SO_LINGER", 0)
	}
	_ = s.Close()
}

// Relay returns a snapshot of a relay the scope sees.
func (m *Manager) Relay(scope sockmgr.Scope, ref string) (RelayInfo, error) {
	r, err := m.lookupRelay(scope, ref)
	if err != nil {
		return RelayInfo{}, wrap("get relay", Target{}, "", err)
	}
	return r.Info(), nil
}

// DeleteRelay stops a relay and returns its last snapshot once it has
// ended. Without closeSockets the sockets stay open and usable: bytes the
// relay had read but not written are written out (within DrainTimeout) or
// given back to the socket they came from, so no byte is lost. With
// closeSockets both are closed (TCP: gracefully, FIN).
func (m *Manager) DeleteRelay(ctx context.Context, scope sockmgr.Scope, ref string, closeSockets bool) (RelayInfo, error) {
	r, err := m.lookupRelay(scope, ref)
	if err != nil {
		return RelayInfo{}, wrap("delete relay", Target{}, "", err)
	}
	how := endKeep
	if closeSockets {
		how = endClose
	}
	info := r.Info()
	r.terminate(how, "deleted", "deleted")
	select {
	case <-r.done:
	case <-ctx.Done():
		return info, wrap("delete relay", Target{Relay: r.id}, "", ctx.Err())
	}
	info = r.Info()
	info.Ended = "deleted"
	info.UpstreamPath, info.DownstreamPath = PathDone, PathDone
	return info, nil
}

// Info returns a snapshot of the relay.
func (r *link) Info() RelayInfo {
	info := RelayInfo{
		Seq: r.seq, ID: r.id, Name: r.name, Protocol: r.proto, A: r.a.ID(), B: r.b.ID(),
		ClientAddr: r.clientAddr, Owner: r.owner, CreateTime: r.created,
	}
	if r.proxy != nil {
		info.ProxyID = r.proxy.id
	}
	r.mu.Lock()
	for _, fs := range r.own {
		info.Faults = append(info.Faults, fs.snapshot())
	}
	for _, a := range r.apps {
		if a.on {
			info.ActiveFaults = append(info.ActiveFaults, a.fs.fault().Name)
		}
	}
	ended := r.stopping
	up, down := r.up, r.down
	r.mu.Unlock()
	if up != nil {
		info.BytesUpstream, info.DatagramsUpstream, _ = up.counts()
		info.BytesDownstream, info.DatagramsDownstream, _ = down.counts()
		info.UpstreamPath, info.DownstreamPath = up.path(), down.path()
	}
	if ended {
		info.UpstreamPath, info.DownstreamPath = PathDone, PathDone
	}
	return info
}

// flowOf returns the relay's direction.
func (r *link) flowOf(d Direction) flow {
	if d == Upstream {
		return r.up
	}
	return r.down
}

// addAppLocked rolls a fault for this relay and applies it if the roll
// says so. r.mu is held.
func (r *link) addAppLocked(fs *faultState, fromProxy bool) *application {
	a := newApplication(fs, fromProxy)
	if fromProxy {
		// The proxy's faults come first, in the proxy's order.
		i := 0
		for i < len(r.apps) && r.apps[i].fromProxy {
			i++
		}
		r.apps = append(r.apps[:i], append([]*application{a}, r.apps[i:]...)...)
	} else {
		r.apps = append(r.apps, a)
	}
	r.evaluateLocked(a)
	return a
}

// evaluateLocked turns an application on or off after its roll or its
// fault changed, and (re)arms its timers. r.mu is held.
func (r *link) evaluateLocked(a *application) {
	f := a.fs.fault()
	on := a.u < f.Prob()
	if on && !a.on {
		a.on = true
		if a.start.IsZero() {
			a.start = time.Now()
			if fl := r.flowOf(f.Direction); fl != nil {
				_, _, a.baseRead = fl.counts()
			}
		}
		if !a.counted {
			a.counted = true
			a.fs.applied.Add(1)
			r.m.totals.faultsApplied[f.Type].Add(1)
		}
	}
	if !on {
		a.on = false
	}
	r.armLocked(a, f)
}

// armLocked sets the application's timer from its fault: TIMEOUT (TCP)
// closes and RESET_PEER resets the connection once its timeout has passed
// since the fault first applied.
func (r *link) armLocked(a *application, f Fault) {
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	if !a.on || r.stopping || r.proto != sockmgr.TCP {
		return
	}
	var after time.Duration
	var how endHow
	switch q := f.Params.(type) {
	case TimeoutParams:
		if q.Timeout == 0 {
			return // stalls forever
		}
		after, how = q.Timeout, endClose
	case ResetPeerParams:
		after, how = q.Timeout, endReset
	default:
		return
	}
	wait := max(0, time.Until(a.start.Add(after)))
	name, typ := f.Name, f.Type
	a.timer = time.AfterFunc(wait, func() {
		r.terminate(how, "fault", "fault "+name+" ("+typ.String()+") after "+after.String())
	})
}

// replanLocked gives both directions the plan of the faults that apply now.
// r.mu is held.
func (r *link) replanLocked() {
	if r.up == nil {
		return
	}
	for _, d := range []Direction{Upstream, Downstream} {
		p := buildPlan(r.ctx, r.apps, d)
		src, dst := r.a, r.b
		if d == Downstream {
			src, dst = r.b, r.a
		}
		if p.srcTap = r.m.tapOf(src); p.srcTap != nil {
			p.srcPeer = r.peerOf(src)
		}
		if p.dstTap = r.m.tapOf(dst); p.dstTap != nil {
			p.dstPeer = r.peerOf(dst)
		}
		if p.srcTap != nil || p.dstTap != nil {
			p.faulted = true // UDP: through the writer, which records
		}
		r.flowOf(d).setPlan(p)
	}
}

// peerOf is the address a socket of the relay exchanges with: its remote
// address, or for a UDP proxy's shared socket the session's client.
func (r *link) peerOf(s *sockmgr.Socket) netip.AddrPort {
	if r.session != nil && s == r.a {
		return r.clientAddr
	}
	return s.Info().RemoteAddr
}

// removeAppLocked forgets the application of fs. r.mu is held.
func (r *link) removeAppLocked(fs *faultState) {
	for i, a := range r.apps {
		if a.fs == fs {
			if a.timer != nil {
				a.timer.Stop()
			}
			r.apps = append(r.apps[:i], r.apps[i+1:]...)
			return
		}
	}
}

// normalizeFaults checks a list of faults and their names' uniqueness.
func normalizeFaults(fs []Fault, proto sockmgr.Protocol, field string) ([]Fault, error) {
	out := make([]Fault, 0, len(fs))
	seen := map[string]bool{}
	for i, f := range fs {
		nf, err := normalizeFault(f, proto, field+"["+itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		if seen[nf.Name] {
			return nil, &Error{Fault: nf.Name, Err: detail(ErrFaultExists, "two faults are named %q", nf.Name)}
		}
		seen[nf.Name] = true
		out = append(out, nf)
	}
	return out, nil
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// closeGracefully closes TCP sockets so that their peers read everything
// and then EOF: shutdown(SHUT_WR) first (the FIN follows the data), then
// read and discard until each peer closes too (at most CloseLinger), since
// closing with unread input would send an RST instead of the FIN and drop
// what the peer has not acknowledged yet.
func (m *Manager) closeGracefully(socks ...*sockmgr.Socket) {
	for _, s := range socks {
		_ = s.Shutdown(sockmgr.ShutWrite)
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.CloseLinger)
	defer cancel()
	for _, s := range socks {
		lingerRead(ctx, s)
		_ = s.Close()
	}
}

// lingerRead discards a socket's input until EOF, an error, or ctx ends.
func lingerRead(ctx context.Context, s *sockmgr.Socket) {
	t, err := s.ReadTurn(ctx, sockmgr.Blocking)
	if err != nil {
		return
	}
	defer t.Release()
	_ = t.Wait(ctx, func(fd int) bool {
		for {
			n, err := recvStream(fd, nil, maxPipeSize, unix.MSG_TRUNC)
			switch {
			case err == unix.EINTR:
				continue
			case err == unix.EAGAIN:
				return false
			case err != nil || n == 0:
				return true
			}
		}
	})
}
