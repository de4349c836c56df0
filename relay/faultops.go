package relay

import (
	"github.com/sockd/sockd/sockmgr"
)

// A fault is set on a proxy (it applies to its present and future
// connections, each rolling its probability once per direction) or on one
// relay. A relay of a proxy has both: the proxy's apply first, then its own.

// faultTarget is a resolved Target: the fault list's owner and what must be
// locked to change it.
type faultTarget struct {
	proxy *proxy
	relay *link
	id    Target // the resolved ids, for errors and events
}

func (m *Manager) resolveTarget(scope sockmgr.Scope, t Target) (faultTarget, error) {
	switch {
	case t.Proxy != "" && t.Relay != "":
		return faultTarget{}, invalid("relay_id", "name a proxy or a relay, not both")
	case t.Proxy != "":
		p, err := m.lookupProxy(scope, t.Proxy)
		if err != nil {
			return faultTarget{}, err
		}
		return faultTarget{proxy: p, id: Target{Proxy: p.id}}, nil
	case t.Relay != "":
		r, err := m.lookupRelay(scope, t.Relay)
		if err != nil {
			return faultTarget{}, err
		}
		return faultTarget{relay: r, id: Target{Relay: r.id}}, nil
	}
	return faultTarget{}, invalid("proxy_id", "a proxy or a relay is required")
}

// lock takes the locks that guard the target's faults: the proxy's, or the
// relay's (after its proxy's, the order every path takes them in).
func (ft faultTarget) lock() {
	if ft.proxy != nil {
		ft.proxy.mu.Lock()
		return
	}
	if ft.relay.proxy != nil {
		ft.relay.proxy.mu.Lock()
	}
	ft.relay.mu.Lock()
}

func (ft faultTarget) unlock() {
	if ft.proxy != nil {
		ft.proxy.mu.Unlock()
		return
	}
	ft.relay.mu.Unlock()
	if ft.relay.proxy != nil {
		ft.relay.proxy.mu.Unlock()
	}
}

// list is the target's fault list; the target is locked.
func (ft faultTarget) list() *[]*faultState {
	if ft.proxy != nil {
		return &ft.proxy.faults
	}
	return &ft.relay.own
}

func (ft faultTarget) proto() sockmgr.Protocol {
	if ft.proxy != nil {
		return ft.proxy.proto
	}
	return ft.relay.proto
}

func (ft faultTarget) owner() string {
	if ft.proxy != nil {
		return ft.proxy.owner
	}
	return ft.relay.owner
}

// eachRelay runs f on every relay the target's faults apply to, each with
// its mutex held; the target is locked.
func (ft faultTarget) eachRelay(f func(r *link)) {
	if ft.relay != nil {
		f(ft.relay) // locked by lock()
		return
	}
	for r := range ft.proxy.relays {
		r.mu.Lock()
		f(r)
		r.mu.Unlock()
	}
}

func find(list []*faultState, name string) (int, *faultState) {
	for i, fs := range list {
		if fs.fault().Name == name {
			return i, fs
		}
	}
	return -1, nil
}

// AddFault adds a fault to a proxy or a relay; it returns the fault with
// its defaults filled in (name, direction, params). On a proxy it is
// rolled at once for each of its connections.
func (m *Manager) AddFault(scope sockmgr.Scope, t Target, f Fault) (Fault, error) {
	const op = "add fault"
	ft, err := m.resolveTarget(scope, t)
	if err != nil {
		return Fault{}, wrap(op, t, f.Name, err)
	}
	nf, err := normalizeFault(f, ft.proto(), "fault")
	if err != nil {
		return Fault{}, wrap(op, ft.id, f.Name, err)
	}
	ft.lock()
	list := ft.list()
	if _, dup := find(*list, nf.Name); dup != nil {
		ft.unlock()
		return Fault{}, wrap(op, ft.id, nf.Name, detail(ErrFaultExists, "a fault named %q is set", nf.Name))
	}
	fs := newFaultState(nf)
	*list = append(*list, fs)
	ft.eachRelay(func(r *link) {
		r.addAppLocked(fs, ft.proxy != nil)
		r.replanLocked()
	})
	out := fs.snapshot()
	ft.unlock()
	m.sm.Publish(EventFaultAdded, ft.owner(), FaultInfo{ProxyID: ft.id.Proxy, RelayID: ft.id.Relay, Fault: out}, "")
	return out, nil
}

// UpdateFault changes a live fault, found by f.Name: the fields named by
// paths ("probability"; "<type>" for all its params, as "latency"; or one
// param, as "latency.jitter" — proto field names), or with no paths its
// probability and all its params. Each connection keeps its roll: a higher
// probability adds connections, a lower one removes some. Timers (TIMEOUT,
// RESET_PEER) count from when the fault first applied.
func (m *Manager) UpdateFault(scope sockmgr.Scope, t Target, f Fault, paths []string) (Fault, error) {
	const op = "update fault"
	ft, err := m.resolveTarget(scope, t)
	if err != nil {
		return Fault{}, wrap(op, t, f.Name, err)
	}
	ft.lock()
	_, fs := find(*ft.list(), f.Name)
	if fs == nil {
		ft.unlock()
		return Fault{}, wrap(op, ft.id, f.Name, detail(ErrFaultNotFound, "no fault named %q", f.Name))
	}
	nf, err := updateFault(fs.fault(), f, paths, "fault")
	if err != nil {
		ft.unlock()
		return Fault{}, wrap(op, ft.id, f.Name, err)
	}
	fs.cur.Store(&nf)
	ft.eachRelay(func(r *link) {
		for _, a := range r.apps {
			if a.fs == fs {
				r.evaluateLocked(a)
			}
		}
		r.replanLocked()
	})
	out := fs.snapshot()
	ft.unlock()
	m.sm.Publish(EventFaultUpdated, ft.owner(), FaultInfo{ProxyID: ft.id.Proxy, RelayID: ft.id.Relay, Fault: out}, "")
	return out, nil
}

// RemoveFault removes a fault; the relays it applied to go back to the
// paths their other faults ask for (the fast path if none).
func (m *Manager) RemoveFault(scope sockmgr.Scope, t Target, name string) (Fault, error) {
	const op = "remove fault"
	ft, err := m.resolveTarget(scope, t)
	if err != nil {
		return Fault{}, wrap(op, t, name, err)
	}
	ft.lock()
	list := ft.list()
	i, fs := find(*list, name)
	if fs == nil {
		ft.unlock()
		return Fault{}, wrap(op, ft.id, name, detail(ErrFaultNotFound, "no fault named %q", name))
	}
	*list = append((*list)[:i:i], (*list)[i+1:]...)
	ft.eachRelay(func(r *link) {
		r.removeAppLocked(fs)
		r.replanLocked()
	})
	out := fs.snapshot()
	ft.unlock()
	m.sm.Publish(EventFaultRemoved, ft.owner(), FaultInfo{ProxyID: ft.id.Proxy, RelayID: ft.id.Relay, Fault: out}, "")
	return out, nil
}

// ListFaults returns a proxy's or a relay's faults in the order they were
// added (a relay's own only; its proxy's are the proxy's).
func (m *Manager) ListFaults(scope sockmgr.Scope, t Target) ([]Fault, error) {
	ft, err := m.resolveTarget(scope, t)
	if err != nil {
		return nil, wrap("list faults", t, "", err)
	}
	ft.lock()
	defer ft.unlock()
	out := make([]Fault, 0, len(*ft.list()))
	for _, fs := range *ft.list() {
		out = append(out, fs.snapshot())
	}
	return out, nil
}
