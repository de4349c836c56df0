package sockmgr

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Op names what an address is checked for by the Policy.
type Op string

const (
	OpBind     Op = "bind"     // an explicit bind
	OpAutoBind Op = "autobind" // the kernel binding an unbound socket to the wildcard address (listen, sendto)
	OpConnect  Op = "connect"  // a connect's destination
	OpSendTo   Op = "sendto"   // a datagram's destination
)

// Policy decides which addresses a socket may use. It sees the resolved IP
// (IPv4-mapped addresses unmapped) and port, and that exact address is the one
// the kernel is then given. A denial should wrap ErrPolicyDenied.
type Policy interface {
	Check(op Op, owner string, proto Protocol, addr netip.AddrPort) error
}

// Config tunes a Manager. The zero value works: no policy, no limits.
type Config struct {
	Resolver           Resolver // host name lookups; nil: net.DefaultResolver
	Policy             Policy   // nil: every address allowed
	MaxSockets         int      // open sockets in all; 0: unlimited
	MaxSocketsPerOwner int      // open sockets per owner; 0: unlimited
	EventHistory       int      // events kept for replay; 0: DefaultEventHistory
	SubscriberBuffer   int      // events queued per subscriber; 0: DefaultSubscriberBuffer
	// IdleTimeout closes a socket with no call in flight and no traffic for
	// this long (a socket may override it at creation); 0: never.
	IdleTimeout time.Duration
	// Clock tells the time of sockets' activity and leases' renewals, which
	// idle timeouts and lease TTLs count from; nil: time.Now. (Tests give a
	// clock of their own instead of sleeping.)
	Clock func() time.Time
	// RetainBytes bounds the delivered bytes a stream socket keeps for a
	// client that uses offsets (a receive that retains returns at most this
	// much); 0: DefaultRetainBytes.
	RetainBytes int
	// ReapInterval is how often idle sockets and lapsed leases are looked
	// for; 0: DefaultReapInterval.
	ReapInterval time.Duration
}

// Scope says whose sockets a caller sees: its own, or (Admin) everyone's.
type Scope struct {
	Owner string
	Admin bool
}

func (sc Scope) sees(owner string) bool { return sc.Admin || sc.Owner == owner }

// Sees reports whether the scope may see what owner owns (for the things
// built over sockets that keep owners of their own: captures, relays).
func (sc Scope) Sees(owner string) bool { return sc.sees(owner) }

// Manager is the registry of sockets.
type Manager struct {
	cfg         Config
	retainBytes int
	events      *bus
	totals      totals

	mu       sync.RWMutex
	byID     map[string]*Socket
	byName   map[ownerName]*Socket
	perOwner map[string]int // reserved or open sockets per owner
	total    int
	nextSeq  uint64
	closed   bool
	closing  atomic.Bool // Close has begun: read without m.mu on the data path
	leases   map[string]*lease

	// The reaper runs only once something can expire (a socket with an
	// idle timeout, or a lease): a manager without either has no goroutine
	// and no timer at all.
	reaperOnce sync.Once
	reaping    atomic.Bool
	stopReaper chan struct{}
	reaperDone chan struct{}
}

type ownerName struct{ owner, name string }

// New returns an empty registry.
func New(cfg Config) *Manager {
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	m := &Manager{
		cfg:         cfg,
		retainBytes: cmp.Or(cfg.RetainBytes, DefaultRetainBytes),
		events:      newBus(cmp.Or(cfg.EventHistory, DefaultEventHistory), cmp.Or(cfg.SubscriberBuffer, DefaultSubscriberBuffer)),
		byID:        map[string]*Socket{},
		byName:      map[ownerName]*Socket{},
		perOwner:    map[string]int{},
		leases:      map[string]*lease{},
		stopReaper:  make(chan struct{}),
		reaperDone:  make(chan struct{}),
	}
	return m
}

// CreateOptions describe a new socket.
type CreateOptions struct {
	Protocol Protocol          // TCP (default) or UDP
	Family   Family            // IPv4 (default) or IPv6
	Name     string            // optional; unique per owner
	Labels   map[string]string // optional; fixed for the socket's life
	Timeout  *time.Duration    // the socket's timeout (nil: blocking)
	// IdleTimeout overrides Config.IdleTimeout for this socket (0: never).
	IdleTimeout *time.Duration
	// LeaseID puts the socket under a lease of the same owner.
	LeaseID string
}

// Create makes a new kernel socket with socket(2) for owner and registers it
// in state CREATED.
func (m *Manager) Create(owner string, opts CreateOptions) (*Socket, error) {
	proto, fam := cmp.Or(opts.Protocol, TCP), cmp.Or(opts.Family, IPv4)
	if err := validateCreate(proto, fam, opts); err != nil {
		return nil, opErr("socket", "", "", err)
	}
	if err := m.reserve(owner); err != nil {
		return nil, opErr("socket", "", "", err)
	}
	domain, typ := unix.AF_INET, unix.SOCK_STREAM
	if fam == IPv6 {
		domain = unix.AF_INET6
	}
	if proto == UDP {
		typ = unix.SOCK_DGRAM
	}
	fd, err := rawSocket(domain, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	if err != nil {
		m.unreserve(owner)
		return nil, opErr("socket", "", "", err)
	}
	s := newSocket(m, fd, proto, fam)
	s.owner, s.name = owner, opts.Name
	if len(opts.Labels) > 0 {
		s.labels = maps.Clone(opts.Labels)
	}
	if opts.Timeout != nil {
		t := *opts.Timeout
		s.timeout = &t
	}
	s.idleTimeout = m.cfg.IdleTimeout
	if opts.IdleTimeout != nil {
		s.idleTimeout = *opts.IdleTimeout
	}
	s.leaseID = opts.LeaseID
	if err := m.register(s, opts.Name); err != nil {
		s.closeFD()
		return nil, opErr("socket", "", "", err)
	}
	s.mu.Lock()
	s.emitLocked(EventCreated, "")
	s.mu.Unlock()
	return s, nil
}

// reserve counts a socket about to be made against the limits.
func (m *Manager) reserve(owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return ErrManagerClosed
	case m.cfg.MaxSockets > 0 && m.total >= m.cfg.MaxSockets:
		return detail(ErrLimit, "the daemon holds its maximum of %d sockets", m.cfg.MaxSockets)
	case m.cfg.MaxSocketsPerOwner > 0 && m.perOwner[owner] >= m.cfg.MaxSocketsPerOwner:
		return detail(ErrLimit, "%q holds its maximum of %d sockets", owner, m.cfg.MaxSocketsPerOwner)
	}
	m.total++
	m.perOwner[owner]++
	return nil
}

func (m *Manager) unreserve(owner string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unreserveLocked(owner)
}

func (m *Manager) unreserveLocked(owner string) {
	m.total--
	if m.perOwner[owner]--; m.perOwner[owner] <= 0 {
		delete(m.perOwner, owner)
	}
}

// register gives a reserved socket its id and makes it visible. On failure
// the reservation is released.
func (m *Manager) register(s *Socket, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		m.unreserveLocked(s.owner)
		return ErrManagerClosed
	}
	if name != "" {
		if _, taken := m.byName[ownerName{s.owner, name}]; taken {
			m.unreserveLocked(s.owner)
			return detail(ErrNameInUse, "a socket named %q exists", name)
		}
	}
	var l *lease
	if s.leaseID != "" {
		var err error
		if l, err = m.leaseLocked(Scope{Owner: s.owner}, s.leaseID); err != nil {
			m.unreserveLocked(s.owner)
			return err
		}
	}
	for {
		s.id = newID()
		if _, taken := m.byID[s.id]; !taken {
			break
		}
	}
	m.nextSeq++
	s.seq = m.nextSeq
	m.byID[s.id] = s
	if name != "" {
		m.byName[ownerName{s.owner, name}] = s
	}
	if l != nil {
		l.sockets[s] = struct{}{}
	}
	if s.idleTimeout > 0 {
		m.startReaper()
	}
	return nil
}

// startReaper starts the reaper once.
func (m *Manager) startReaper() {
	m.reaperOnce.Do(func() {
		m.reaping.Store(true)
		go m.reap(cmp.Or(m.cfg.ReapInterval, DefaultReapInterval))
	})
}

func (m *Manager) nameTaken(owner, name string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, taken := m.byName[ownerName{owner, name}]
	return taken
}

func (m *Manager) unregister(s *Socket) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byID[s.id] != s {
		return
	}
	delete(m.byID, s.id)
	if s.name != "" {
		delete(m.byName, ownerName{s.owner, s.name})
	}
	if l := m.leases[s.leaseID]; l != nil {
		delete(l.sockets, s)
	}
	m.unreserveLocked(s.owner)
}

// Get finds a socket by id or name among those the scope sees. A socket of
// another owner is reported as not found: its existence is not revealed.
func (m *Manager) Get(scope Scope, ref string) (*Socket, error) {
	m.mu.RLock()
	s := m.byID[ref]
	if s == nil || !scope.sees(s.owner) {
		s = m.byName[ownerName{scope.Owner, ref}]
	}
	if s == nil && scope.Admin {
		for k, v := range m.byName {
			if k.name == ref {
				s = v
				break
			}
		}
	}
	m.mu.RUnlock()
	if s == nil || !scope.sees(s.owner) || s.closed.Load() {
		return nil, opErr("lookup", clip(ref), "", ErrNotFound)
	}
	return s, nil
}

// Filter selects sockets in List. Zero fields match everything.
type Filter struct {
	Labels   map[string]string // every pair must be present
	State    State
	Protocol Protocol
	// AfterSeq resumes after this position in creation order (a socket's
	// Seq; paging): sockets closed meanwhile shift nothing, and sockets
	// created meanwhile come after every earlier one. 0 starts at the
	// beginning.
	AfterSeq uint64
	Limit    int // at most this many; 0: all
}

// List returns the sockets the scope sees that match the filter, in creation
// order, and whether more remain after the last one returned.
func (m *Manager) List(scope Scope, f Filter) (socks []*Socket, more bool) {
	m.mu.RLock()
	for _, s := range m.byID {
		if s.seq > f.AfterSeq && scope.sees(s.owner) && f.matches(s) {
			socks = append(socks, s)
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(socks, func(a, b *Socket) int { return cmp.Compare(a.seq, b.seq) })
	if f.Limit > 0 && len(socks) > f.Limit {
		return socks[:f.Limit], true
	}
	return socks, false
}

func (f Filter) matches(s *Socket) bool {
	if f.Protocol != 0 && s.proto != f.Protocol {
		return false
	}
	for k, v := range f.Labels {
		if got, ok := s.labels[k]; !ok || got != v {
			return false
		}
	}
	if f.State != 0 {
		st, _, _ := s.snapshotState()
		return st == f.State
	}
	return true
}

// Len reports how many sockets are open.
func (m *Manager) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.byID)
}

// Close closes every socket (their closed events say "shutdown") and ends
// every event subscription. The manager accepts no new sockets afterwards.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.closing.Store(true) // calls woken from here on fail with ErrManagerClosed
	socks := slices.Collect(maps.Values(m.byID))
	m.mu.Unlock()
	m.reaperOnce.Do(func() {}) // no reaper may start from now on
	close(m.stopReaper)
	if m.reaping.Load() {
		<-m.reaperDone
	}
	var errs []error
	for _, s := range socks {
		if err := s.closeWith("shutdown"); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
		}
	}
	m.events.close()
	return errors.Join(errs...)
}

// target parses and resolves an address for a socket and checks it against
// the policy. The returned address is the one to give the kernel.
func (m *Manager) target(ctx context.Context, op Op, s *Socket, address string) (netip.AddrPort, error) {
	hp, err := ParseAddress(address)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return m.ResolveTarget(ctx, op, s, hp)
}

// ResolveTarget resolves a parsed address for the socket's family and checks
// it against the policy. The result is what the kernel will be given.
func (m *Manager) ResolveTarget(ctx context.Context, op Op, s *Socket, hp HostPort) (netip.AddrPort, error) {
	if hp.IsWildcard() && op != OpBind {
		return netip.AddrPort{}, detail(ErrInvalidAddress, "%s: a destination needs a host", hp)
	}
	ap, err := resolve(ctx, m.cfg.Resolver, hp, s.family)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if err := m.check(op, s, ap); err != nil {
		return netip.AddrPort{}, err
	}
	return ap, nil
}

func (m *Manager) check(op Op, s *Socket, ap netip.AddrPort) error {
	if m.cfg.Policy == nil {
		return nil
	}
	norm := netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if err := m.cfg.Policy.Check(op, s.owner, s.proto, norm); err != nil {
		if !errors.Is(err, ErrPolicyDenied) {
			err = detail(ErrPolicyDenied, "%v", err)
		}
		return err
	}
	return nil
}

// checkAutoBind asks the policy whether the kernel may bind the unbound
// socket to the wildcard address and an ephemeral port.
func (m *Manager) checkAutoBind(s *Socket) error {
	return m.check(OpAutoBind, s, s.autoBindAddr())
}

// Subscribe starts an event subscription; see SubscribeOptions.
func (m *Manager) Subscribe(opts SubscribeOptions) (*Subscription, error) {
	return m.events.subscribe(opts)
}

// LastEventSeq is the sequence number of the newest event (0: none yet).
func (m *Manager) LastEventSeq() uint64 { return m.events.lastSeq() }

// now is the manager's clock.
func (m *Manager) now() time.Time {
	if m.cfg.Clock != nil {
		return m.cfg.Clock()
	}
	return time.Now()
}
