package sockmgr

// Busy reports whether a call holds one of the socket's turns (for tests).
func (s *Socket) Busy() bool { return s.busy.Load() > 0 }
