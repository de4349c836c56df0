package sockmgr

import (
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// CaptureHook is where a socket records what moves through it while capture
// is on: the bytes or datagrams the kernel took from a send and gave to a
// receive, and the connection's events. capture.Ring satisfies it (sockmgr
// does not import capture: the hook's methods take standard types only).
// Calls are made on the data path, so they must not block; they may come
// from a reading and a writing goroutine at once.
type CaptureHook interface {
	Sent(at time.Time, b []byte, to netip.AddrPort)
	Received(at time.Time, b []byte, from netip.AddrPort)
	Connected(at time.Time, local, remote netip.AddrPort)
	Accepted(at time.Time, local, remote netip.AddrPort)
	Bound(at time.Time, local netip.AddrPort)
	ShutdownRead(at time.Time)
	ShutdownWrite(at time.Time)
	PeerClosed(at time.Time)
	ResetSent(at time.Time)
	ResetReceived(at time.Time)
	Closed(at time.Time)
}

// hookBox holds a socket's hook behind one atomic pointer: capture off is a
// nil check on the data path and nothing else.
type hookBox struct{ h CaptureHook }

// SetCapture starts (h non-nil) or stops (nil) recording the socket into h,
// and returns the hook it replaces. Only what happens from then on is
// recorded: bytes a receive returns again from the retained offset window
// (RecvOptions.Offset) are not recorded twice, and peeks are never recorded.
func (s *Socket) SetCapture(h CaptureHook) CaptureHook {
	var box *hookBox
	if h != nil {
		box = &hookBox{h}
	}
	if old := s.hook.Swap(box); old != nil {
		return old.h
	}
	return nil
}

// Capture is the socket's hook, or nil when capture is off.
func (s *Socket) Capture() CaptureHook {
	if b := s.hook.Load(); b != nil {
		return b.h
	}
	return nil
}

// captureEventLocked records a state change's event; s.mu is held.
func (s *Socket) captureEventLocked(kind EventKind, detail string) {
	h := s.Capture()
	if h == nil {
		return
	}
	now := time.Now()
	switch kind {
	case EventBound:
		h.Bound(now, s.local)
	case EventConnected:
		h.Connected(now, s.local, s.remote)
	case EventShutdown:
		if s.readShut && (detail == ShutRead.String() || detail == ShutBoth.String()) {
			h.ShutdownRead(now)
		}
		if s.writeShut && (detail == ShutWrite.String() || detail == ShutBoth.String()) {
			h.ShutdownWrite(now)
		}
	case EventClosed:
		if s.resetOnClose {
			h.ResetSent(now)
		} else {
			h.Closed(now)
		}
	}
}

// captureSent records what a send handed to the kernel.
func (s *Socket) captureSent(b []byte, to netip.AddrPort) {
	h := s.Capture()
	if h == nil || len(b) == 0 && s.proto == TCP { // an empty datagram is one
		return
	}
	if !to.IsValid() {
		to = s.remoteAddr()
	}
	h.Sent(time.Now(), b, to)
}

// captureReceived records what a receive took from the kernel (or from
// what an earlier, abandoned receive had taken).
func (s *Socket) captureReceived(b []byte, from netip.AddrPort) {
	if h := s.Capture(); h != nil {
		h.Received(time.Now(), b, from)
	}
}

// captureEOF records the peer's end of stream.
func (s *Socket) captureEOF() {
	if h := s.Capture(); h != nil {
		h.PeerClosed(time.Now())
	}
}

// captureError records a reset the kernel reported.
func (s *Socket) captureError(err error) {
	if h := s.Capture(); h != nil {
		if errno, ok := Errno(err); ok && errno == unix.ECONNRESET {
			h.ResetReceived(time.Now())
		}
	}
}

// lingerZero reports whether SO_LINGER is on with 0 seconds: close(2) then
// sends a reset.
func (s *Socket) lingerZero() bool {
	zero := false
	_ = s.control(func(fd int) error {
		l, err := unix.GetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER)
		zero = err == nil && l.Onoff != 0 && l.Linger == 0
		return err
	})
	return zero
}

// sockaddrAddrPort is a send's destination as an address (zero for nil:
// the connected peer).
func sockaddrAddrPort(sa unix.Sockaddr) netip.AddrPort {
	if sa == nil {
		return netip.AddrPort{}
	}
	return fromSockaddr(sa)
}
