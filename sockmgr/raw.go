package sockmgr

import (
	"context"
	"net/netip"
	"sync/atomic"
	"time"
)

// The primitives below are for code inside sockd that moves bytes between
// sockets with no client in the path (package relay): it holds a direction
// of a socket for as long as it moves bytes through it, makes its own
// non-blocking syscalls on the descriptor (splice(2), recvmmsg(2), ...) and
// waits in Go's poller between them, exactly as this package's own calls do
// (wait.go). The socket stays an ordinary socket of the registry: listed,
// inspectable, with counters, closable by its owner (which ends the holder's
// waits with ErrClosed).

// Turn is a held direction of a socket: while it is held no other call reads
// (recv, recvfrom, accept) or writes (send, sendto, connect) the socket;
// those queue behind it, as behind any blocking call. A Turn is used by one
// goroutine at a time; it may be handed from one goroutine to another.
type Turn struct {
	t        turn
	released atomic.Bool
}

// ReadTurn takes the socket's read direction. timeout 0 does not wait: if
// another call holds the direction the error wraps unix.EAGAIN; Blocking
// waits until ctx ends; > 0 waits at most that long (ErrTimeout).
func (s *Socket) ReadTurn(ctx context.Context, timeout time.Duration) (*Turn, error) {
	return s.takeRawTurn(ctx, dirRead, timeout)
}

// WriteTurn takes the socket's write direction, as ReadTurn the read one.
func (s *Socket) WriteTurn(ctx context.Context, timeout time.Duration) (*Turn, error) {
	return s.takeRawTurn(ctx, dirWrite, timeout)
}

func (s *Socket) takeRawTurn(ctx context.Context, dir direction, timeout time.Duration) (*Turn, error) {
	op := "read turn"
	if dir == dirWrite {
		op = "write turn"
	}
	if s.closed.Load() {
		return nil, opErr(op, s.id, "", ErrClosed)
	}
	t, err := s.takeTurn(ctx, dir, &timeout)
	if err != nil {
		return nil, opErr(op, s.id, "", err)
	}
	if s.closed.Load() {
		t.release()
		return nil, opErr(op, s.id, "", ErrClosed)
	}
	return &Turn{t: t}, nil
}

// Socket returns the socket whose direction this is.
func (t *Turn) Socket() *Socket { return t.t.s }

// Wait runs attempt on the socket's descriptor until it reports done. Each
// attempt must make only non-blocking syscalls and report false when the
// kernel said EAGAIN; Go's poller then parks the goroutine until the
// descriptor is ready in the turn's direction. ctx ends the wait, not the
// turn (the error is ctx.Err(); what attempts did stays done, so no byte is
// lost); a closed socket ends it with ErrClosed. Attempts keep their own
// results: Wait reports only why the waiting ended.
func (t *Turn) Wait(ctx context.Context, attempt func(fd int) (done bool)) error {
	if t.released.Load() {
		return ErrClosed
	}
	return turn{s: t.t.s, ctx: ctx, dir: t.t.dir}.wait(attempt)
}

// Count adds bytes and datagrams that the holder moved through the socket
// to its counters (received for a read turn, sent for a write turn) and the
// manager's totals, and marks the socket active.
func (t *Turn) Count(bytes, dgrams int) {
	s := t.t.s
	if t.t.dir == dirRead {
		s.countReceived(bytes, dgrams)
	} else {
		s.countSent(bytes, dgrams)
	}
	s.touch()
}

// TakeUndelivered returns, and forgets, what the socket took from the kernel
// but has not delivered to any caller yet: stream bytes (TCP) or one
// datagram (UDP). They come before anything the kernel still queues, and
// they have not been counted as received: the holder counts them (Count)
// when it passes them on. Only the read turn's holder may call it.
func (t *Turn) TakeUndelivered() (stream []byte, dgram *RecvResult) {
	s := t.t.s
	if t.t.dir != dirRead || s.left == nil {
		return nil, nil
	}
	stream, dgram = s.left.stream, s.left.dgram
	s.left.stream, s.left.dgram = nil, nil
	return stream, dgram
}

// ReturnUndelivered puts stream bytes that the holder read from the socket
// (and did not Count) back in front of what the socket holds, so that the
// next receive returns them first: a relay that stops leaves its bytes in
// flight with their socket. Only the read turn's holder may call it.
func (t *Turn) ReturnUndelivered(stream []byte) {
	s := t.t.s
	if t.t.dir != dirRead || len(stream) == 0 {
		return
	}
	if s.left == nil {
		s.left = &leftovers{}
	}
	s.left.stream = append(append([]byte(nil), stream...), s.left.stream...)
}

// Release gives the direction back; later calls on the Turn do nothing.
func (t *Turn) Release() {
	if t.released.CompareAndSwap(false, true) {
		t.t.release()
	}
}

// Control runs f on the socket's descriptor; f must not block (the
// descriptor is non-blocking). It fails with ErrClosed once the socket is
// closed; the descriptor stays open while f runs.
func (s *Socket) Control(f func(fd int) error) error {
	return s.control(f)
}

// CheckAddress parses and resolves address as a socket of owner with that
// protocol and family would for op, and checks the result against the
// policy, without making a socket: for checking a proxy's addresses when it
// is created or changed. It returns the address the kernel would be given.
// The check is repeated by Bind and Connect when a socket uses the address.
func (m *Manager) CheckAddress(ctx context.Context, op Op, owner string, proto Protocol, fam Family, address string) (netip.AddrPort, error) {
	probe := &Socket{m: m, owner: owner, proto: proto, family: fam}
	ap, err := m.target(ctx, op, probe, address)
	if err != nil {
		return netip.AddrPort{}, opErr(string(op), "", address, err)
	}
	return ap, nil
}

// IsWouldBlock reports whether err is the kernel's EAGAIN (or a connect
// still in progress): a non-blocking call that would have had to wait.
func IsWouldBlock(err error) bool { return isWouldBlock(err) }
