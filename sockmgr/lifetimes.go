package sockmgr

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// Sockets end by themselves in two ways: an idle socket (no call in flight,
// no traffic) is closed after its idle timeout, and the sockets of a lease
// are closed when the lease lapses. One reaper goroutine per manager checks
// both every Config.ReapInterval.

// DefaultReapInterval is how often idle sockets and lapsed leases are looked
// for.
const DefaultReapInterval = time.Second

// Bounds of a lease's TTL.
const (
	MinLeaseTTL = time.Second
	MaxLeaseTTL = 24 * time.Hour
)

// ErrLeaseNotFound: no lease with that id is visible to the caller.
var ErrLeaseNotFound = detail(ErrNotFound, "no such lease")

// lease ties sockets to a client's liveness. Guarded by Manager.mu.
type lease struct {
	id, owner string
	seq       uint64 // creation order, for paging
	ttl       time.Duration
	renewed   time.Time // the TTL counts from here (or from the last activity of one of its sockets)
	keepers   int       // open keep-alive streams: while > 0 the lease cannot lapse
	sockets   map[*Socket]struct{}
}

// LeaseInfo is a snapshot of a lease.
type LeaseInfo struct {
	Seq     uint64 // creation order (unique, increasing), for paging
	ID      string
	Owner   string
	TTL     time.Duration
	Expires time.Time // zero while a keep-alive holds it
	Sockets int
}

func (l *lease) info() LeaseInfo {
	li := LeaseInfo{Seq: l.seq, ID: l.id, Owner: l.owner, TTL: l.ttl, Sockets: len(l.sockets)}
	if l.keepers == 0 {
		li.Expires = l.lastSign().Add(l.ttl)
	}
	return li
}

// lastSign is the last sign of life: a renewal, or activity on one of the
// lease's sockets (every call on a socket renews its lease, without taking a
// lock on the data path).
func (l *lease) lastSign() time.Time {
	t := l.renewed
	for s := range l.sockets {
		if a := time.Unix(0, s.lastActivity.Load()); a.After(t) {
			t = a
		}
	}
	return t
}

// CreateLease makes a lease for owner.
func (m *Manager) CreateLease(owner string, ttl time.Duration) (LeaseInfo, error) {
	if ttl < MinLeaseTTL || ttl > MaxLeaseTTL {
		return LeaseInfo{}, opErr("lease", "", "", detail(ErrInvalidArgument, "lease TTL must be from %v to %v", MinLeaseTTL, MaxLeaseTTL))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return LeaseInfo{}, opErr("lease", "", "", ErrManagerClosed)
	}
	m.nextSeq++
	l := &lease{owner: owner, seq: m.nextSeq, ttl: ttl, renewed: m.now(), sockets: map[*Socket]struct{}{}}
	for {
		l.id = newID()
		if _, taken := m.leases[l.id]; !taken {
			break
		}
	}
	m.leases[l.id] = l
	m.startReaper()
	return l.info(), nil
}

func (m *Manager) leaseLocked(scope Scope, id string) (*lease, error) {
	l := m.leases[id]
	if l == nil || !scope.sees(l.owner) {
		return nil, opErr("lease", clip(id), "", ErrLeaseNotFound)
	}
	return l, nil
}

// Lease returns a snapshot of a lease.
func (m *Manager) Lease(scope Scope, id string) (LeaseInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.leaseLocked(scope, id)
	if err != nil {
		return LeaseInfo{}, err
	}
	return l.info(), nil
}

// Leases lists the leases scope sees in creation order, after position
// afterSeq, at most limit of them (0: all), and whether more remain.
func (m *Manager) Leases(scope Scope, afterSeq uint64, limit int) (leases []LeaseInfo, more bool) {
	m.mu.Lock()
	for _, l := range m.leases {
		if l.seq > afterSeq && scope.sees(l.owner) {
			leases = append(leases, l.info())
		}
	}
	m.mu.Unlock()
	slices.SortFunc(leases, func(a, b LeaseInfo) int { return cmp.Compare(a.Seq, b.Seq) })
	if limit > 0 && len(leases) > limit {
		return leases[:limit], true
	}
	return leases, false
}

// KeepLease holds a lease alive until the returned release is called; its
// TTL then starts counting.
func (m *Manager) KeepLease(scope Scope, id string) (release func(), err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.leaseLocked(scope, id)
	if err != nil {
		return nil, err
	}
	l.keepers++
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			l.keepers--
			l.renewed = m.now()
		})
	}, nil
}

// RevokeLease ends a lease now and closes its sockets (reason "lease").
func (m *Manager) RevokeLease(scope Scope, id string) (LeaseInfo, error) {
	m.mu.Lock()
	l, err := m.leaseLocked(scope, id)
	if err != nil {
		m.mu.Unlock()
		return LeaseInfo{}, err
	}
	info := l.info()
	socks := m.endLeaseLocked(l)
	m.mu.Unlock()
	for _, s := range socks {
		_ = s.closeWith("lease")
	}
	return info, nil
}

// endLeaseLocked forgets a lease and returns its sockets, to be closed
// outside the lock.
func (m *Manager) endLeaseLocked(l *lease) []*Socket {
	delete(m.leases, l.id)
	socks := make([]*Socket, 0, len(l.sockets))
	for s := range l.sockets {
		socks = append(socks, s)
	}
	return socks
}

// reap runs until the manager closes: it closes idle sockets and the sockets
// of lapsed leases every interval.
func (m *Manager) reap(every time.Duration) {
	defer close(m.reaperDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stopReaper:
			return
		case <-t.C:
			m.reapOnce(m.now())
		}
	}
}

func (m *Manager) reapOnce(now time.Time) {
	type closing struct {
		s      *Socket
		reason string
	}
	var doomed []closing
	m.mu.Lock()
	for _, l := range m.leases {
		if l.keepers == 0 && now.Sub(l.lastSign()) > l.ttl {
			for _, s := range m.endLeaseLocked(l) {
				doomed = append(doomed, closing{s, "lease"})
			}
		}
	}
	for _, s := range m.byID {
		if s.idleTimeout > 0 && s.busy.Load() == 0 && now.Sub(time.Unix(0, s.lastActivity.Load())) > s.idleTimeout {
			doomed = append(doomed, closing{s, "idle"})
		}
	}
	m.mu.Unlock()
	slices.SortFunc(doomed, func(a, b closing) int { return int(a.s.seq - b.s.seq) })
	for _, d := range doomed {
		_ = d.s.closeWith(d.reason)
	}
}
