package relay

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockd/sockd/sockmgr"
)

// proxy is a listening socket (TCP) or a bound socket (UDP) whose clients
// are relayed to an upstream address: each accepted connection gets a new
// upstream socket and a relay; each UDP client address gets a session (an
// upstream socket and a relay from the shared socket). Every socket it
// makes is an ordinary socket of its owner, made through sockmgr, so the
// owner's limits, leases and the address policy apply to them.
type proxy struct {
	m           *Manager
	id, name    string
	owner       string
	proto       sockmgr.Protocol
	family      sockmgr.Family // the listener's
	leaseID     string
	backlog     int
	sessionIdle time.Duration
	onSocket    func(*sockmgr.Socket)
	created     time.Time
	seq         uint64

	// updMu orders the changes that open or close the listener (update,
	// delete, the listener's loss), which cannot hold mu while they wait.
	updMu sync.Mutex

	mu         sync.Mutex
	listenAddr string // as given, then the bound address (port 0 resolved)
	upstream   string
	upFamily   sockmgr.Family
	enabled    bool
	deleted    bool
	faults     []*faultState
	relays     map[*link]struct{}
	sessions   map[netip.AddrPort]*udpSession
	run        *proxyRun // the open listener and its goroutines; nil while disabled

	bytes  [3]atomic.Uint64 // by Direction, over every relay that ever was
	total  atomic.Uint64
	upErrs atomic.Uint64
}

// proxyRun is one opening of a proxy's listener.
type proxyRun struct {
	ctx      context.Context
	cancel   context.CancelFunc
	listener *sockmgr.Socket
	wg       sync.WaitGroup
}

// ProxyOptions describe a new proxy, as sockd.v1.CreateProxyRequest.
type ProxyOptions struct {
	// Name is optional; unique per owner among proxies.
	Name string
	// Protocol is TCP (default) or UDP.
	Protocol sockmgr.Protocol
	// ListenAddress is where to listen ("127.0.0.1:0": the kernel picks a
	// port, which ProxyInfo.ListenAddress reports). The bind policy applies.
	ListenAddress string
	// UpstreamAddress is where to relay to, "host:port"; the connect policy
	// applies now and, after DNS, at every connect.
	UpstreamAddress string
	// Disabled creates it without a listener (Enable opens it).
	Disabled bool
	// Faults to start with.
	Faults []Fault
	// SessionIdleTimeout closes a UDP session idle this long (0:
	// DefaultSessionIdleTimeout).
	SessionIdleTimeout time.Duration
	// LeaseID puts the proxy's sockets under a lease of the owner; when the
	// lease lapses they close, and the proxy is deleted.
	LeaseID string
	// Backlog is the listener's listen(2) backlog (0: 128).
	Backlog int
	// OnSocket, if set, is called with every socket the proxy makes (its
	// listener, each connection's two legs, each UDP session's socket)
	// before any byte moves through it: where the service turns capture on
	// for a proxy created with capture settings.
	OnSocket func(s *sockmgr.Socket)
}

// ProxyUpdate changes a proxy; nil fields stay as they are.
type ProxyUpdate struct {
	Enabled         *bool
	UpstreamAddress *string
}

// addressFamily says which family a socket for the address needs: IPv6
// for an IPv6 literal, else IPv4 (host names resolve to IPv4).
func addressFamily(address, field string) (sockmgr.Family, error) {
	hp, err := sockmgr.ParseAddress(address)
	if err != nil {
		return 0, &Error{Field: field, Err: err}
	}
	if hp.IP.IsValid() && hp.IP.Is6() && !hp.IP.Is4In6() {
		return sockmgr.IPv6, nil
	}
	return sockmgr.IPv4, nil
}

// CreateProxy makes a proxy for owner and, unless Disabled, opens its
// listener.
func (m *Manager) CreateProxy(ctx context.Context, owner string, opts ProxyOptions) (ProxyInfo, error) {
	const op = "create proxy"
	fail := func(err error) (ProxyInfo, error) { return ProxyInfo{}, wrap(op, Target{}, "", err) }
	if opts.Name != "" {
		if err := sockmgr.ValidateName(opts.Name); err != nil {
			return fail(invalid("name", "%v", err))
		}
	}
	proto := opts.Protocol
	switch proto {
	case 0:
		proto = sockmgr.TCP
	case sockmgr.TCP, sockmgr.UDP:
	default:
		return fail(invalid("protocol", "must be TCP or UDP"))
	}
	if opts.ListenAddress == "" {
		return fail(invalid("listen_address", "required"))
	}
	if opts.UpstreamAddress == "" {
		return fail(invalid("upstream_address", "required"))
	}
	fam, err := addressFamily(opts.ListenAddress, "listen_address")
	if err != nil {
		return fail(err)
	}
	upFam, err := addressFamily(opts.UpstreamAddress, "upstream_address")
	if err != nil {
		return fail(err)
	}
	if _, err := m.sm.CheckAddress(ctx, sockmgr.OpConnect, owner, proto, upFam, opts.UpstreamAddress); err != nil {
		return fail(&Error{Field: "upstream_address", Err: err})
	}
	if opts.Disabled {
		// Bind checks the listen address when the listener opens; check it
		// now too, so that a proxy that could never open is refused.
		if _, err := m.sm.CheckAddress(ctx, sockmgr.OpBind, owner, proto, fam, opts.ListenAddress); err != nil {
			return fail(&Error{Field: "listen_address", Err: err})
		}
	}
	if opts.SessionIdleTimeout < 0 {
		return fail(invalid("session_idle_timeout", "must not be negative"))
	}
	if opts.Backlog < 0 {
		return fail(invalid("backlog", "must not be negative"))
	}
	faults, err := normalizeFaults(opts.Faults, proto, "faults")
	if err != nil {
		return fail(err)
	}
	p := &proxy{
		m: m, name: opts.Name, owner: owner, proto: proto, family: fam, leaseID: opts.LeaseID,
		backlog: opts.Backlog, sessionIdle: opts.SessionIdleTimeout, onSocket: opts.OnSocket, created: time.Now(),
		listenAddr: opts.ListenAddress, upstream: opts.UpstreamAddress, upFamily: upFam,
		relays: map[*link]struct{}{}, sessions: map[netip.AddrPort]*udpSession{},
	}
	if p.backlog == 0 {
		p.backlog = DefaultAcceptBacklog
	}
	if p.sessionIdle == 0 {
		p.sessionIdle = DefaultSessionIdleTimeout
	}
	for _, f := range faults {
		p.faults = append(p.faults, newFaultState(f))
	}
	if err := m.registerProxy(p); err != nil {
		return fail(err)
	}
	if !opts.Disabled {
		p.updMu.Lock()
		p.mu.Lock()
		err := p.openLocked(ctx)
		if err == nil {
			p.enabled = true
		}
		p.mu.Unlock()
		p.updMu.Unlock()
		if err != nil {
			m.unregisterProxy(p)
			return fail(err)
		}
	}
	info := p.Info()
	m.sm.Publish(EventProxyCreated, owner, info, "")
	return info, nil
}

func (m *Manager) registerProxy(p *proxy) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return sockmgr.ErrManagerClosed
	}
	if p.name != "" {
		if _, taken := m.proxyNames[ownerName{p.owner, p.name}]; taken {
			return &Error{Field: "name", Err: detail(sockmgr.ErrNameInUse, "a proxy named %q exists", p.name)}
		}
	}
	for {
		p.id = newID()
		if _, taken := m.proxies[p.id]; !taken {
			break
		}
	}
	m.seq++
	p.seq = m.seq
	m.proxies[p.id] = p
	if p.name != "" {
		m.proxyNames[ownerName{p.owner, p.name}] = p
	}
	return nil
}

// unregisterProxy forgets a proxy; it reports false if it was gone already.
func (m *Manager) unregisterProxy(p *proxy) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proxies[p.id] != p {
		return false
	}
	delete(m.proxies, p.id)
	if p.name != "" && m.proxyNames[ownerName{p.owner, p.name}] == p {
		delete(m.proxyNames, ownerName{p.owner, p.name})
	}
	return true
}

// openLocked makes, binds and opens the listener and starts its goroutines.
// p.mu is held (the goroutines wait for it before they make relays).
func (p *proxy) openLocked(ctx context.Context) error {
	m := p.m
	s, err := m.sm.Create(p.owner, sockmgr.CreateOptions{Protocol: p.proto, Family: p.family, LeaseID: p.leaseID})
	if err != nil {
		return err
	}
	p.madeSocket(s)
	if p.proto == sockmgr.TCP {
		// A re-enabled proxy binds its port again while connections of the
		// last opening may sit in TIME_WAIT.
		_, _ = s.SetOption("SO_REUSEADDR", 1)
	}
	if err := s.Bind(ctx, p.listenAddr); err != nil {
		_ = s.Close()
		return &Error{Field: "listen_address", Err: err}
	}
	if p.proto == sockmgr.TCP {
		if err := s.Listen(p.backlog); err != nil {
			_ = s.Close()
			return err
		}
	}
	var rd *sockmgr.Turn
	if p.proto == sockmgr.UDP {
		if rd, err = s.ReadTurn(ctx, 0); err != nil {
			_ = s.Close()
			return err
		}
	}
	p.listenAddr = s.Info().LocalAddr.String()
	run := &proxyRun{listener: s}
	run.ctx, run.cancel = context.WithCancel(context.Background())
	m.mu.Lock()
	m.sockets[s.ID()] = socketUse{proxy: p}
	m.mu.Unlock()
	p.run = run
	if p.proto == sockmgr.TCP {
		p.goRun(run, p.acceptLoop)
	} else {
		p.goRun(run, func(run *proxyRun) { p.demux(run, rd) })
		p.goRun(run, p.reapSessions)
	}
	return nil
}

// goRun runs f in a goroutine counted by the run and the manager.
func (p *proxy) goRun(run *proxyRun, f func(*proxyRun)) {
	run.wg.Add(1)
	p.m.wg.Add(1)
	go func() {
		defer p.m.wg.Done()
		defer run.wg.Done()
		f(run)
	}()
}

// closeRun closes the listener of one opening and waits for its goroutines.
func (p *proxy) closeRun(run *proxyRun) {
	run.cancel()
	_ = run.listener.Close()
	run.wg.Wait()
	p.m.mu.Lock()
	if u := p.m.sockets[run.listener.ID()]; u.proxy == p && u.relay == nil {
		delete(p.m.sockets, run.listener.ID())
	}
	p.m.mu.Unlock()
}

// stop closes the listener and ends every connection; it returns the
// relays it ended.
func (p *proxy) stop(reason string, how endHow) []*link {
	p.mu.Lock()
	run := p.run
	p.run, p.enabled = nil, false
	if reason != "disabled" {
		p.deleted = true
	}
	relays := make([]*link, 0, len(p.relays))
	for r := range p.relays {
		relays = append(relays, r)
	}
	p.mu.Unlock()
	if run != nil {
		p.closeRun(run)
	}
	why := "proxy " + reason
	for _, r := range relays {
		r.terminate(how, "proxy", why)
	}
	return relays
}

// relayEnded forgets an ended relay of the proxy.
func (p *proxy) relayEnded(r *link) {
	p.mu.Lock()
	delete(p.relays, r)
	p.mu.Unlock()
}

// Proxy returns a snapshot of a proxy the scope sees.
func (m *Manager) Proxy(scope sockmgr.Scope, ref string) (ProxyInfo, error) {
	p, err := m.lookupProxy(scope, ref)
	if err != nil {
		return ProxyInfo{}, wrap("get proxy", Target{}, "", err)
	}
	return p.Info(), nil
}

// UpdateProxy changes a proxy: Enabled opens or closes its listener
// (disabling resets its connections; enabling binds the same address
// again); UpstreamAddress sends new connections elsewhere (the present ones
// stay where they are).
func (m *Manager) UpdateProxy(ctx context.Context, scope sockmgr.Scope, ref string, u ProxyUpdate) (ProxyInfo, error) {
	const op = "update proxy"
	p, err := m.lookupProxy(scope, ref)
	if err != nil {
		return ProxyInfo{}, wrap(op, Target{}, "", err)
	}
	target := Target{Proxy: p.id}
	var upFam sockmgr.Family
	if u.UpstreamAddress != nil {
		if *u.UpstreamAddress == "" {
			return ProxyInfo{}, wrap(op, target, "", invalid("upstream_address", "required"))
		}
		if upFam, err = addressFamily(*u.UpstreamAddress, "upstream_address"); err != nil {
			return ProxyInfo{}, wrap(op, target, "", err)
		}
		if _, err := m.sm.CheckAddress(ctx, sockmgr.OpConnect, p.owner, p.proto, upFam, *u.UpstreamAddress); err != nil {
			return ProxyInfo{}, wrap(op, target, "", &Error{Field: "upstream_address", Err: err})
		}
	}
	p.updMu.Lock()
	defer p.updMu.Unlock()
	var changes []string
	p.mu.Lock()
	if p.deleted {
		p.mu.Unlock()
		return ProxyInfo{}, wrap(op, target, "", ErrProxyNotFound)
	}
	if u.UpstreamAddress != nil && *u.UpstreamAddress != p.upstream {
		p.upstream, p.upFamily = *u.UpstreamAddress, upFam
		changes = append(changes, "upstream "+p.upstream)
	}
	enable := u.Enabled != nil && *u.Enabled && !p.enabled
	disable := u.Enabled != nil && !*u.Enabled && p.enabled
	if enable {
		if err := p.openLocked(ctx); err != nil {
			p.mu.Unlock()
			return ProxyInfo{}, wrap(op, target, "", err)
		}
		p.enabled = true
		changes = append(changes, "enabled")
	}
	p.mu.Unlock()
	if disable {
		for _, r := range p.stop("disabled", endReset) {
			select {
			case <-r.done:
			case <-ctx.Done():
			}
		}
		changes = append(changes, "disabled")
	}
	info := p.Info()
	if len(changes) > 0 {
		m.sm.Publish(EventProxyUpdated, p.owner, info, joinComma(changes))
	}
	return info, nil
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}

// DeleteProxy closes a proxy's listener and its connections (gracefully)
// and forgets it. It returns the last snapshot once its relays have ended
// (or ctx ends).
func (m *Manager) DeleteProxy(ctx context.Context, scope sockmgr.Scope, ref string) (ProxyInfo, error) {
	p, err := m.lookupProxy(scope, ref)
	if err != nil {
		return ProxyInfo{}, wrap("delete proxy", Target{}, "", err)
	}
	return p.delete(ctx, "deleted")
}

func (p *proxy) delete(ctx context.Context, reason string) (ProxyInfo, error) {
	p.updMu.Lock()
	defer p.updMu.Unlock()
	if !p.m.unregisterProxy(p) {
		return ProxyInfo{}, wrap("delete proxy", Target{Proxy: p.id}, "", ErrProxyNotFound)
	}
	relays := p.stop(reason, endClose)
	for _, r := range relays {
		select {
		case <-r.done:
		case <-ctx.Done():
		}
	}
	info := p.Info()
	p.m.sm.Publish(EventProxyDeleted, p.owner, info, reason)
	return info, nil
}

// listenerGone handles the listener closed by someone else (its owner, by
// hand, or its lease): the proxy turns disabled and its connections go on,
// as those of a plain listening socket do; if its lease has lapsed, the
// proxy is deleted.
func (p *proxy) listenerGone(run *proxyRun) {
	p.m.wg.Add(1)
	go func() {
		defer p.m.wg.Done()
		p.updMu.Lock()
		p.mu.Lock()
		if p.run != run {
			p.mu.Unlock()
			p.updMu.Unlock()
			return
		}
		p.run, p.enabled = nil, false
		p.mu.Unlock()
		p.closeRun(run)
		p.updMu.Unlock()
		if p.leaseID != "" {
			if _, err := p.m.sm.Lease(sockmgr.Scope{Owner: p.owner}, p.leaseID); err != nil {
				_, _ = p.delete(context.Background(), "lease ended")
				return
			}
		}
		p.m.sm.Publish(EventProxyUpdated, p.owner, p.Info(), "listener closed: disabled")
	}()
}

// Info returns a snapshot of the proxy.
func (p *proxy) Info() ProxyInfo {
	info := ProxyInfo{
		Seq: p.seq, ID: p.id, Name: p.name, Protocol: p.proto, Owner: p.owner, CreateTime: p.created,
		SessionIdleTimeout: p.sessionIdle, LeaseID: p.leaseID,
		TotalConnections: p.total.Load(), UpstreamErrors: p.upErrs.Load(),
		BytesUpstream: p.bytes[Upstream].Load(), BytesDownstream: p.bytes[Downstream].Load(),
	}
	p.mu.Lock()
	info.ListenAddress, info.UpstreamAddress, info.Enabled = p.listenAddr, p.upstream, p.enabled
	if p.run != nil {
		info.ListenerID = p.run.listener.ID()
	}
	info.Connections = len(p.relays)
	for _, fs := range p.faults {
		info.Faults = append(info.Faults, fs.snapshot())
	}
	p.mu.Unlock()
	return info
}

// upstreamFailed counts a failed upstream connect (or UDP session).
func (p *proxy) upstreamFailed(err error) {
	p.upErrs.Add(1)
	p.m.totals.upstreamErrs.Add(1)
	p.m.sm.Publish(EventUpstreamError, p.owner, p.Info(), err.Error())
}

// dialUpstream makes and connects a socket to the proxy's upstream now.
func (p *proxy) dialUpstream(ctx context.Context) (*sockmgr.Socket, error) {
	p.mu.Lock()
	upstream, fam := p.upstream, p.upFamily
	p.mu.Unlock()
	s, err := p.m.sm.Create(p.owner, sockmgr.CreateOptions{Protocol: p.proto, Family: fam, LeaseID: p.leaseID})
	if err != nil {
		return nil, err
	}
	p.madeSocket(s)
	if p.proto == sockmgr.TCP {
		// As Go's net and toxiproxy: the relay writes what has come as it
		// comes, and Nagle's wait for an ACK would add delay (up to a
		// delayed ACK's 40 ms) to requests written in two parts.
		_, _ = s.SetOption("TCP_NODELAY", 1)
	}
	timeout := p.m.cfg.ConnectTimeout
	if err := s.Connect(ctx, upstream, &timeout); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// acceptLoop accepts the proxy's connections until the listener closes.
func (p *proxy) acceptLoop(run *proxyRun) {
	blocking := sockmgr.Blocking
	var zzz sleeper
	defer zzz.stop()
	for {
		c, err := run.listener.Accept(run.ctx, sockmgr.AcceptOptions{Timeout: &blocking})
		if err != nil {
			if run.ctx.Err() != nil {
				return
			}
			if errors.Is(err, sockmgr.ErrNotFound) {
				p.listenerGone(run)
				return
			}
			// A limit (sockets per owner) or a kernel shortage (EMFILE):
			// the kernel's backlog keeps the connections while we wait.
			if _, err := zzz.sleep(100*time.Millisecond, run.ctx, run.ctx); err != nil {
				return
			}
			continue
		}
		p.total.Add(1)
		p.m.totals.proxyConns.Add(1)
		p.goRun(run, func(run *proxyRun) { p.connect(run, c) })
	}
}

// connect connects an accepted connection's upstream and relays the two.
// A failed upstream is counted and the client's connection reset.
func (p *proxy) connect(run *proxyRun, down *sockmgr.Socket) {
	p.madeSocket(down)
	_, _ = down.SetOption("TCP_NODELAY", 1)
	up, err := p.dialUpstream(run.ctx)
	if err != nil {
		resetSocket(down)
		if run.ctx.Err() == nil {
			p.upstreamFailed(err)
		}
		return
	}
	abort := func() {
		resetSocket(down)
		resetSocket(up)
	}
	turns, err := takeTurns(run.ctx, 0, down, up)
	if err != nil {
		abort()
		return
	}
	p.mu.Lock()
	if p.run != run {
		p.mu.Unlock()
		releaseTurns(turns)
		abort()
		return
	}
	r := p.m.newRelay(p.owner, "", sockmgr.TCP, p, down, up)
	if err := p.m.registerRelay(r, down, up); err != nil {
		p.mu.Unlock()
		releaseTurns(turns)
		r.cancel()
		abort()
		return
	}
	p.relays[r] = struct{}{}
	r.mu.Lock()
	for _, fs := range p.faults {
		r.addAppLocked(fs, true)
	}
	r.mu.Unlock()
	p.mu.Unlock()
	r.startPair(turns)
	p.m.sm.Publish(EventRelayCreated, p.owner, r.Info(), "")
}

// madeSocket tells the proxy's creator about a socket it made.
func (p *proxy) madeSocket(s *sockmgr.Socket) {
	if p.onSocket != nil {
		p.onSocket(s)
	}
}
