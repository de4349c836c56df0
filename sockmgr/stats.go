package sockmgr

import (
	"sync/atomic"
)

// Stats are the manager's totals since it started, for metrics. Counters
// only grow; the open sockets are counted when Stats is called.
type Stats struct {
	// Open sockets by protocol and state.
	Open map[ProtocolState]int
	// Sockets made (created or accepted) by protocol.
	Created map[Protocol]uint64
	// Sockets closed by reason: "client", "idle", "lease", "shutdown".
	Closed map[string]uint64
	// Traffic by protocol.
	BytesSent, BytesReceived         map[Protocol]uint64
	DatagramsSent, DatagramsReceived uint64
	// Connections accepted by listeners.
	Accepted uint64
	// Leases held now.
	Leases int
	// Events: published, subscribers now, and events dropped because a
	// subscriber fell behind (each of them told how many it missed).
	EventsPublished uint64
	Subscribers     int
	EventsDropped   uint64
}

// ProtocolState is a key of Stats.Open.
type ProtocolState struct {
	Protocol Protocol
	State    State
}

// totals are the traffic counters summed over every socket that ever was,
// kept beside each socket's own so that they never go down when a socket
// closes. Indexed by Protocol.
type totals struct {
	bytesSent, bytesReceived [UDP + 1]atomic.Uint64
	dgramsSent, dgramsRecv   atomic.Uint64
	accepted                 atomic.Uint64
}

// countSent adds a send's bytes (and datagrams) to the socket's counters
// and the manager's totals.
func (s *Socket) countSent(bytes, dgrams int) {
	s.bytesSent.Add(uint64(bytes))
	s.m.totals.bytesSent[s.proto].Add(uint64(bytes))
	if dgrams > 0 {
		s.dgramsSent.Add(uint64(dgrams))
		s.m.totals.dgramsSent.Add(uint64(dgrams))
	}
}

// countReceived is countSent for receives.
func (s *Socket) countReceived(bytes, dgrams int) {
	s.bytesReceived.Add(uint64(bytes))
	s.m.totals.bytesReceived[s.proto].Add(uint64(bytes))
	if dgrams > 0 {
		s.dgramsRecv.Add(uint64(dgrams))
		s.m.totals.dgramsRecv.Add(uint64(dgrams))
	}
}

// Stats returns the manager's totals; the open sockets are counted now
// (the cost grows with their number: about a lock per socket).
func (m *Manager) Stats() Stats {
	st := Stats{
		Open:              map[ProtocolState]int{},
		BytesSent:         map[Protocol]uint64{},
		BytesReceived:     map[Protocol]uint64{},
		DatagramsSent:     m.totals.dgramsSent.Load(),
		DatagramsReceived: m.totals.dgramsRecv.Load(),
		Accepted:          m.totals.accepted.Load(),
	}
	for _, p := range []Protocol{TCP, UDP} {
		st.BytesSent[p] = m.totals.bytesSent[p].Load()
		st.BytesReceived[p] = m.totals.bytesReceived[p].Load()
	}
	m.mu.RLock()
	socks := make([]*Socket, 0, len(m.byID))
	for _, s := range m.byID {
		socks = append(socks, s)
	}
	st.Leases = len(m.leases)
	m.mu.RUnlock()
	for _, s := range socks {
		s.mu.Lock()
		state := s.state
		s.mu.Unlock()
		if state != StateClosed {
			st.Open[ProtocolState{s.proto, state}]++
		}
	}
	st.Created, st.Closed, st.EventsPublished, st.Subscribers, st.EventsDropped = m.events.stats()
	return st
}
