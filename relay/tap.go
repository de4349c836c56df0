package relay

import (
	"net/netip"
	"time"

	"github.com/sockd/sockd/sockmgr"
)

// Tap is where a socket's traffic is recorded: capture.Ring satisfies it
// as it is (its methods use standard-library types only, so relay needs no
// import of capture). The relay records what it moves through a socket
// whose Config.Tap returns one: bytes or datagrams received from the
// socket's peer, and sent to it.
type Tap interface {
	Sent(at time.Time, b []byte, to netip.AddrPort)
	Received(at time.Time, b []byte, from netip.AddrPort)
}

// A direction whose source or destination is tapped moves its bytes through
// user space (splice never shows them to sockd): the user path with no
// fault, recording each chunk as it is read and as it is written. Which
// sockets are tapped is asked when a direction's plan is made; after a
// socket's capture is turned on or off, Retap makes the plans again.

// tapOf asks the configuration whether s is recorded.
func (m *Manager) tapOf(s *sockmgr.Socket) Tap {
	if m.cfg.Tap == nil || s == nil {
		return nil
	}
	return m.cfg.Tap(s)
}

// Retap makes the relays that use a socket ask again whether their sockets
// are recorded (call it after capture is turned on or off for the socket);
// for a UDP proxy's shared socket, every session of the proxy.
func (m *Manager) Retap(socketID string) {
	m.mu.Lock()
	u := m.sockets[socketID]
	var rs []*link
	switch {
	case u.relay != nil:
		rs = append(rs, u.relay)
	case u.proxy != nil:
		u.proxy.mu.Lock()
		for r := range u.proxy.relays {
			rs = append(rs, r)
		}
		u.proxy.mu.Unlock()
	}
	m.mu.Unlock()
	for _, r := range rs {
		r.mu.Lock()
		r.replanLocked()
		r.mu.Unlock()
	}
}
