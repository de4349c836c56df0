package sockmgr

import (
	"errors"
	"sync"
)

// Stream offsets make a remote receive or send exactly-once over an
// unreliable call (DESIGN.md, "Offsets"). A stream socket counts the bytes it
// delivered (Counters.BytesReceived) and the bytes it wrote
// (Counters.BytesSent); both counts only move under the direction's turn, so
// a call that holds the turn sees the stream exactly where it stands.
//
// Receiving: a call that gives RecvOptions.Offset has what it gets retained
// (a copy, up to Config.RetainBytes per socket) until AckReceived shows the
// client has it, so that asking again from the same offset returns the same
// bytes. Sending: a call that gives SendOptions.Offset says where the client
// believes the write stream stands; bytes before the socket's count were
// written by an earlier attempt and are acknowledged, not written again.

// DefaultRetainBytes is how many delivered bytes a stream socket keeps for a
// client that asks again, by default: one whole call at the default per-call
// limit.
const DefaultRetainBytes = 4 << 20

var (
	// ErrOffsetUnavailable: the offset asked for is before what the socket
	// still retains (acknowledged, or never retained because the call that
	// delivered it used no offset).
	ErrOffsetUnavailable = errors.New("offset no longer retained")
	// ErrInvalidOffset: the offset is after what the socket has delivered
	// (receiving) or written (sending): the client is ahead of the stream.
	ErrInvalidOffset = errors.New("offset beyond the stream")
	// ErrRetentionFull: a receive that retains could take nothing because
	// the retained bytes fill Config.RetainBytes: acknowledge some first.
	ErrRetentionFull = errors.New("retained bytes are at their limit: acknowledge received bytes first")
)

// retention is a ring of the newest delivered bytes of a stream socket:
// exactly the stream's bytes [start, start+n), where start+n is the
// delivered count. Made on first use and grown up to the limit as needed.
// Its own lock (not the read turn) guards it, so that an acknowledgement
// never waits for a receive that is blocked in the kernel; a receive holds
// it while it counts delivered bytes and retains them, so the two always
// agree.
type retention struct {
	mu    sync.Mutex
	buf   []byte
	head  int   // index in buf of the byte at offset start
	n     int   // bytes retained
	start int64 // stream offset of the oldest retained byte
}

// end is the offset after the newest retained byte.
func (r *retention) end() int64 { return r.start + int64(r.n) }

// ack forgets the bytes before off (clamped to what is retained).
func (r *retention) ack(off int64) {
	if off <= r.start {
		return
	}
	drop := int(min(off-r.start, int64(r.n)))
	r.head = (r.head + drop) % max(len(r.buf), 1)
	r.n -= drop
	r.start += int64(drop)
	if r.n == 0 {
		r.head = 0
	}
}

// reset forgets everything and moves the window to off.
func (r *retention) reset(off int64) {
	r.head, r.n, r.start = 0, 0, off
}

// append retains p, which continues the stream at end(); limit bounds the
// ring's size (the caller made room: n+len(p) <= limit).
func (r *retention) append(p []byte, limit int) {
	if need := r.n + len(p); need > len(r.buf) {
		size := max(len(r.buf)*2, 64<<10)
		for size < need {
			size *= 2
		}
		size = min(size, max(limit, need))
		grown := make([]byte, size)
		r.copyOut(r.start, grown[:r.n])
		r.buf, r.head = grown, 0
	}
	tail := (r.head + r.n) % len(r.buf)
	c := copy(r.buf[tail:], p)
	copy(r.buf, p[c:])
	r.n += len(p)
}

// copyOut copies the retained bytes from offset off into dst (off and
// off+len(dst) must lie within what is retained) and returns how many.
func (r *retention) copyOut(off int64, dst []byte) int {
	if len(r.buf) == 0 || len(dst) == 0 {
		return 0
	}
	i := (r.head + int(off-r.start)) % len(r.buf)
	c := copy(dst, r.buf[i:])
	if c < len(dst) {
		c += copy(dst[c:], r.buf)
	}
	return c
}

// RetainBytes is the most delivered bytes a stream socket retains for a
// client that asks again (Config.RetainBytes).
func (m *Manager) RetainBytes() int { return m.retainBytes }

// retained returns the socket's retention, made on first use.
func (s *Socket) retained() *retention {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ret == nil {
		s.ret = &retention{start: int64(s.bytesReceived.Load())}
	}
	return s.ret
}

// retainedIfAny returns the socket's retention, or nil if it never retained.
func (s *Socket) retainedIfAny() *retention {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ret
}

// AckReceived tells a stream socket that the client has every delivered
// byte before off: it may forget them. An offset beyond what was delivered
// is ErrInvalidOffset; one before what is retained changes nothing.
func (s *Socket) AckReceived(off int64) error {
	if s.proto != TCP {
		return opErr("ack", s.id, "", detail(ErrInvalidArgument, "offsets are for stream (TCP) sockets"))
	}
	r := s.retainedIfAny()
	if r == nil {
		r = &retention{} // nothing retained: only check the offset
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if delivered := int64(s.bytesReceived.Load()); off > delivered {
		return opErr("ack", s.id, "", detail(ErrInvalidOffset, "ack of offset %d, but %d bytes were delivered", off, delivered))
	}
	r.ack(off)
	return nil
}

// retainedFrom validates a receive's offset against the stream and copies
// what is retained from it (at most len(dst) bytes) into dst, returning how
// many; dst nil only validates and reports how many there are. The caller
// holds the read turn and r.mu.
func (s *Socket) retainedFrom(r *retention, off int64, dst []byte) (int, error) {
	delivered := int64(s.bytesReceived.Load())
	switch {
	case off > delivered:
		return 0, detail(ErrInvalidOffset, "offset %d, but %d bytes were delivered", off, delivered)
	case off == delivered:
		return 0, nil
	case off < r.start || r.end() != delivered:
		return 0, detail(ErrOffsetUnavailable, "offset %d, but only bytes from %d on are retained", off, min(r.start, delivered))
	}
	avail := int(delivered - off)
	if dst == nil {
		return avail, nil
	}
	return r.copyOut(off, dst[:min(avail, len(dst))]), nil
}

// CheckRecvOffset reports whether a stream socket could deliver from off:
// nil when off is what it delivers next or lies in what it retains.
func (s *Socket) CheckRecvOffset(off int64) error {
	if s.proto != TCP {
		return opErr("recv", s.id, "", detail(ErrInvalidArgument, "offsets are for stream (TCP) sockets"))
	}
	r := s.retainedIfAny()
	if r == nil {
		r = &retention{start: int64(s.bytesReceived.Load())}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := s.retainedFrom(r, off, nil); err != nil {
		return opErr("recv", s.id, "", err)
	}
	return nil
}
