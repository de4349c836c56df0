package sockmgr

// Busy reports whether a call holds one of the socket's turns (for tests).
func (s *Socket) Busy() bool { return s.busy.Load() > 0 }

// ReapNow looks for idle sockets and lapsed leases at once, by the
// manager's clock (for tests that drive the clock).
func (m *Manager) ReapNow() { m.reapOnce(m.now()) }
