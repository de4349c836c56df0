package relay

import (
	"cmp"
	"crypto/rand"
	"encoding/base32"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockd/sockd/sockmgr"
)

// Defaults of Config.
const (
	DefaultLatencyBuffer      = 8 << 20
	DefaultDrainTimeout       = time.Second
	DefaultCloseLinger        = time.Second
	DefaultConnectTimeout     = 10 * time.Second
	DefaultSessionIdleTimeout = 60 * time.Second
	DefaultAcceptBacklog      = sockmgr.DefaultBacklog
)

// Config tunes a Manager. The zero value works.
type Config struct {
	// LatencyBuffer bounds the bytes one direction holds in user space
	// while faults delay them (TCP: the reader waits; UDP: datagrams beyond
	// it are dropped, as by a router's full queue). Under a latency L a TCP
	// direction moves at most LatencyBuffer/L bytes per second.
	// 0: DefaultLatencyBuffer.
	LatencyBuffer int
	// DrainTimeout bounds how long a stopping relay keeps writing the bytes
	// it holds; what is left then goes back to its socket (DeleteRelay) or
	// is dropped (the sockets close). 0: DefaultDrainTimeout.
	DrainTimeout time.Duration
	// CloseLinger bounds a graceful close of a proxy's connection: FIN to
	// both sides, then reading (and discarding) until they close too, so
	// that unread input does not turn the close into a reset. 0:
	// DefaultCloseLinger.
	CloseLinger time.Duration
	// ConnectTimeout bounds a proxy's connect to its upstream. 0:
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// IdlePipes is how many splice pipes are kept for reuse; 0: 16.
	IdlePipes int
	// Tap, if set, says where a socket's traffic is recorded (nil, untyped:
	// nowhere); see Tap and Manager.Retap.
	Tap func(s *sockmgr.Socket) Tap
}

// Manager holds the relays and proxies made over one sockmgr.Manager. Like
// sockmgr's sockets, each belongs to its creator: another owner's relay or
// proxy is "not found". All methods are safe for concurrent use.
type Manager struct {
	sm    *sockmgr.Manager
	cfg   Config
	pipes *pipePool

	mu         sync.Mutex
	closed     bool
	seq        uint64
	proxies    map[string]*proxy
	proxyNames map[ownerName]*proxy
	relays     map[string]*link
	relayNames map[ownerName]*link
	sockets    map[string]socketUse // socket id → who uses it
	wg         sync.WaitGroup       // every relay's and proxy's goroutines

	totals totals
}

type ownerName struct{ owner, name string }

// socketUse is what a socket belongs to.
type socketUse struct {
	proxy *proxy
	relay *link
}

// totals are the counters behind Stats.
type totals struct {
	bytes         [3]atomic.Uint64 // by Direction
	dgrams        [3]atomic.Uint64
	faultsApplied [len(faultTypeNames)]atomic.Uint64
	relaysCreated atomic.Uint64
	proxyConns    atomic.Uint64
	upstreamErrs  atomic.Uint64
	mu            sync.Mutex
	endedBy       map[string]uint64
}

// New returns a manager of relays and proxies over sm. Close it before sm.
func New(sm *sockmgr.Manager, cfg Config) *Manager {
	cfg.LatencyBuffer = cmp.Or(cfg.LatencyBuffer, DefaultLatencyBuffer)
	cfg.DrainTimeout = cmp.Or(cfg.DrainTimeout, DefaultDrainTimeout)
	cfg.CloseLinger = cmp.Or(cfg.CloseLinger, DefaultCloseLinger)
	cfg.ConnectTimeout = cmp.Or(cfg.ConnectTimeout, DefaultConnectTimeout)
	cfg.IdlePipes = cmp.Or(cfg.IdlePipes, 16)
	m := &Manager{
		sm:         sm,
		cfg:        cfg,
		pipes:      newPipePool(cfg.IdlePipes),
		proxies:    map[string]*proxy{},
		proxyNames: map[ownerName]*proxy{},
		relays:     map[string]*link{},
		relayNames: map[ownerName]*link{},
		sockets:    map[string]socketUse{},
	}
	m.totals.endedBy = map[string]uint64{}
	return m
}

// Sockets returns the socket manager the relays and proxies are made over.
func (m *Manager) Sockets() *sockmgr.Manager { return m.sm }

// idEncoding and IDs are sockmgr's: 15 random bytes in lower-case base32.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func newID() string {
	var b [15]byte
	_, _ = rand.Read(b[:]) // never fails (Go 1.24+)
	return idEncoding.EncodeToString(b[:])
}

// OwnerOf says what a socket belongs to: the proxy whose listener or
// connection it is, and the relay it is part of (either may be empty), so
// that ListSockets can show proxy_id and relay_id.
func (m *Manager) OwnerOf(socketID string) (proxyID, relayID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.sockets[socketID]
	if u.proxy != nil {
		proxyID = u.proxy.id
	}
	if u.relay != nil {
		relayID = u.relay.id
		if u.relay.proxy != nil {
			proxyID = u.relay.proxy.id
		}
	}
	return proxyID, relayID
}

// Stats returns the totals for metrics.
func (m *Manager) Stats() Stats {
	st := Stats{
		Bytes:            map[Direction]uint64{},
		Datagrams:        map[Direction]uint64{},
		FaultsApplied:    map[FaultType]uint64{},
		RelaysCreated:    m.totals.relaysCreated.Load(),
		ProxyConnections: m.totals.proxyConns.Load(),
		UpstreamErrors:   m.totals.upstreamErrs.Load(),
	}
	for _, d := range []Direction{Upstream, Downstream} {
		st.Bytes[d] = m.totals.bytes[d].Load()
		st.Datagrams[d] = m.totals.dgrams[d].Load()
	}
	for _, t := range FaultTypes() {
		st.FaultsApplied[t] = m.totals.faultsApplied[t].Load()
	}
	m.totals.mu.Lock()
	st.RelaysEndedBy = maps.Clone(m.totals.endedBy)
	m.totals.mu.Unlock()
	m.mu.Lock()
	st.Proxies, st.Relays = len(m.proxies), len(m.relays)
	m.mu.Unlock()
	return st
}

// Close stops every proxy (closing its listener and connections) and every
// relay: each writes out what it holds (at most DrainTimeout), a proxy's
// connections are closed, and a relay of the caller's own sockets leaves
// them open for sockmgr to close. It returns when no goroutine of the
// manager is left. The manager makes nothing afterwards.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		m.wg.Wait()
		return nil
	}
	m.closed = true
	proxies := slices.Collect(maps.Values(m.proxies))
	relays := slices.Collect(maps.Values(m.relays))
	m.mu.Unlock()
	for _, p := range proxies {
		m.unregisterProxy(p)
		p.stop("shutdown", endClose)
	}
	for _, r := range relays {
		how := endKeep
		if r.proxy != nil {
			how = endClose
		}
		r.terminate(how, "shutdown", "sockd is shutting down")
	}
	m.wg.Wait()
	m.pipes.close()
	return nil
}

// register adds a relay to the registry under its name (if any) and marks
// its sockets as used. It fails if the manager is closed, the name is
// taken, or a socket is in use.
func (m *Manager) registerRelay(r *link, socks ...*sockmgr.Socket) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return sockmgr.ErrManagerClosed
	}
	if r.name != "" {
		if _, taken := m.relayNames[ownerName{r.owner, r.name}]; taken {
			return detail(sockmgr.ErrNameInUse, "a relay named %q exists", r.name)
		}
	}
	for _, s := range socks {
		if u, used := m.sockets[s.ID()]; used && (u.relay != nil || u.proxy != r.proxy) {
			return detail(ErrSocketInUse, "socket %s is part of %s", s.ID(), u.describe())
		}
	}
	for {
		r.id = newID()
		if _, taken := m.relays[r.id]; !taken {
			break
		}
	}
	m.seq++
	r.seq = m.seq
	m.relays[r.id] = r
	if r.name != "" {
		m.relayNames[ownerName{r.owner, r.name}] = r
	}
	for _, s := range socks {
		m.sockets[s.ID()] = socketUse{proxy: r.proxy, relay: r}
	}
	m.wg.Add(1) // the relay's supervisor
	return nil
}

func (u socketUse) describe() string {
	switch {
	case u.relay != nil:
		return "relay " + u.relay.id
	case u.proxy != nil:
		return "proxy " + u.proxy.id
	}
	return "nothing"
}

// unregisterRelay forgets an ended relay and its sockets' use.
func (m *Manager) unregisterRelay(r *link, socks ...*sockmgr.Socket) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.relays[r.id] == r {
		delete(m.relays, r.id)
	}
	if r.name != "" && m.relayNames[ownerName{r.owner, r.name}] == r {
		delete(m.relayNames, ownerName{r.owner, r.name})
	}
	for _, s := range socks {
		if u := m.sockets[s.ID()]; u.relay == r {
			delete(m.sockets, s.ID())
		}
	}
}

// lookupRelay finds a relay by id or name among those the scope sees.
func (m *Manager) lookupRelay(scope sockmgr.Scope, ref string) (*link, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.relays[ref]
	if r == nil || !sees(scope, r.owner) {
		r = m.relayNames[ownerName{scope.Owner, ref}]
	}
	if r == nil && scope.Admin {
		for k, v := range m.relayNames {
			if k.name == ref {
				r = v
				break
			}
		}
	}
	if r == nil || !sees(scope, r.owner) {
		return nil, &Error{Op: "lookup", RelayID: clip(ref), Err: ErrRelayNotFound}
	}
	return r, nil
}

// lookupProxy finds a proxy by id or name among those the scope sees.
func (m *Manager) lookupProxy(scope sockmgr.Scope, ref string) (*proxy, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.proxies[ref]
	if p == nil || !sees(scope, p.owner) {
		p = m.proxyNames[ownerName{scope.Owner, ref}]
	}
	if p == nil && scope.Admin {
		for k, v := range m.proxyNames {
			if k.name == ref {
				p = v
				break
			}
		}
	}
	if p == nil || !sees(scope, p.owner) {
		return nil, &Error{Op: "lookup", ProxyID: clip(ref), Err: ErrProxyNotFound}
	}
	return p, nil
}

func sees(sc sockmgr.Scope, owner string) bool { return sc.Admin || sc.Owner == owner }

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// ListOptions page a listing: in creation order, after the position
// AfterSeq (an Info's Seq: a position, not an id, so that an item gone
// between two pages shifts nothing), at most Limit (0: all).
type ListOptions struct {
	AfterSeq uint64
	Limit    int
}

// RelayFilter selects relays in ListRelays.
type RelayFilter struct {
	// Proxy, if set, selects the relays of that proxy (id or name).
	Proxy string
	ListOptions
}

// ListRelays returns the relays the scope sees that match the filter, in
// creation order, and whether more remain.
func (m *Manager) ListRelays(scope sockmgr.Scope, f RelayFilter) ([]RelayInfo, bool, error) {
	var proxy *proxy
	if f.Proxy != "" {
		p, err := m.lookupProxy(scope, f.Proxy)
		if err != nil {
			return nil, false, wrap("list relays", Target{}, "", err)
		}
		proxy = p
	}
	m.mu.Lock()
	var rs []*link
	for _, r := range m.relays {
		if r.seq > f.AfterSeq && sees(scope, r.owner) && (proxy == nil || r.proxy == proxy) {
			rs = append(rs, r)
		}
	}
	m.mu.Unlock()
	slices.SortFunc(rs, func(a, b *link) int { return cmp.Compare(a.seq, b.seq) })
	more := false
	if f.Limit > 0 && len(rs) > f.Limit {
		rs, more = rs[:f.Limit], true
	}
	out := make([]RelayInfo, len(rs))
	for i, r := range rs {
		out[i] = r.Info()
	}
	return out, more, nil
}

// ListProxies returns the proxies the scope sees, in creation order, and
// whether more remain.
func (m *Manager) ListProxies(scope sockmgr.Scope, o ListOptions) ([]ProxyInfo, bool) {
	m.mu.Lock()
	var ps []*proxy
	for _, p := range m.proxies {
		if p.seq > o.AfterSeq && sees(scope, p.owner) {
			ps = append(ps, p)
		}
	}
	m.mu.Unlock()
	slices.SortFunc(ps, func(a, b *proxy) int { return cmp.Compare(a.seq, b.seq) })
	more := false
	if o.Limit > 0 && len(ps) > o.Limit {
		ps, more = ps[:o.Limit], true
	}
	out := make([]ProxyInfo, len(ps))
	for i, p := range ps {
		out[i] = p.Info()
	}
	return out, more
}

func (m *Manager) countEnded(reason string) {
	m.totals.mu.Lock()
	m.totals.endedBy[reason]++
	m.totals.mu.Unlock()
}
