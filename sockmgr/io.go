package sockmgr

import (
	"context"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// SendOptions tune Send and SendTo.
type SendOptions struct {
	// All keeps sending until every byte is taken, as Python's sendall. Without
	// it, one send(2) is made once the socket is writable, and it may take
	// only part of the data (the count says how much).
	All bool
	// Timeout overrides the socket's timeout for this call (nil: the socket's).
	Timeout *time.Duration
	// Offset (TCP) is where the caller believes the write stream stands: the
	// stream offset of data[0]. Bytes before the socket's count of bytes
	// written were written by an earlier attempt and are counted as sent
	// without being written again; an offset beyond the count is
	// ErrInvalidOffset. nil: write all of data.
	Offset *int64
}

// RecvOptions tune Recv and RecvFrom.
type RecvOptions struct {
	// MaxBytes is the most to return, as recv(n). Required, > 0.
	MaxBytes int
	// Peek returns the data without consuming it (MSG_PEEK).
	Peek bool
	// WaitAll waits until MaxBytes bytes have come, the peer closes, or the
	// timeout expires (MSG_WAITALL); what came before a timeout is returned.
	// TCP only; not with Peek.
	WaitAll bool
	// Timeout overrides the socket's timeout for this call (nil: the socket's).
	Timeout *time.Duration
	// Buf, if at least MaxBytes long, receives the data instead of a new
	// slice (for callers that reuse buffers).
	Buf []byte
	// Offset (TCP) is the stream offset to receive from. Bytes from it that
	// were already delivered are returned again from what the socket
	// retains (ErrOffsetUnavailable if it no longer does); what the call
	// delivers is retained until AckReceived. MaxBytes is capped by
	// Config.RetainBytes less what is retained (ErrRetentionFull when that
	// is nothing). nil: the next bytes, and nothing is retained (what was
	// retained is forgotten: the caller no longer uses offsets).
	Offset *int64
	// Ack, with Offset, first acknowledges the bytes before Offset (a
	// client that asks from an offset has what came before it); without
	// it, only AckReceived does (a stream that reads on ahead of its acks).
	Ack bool
}

// RecvResult is what a receive returned.
type RecvResult struct {
	Data      []byte
	EOF       bool           // TCP: the peer closed its sending side and every byte has been read
	Truncated bool           // UDP: the datagram was longer than MaxBytes; the rest is lost, as in recvfrom(2)
	From      netip.AddrPort // the sender (UDP), or the peer (TCP)
	Offset    int64          // TCP: the stream offset of Data[0] (at EOF: the stream's length)
}

// Send sends data on a connected socket: bytes on TCP, one datagram on UDP.
// It returns how many bytes were taken; with an error, that count says how
// much was sent before it (a sendall cut short by a timeout, say).
func (s *Socket) Send(ctx context.Context, data []byte, opts SendOptions) (int, error) {
	st, _, _ := s.snapshotState()
	switch {
	case st == StateListening:
		return 0, s.wrongState("send", st, "a listening socket cannot send")
	case st != StateConnected:
		if s.proto == UDP {
			return 0, opErr("send", s.id, "", detail(unix.EDESTADDRREQ, "connect the socket or use sendto"))
		}
		return 0, opErr("send", s.id, "", unix.ENOTCONN)
	}
	return s.send(ctx, "send", data, nil, "", opts)
}

// SendTo sends one datagram to an address (UDP), as sendto(2). On an
// unbound socket the kernel binds it first, and the socket becomes BOUND.
func (s *Socket) SendTo(ctx context.Context, data []byte, address string, opts SendOptions) (int, error) {
	ap, err := s.m.target(ctx, OpSendTo, s, address)
	if err != nil {
		return 0, opErr("sendto", s.id, address, err)
	}
	return s.SendToAddr(ctx, data, ap, opts)
}

// SendToAddr is SendTo for an address that was already resolved and checked
// (by ResolveTarget), for streams of datagrams to one peer.
func (s *Socket) SendToAddr(ctx context.Context, data []byte, ap netip.AddrPort, opts SendOptions) (int, error) {
	st, _, _ := s.snapshotState()
	if st == StateListening {
		return 0, s.wrongState("sendto", st, "a listening socket cannot send")
	}
	if st == StateCreated {
		if err := s.m.checkAutoBind(s); err != nil {
			// The kernel would bind the socket to the wildcard address, which
			// the policy forbids. For a loopback destination, binding to the
			// loopback address first is the same to the peer and exposes
			// nothing; anything else needs an explicit bind.
			if !ap.Addr().Unmap().IsLoopback() {
				return 0, opErr("sendto", s.id, ap.String(), err)
			}
			lo := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0)
			switch {
			case s.family == IPv6 && ap.Addr().Is4In6():
				lo = netip.AddrPortFrom(netip.AddrFrom16(lo.Addr().As16()), 0)
			case s.family == IPv6:
				lo = netip.AddrPortFrom(netip.IPv6Loopback(), 0)
			}
			if err := s.m.check(OpBind, s, lo); err != nil {
				return 0, opErr("sendto", s.id, ap.String(), err)
			}
			if err := s.bindTo(lo, "implicitly to loopback, by sendto"); err != nil {
				return 0, err
			}
			st = StateBound
		}
	}
	n, err := s.send(ctx, "sendto", data, toSockaddr(ap), ap.String(), opts)
	if err == nil && st == StateCreated {
		s.mu.Lock()
		if s.state == StateCreated {
			s.updateLocalLocked()
			s.state = StateBound
			s.emitLocked(EventBound, "implicitly, by sendto")
		}
		s.mu.Unlock()
	}
	return n, err
}

func (s *Socket) send(ctx context.Context, op string, data []byte, to unix.Sockaddr, addr string, opts SendOptions) (int, error) {
	t, err := s.takeTurn(ctx, dirWrite, s.effectiveTimeout(opts.Timeout))
	if err != nil {
		return 0, s.fail(op, addr, err)
	}
	// With an offset, what an earlier attempt already wrote is acknowledged,
	// not written again. The count is read and advanced under the write
	// turn, so it is exactly where the stream stands.
	skipped := 0
	if opts.Offset != nil {
		if s.proto != TCP {
			t.release()
			return 0, opErr(op, s.id, addr, detail(ErrInvalidArgument, "offsets are for stream (TCP) sockets"))
		}
		written := int64(s.bytesSent.Load())
		if *opts.Offset > written {
			t.release()
			return 0, opErr(op, s.id, addr, detail(ErrInvalidOffset, "send at offset %d, but %d bytes were written", *opts.Offset, written))
		}
		skipped = int(min(written-*opts.Offset, int64(len(data))))
		if data = data[skipped:]; len(data) == 0 {
			t.release()
			return skipped, nil
		}
	}
	st := s.sendState()
	st.reset()
	st.data, st.to, st.all = data, to, opts.All && s.proto == TCP
	err = t.wait(st.attemptFn)
	sent, sendErr := st.sent, st.err
	st.reset() // keep no reference to the caller's data
	if sent > 0 {
		dgrams := 0
		if s.proto == UDP {
			dgrams = 1
		}
		s.countSent(sent, dgrams)
		s.captureSent(data[:sent], sockaddrAddrPort(to))
		s.touch()
	} else if len(data) == 0 && err == nil && sendErr == nil && s.proto == UDP {
		s.countSent(0, 1) // an empty datagram is a datagram
		s.captureSent(nil, sockaddrAddrPort(to))
		s.touch()
	}
	t.release() // after counting: the next sender sees the count move

	if err == nil {
		err = sendErr
	}
	return skipped + sent, s.fail(op, addr, err)
}

// sendState is a send in flight: one per socket (guarded by the write
// turn), with its attempt bound once, so that sending allocates nothing.
type sendState struct {
	data []byte
	to   unix.Sockaddr // nil: the connected peer
	all  bool          // keep going until all is sent (sendall)
	sent int
	err  error

	// A vectored send (SendBuffers): the buffers, where it stands in them,
	// and the iovec array, kept between calls.
	vec      [][]byte
	vecTotal int
	bi, off  int
	iov      []unix.Iovec

	// A batch of datagrams (SendDatagrams) and how many went out.
	dgrams     [][]byte
	dgramsDone int
	mm         []mmsghdr

	attemptFn func(fd int) bool // st.attempt, bound once
}

// sendState returns the socket's send state, made on its first send. The
// caller holds the write turn.
func (s *Socket) sendState() *sendState {
	if s.sendSt == nil {
		st := &sendState{}
		st.attemptFn = st.attempt
		s.sendSt = st
	}
	return s.sendSt
}

// reset forgets the call (and the caller's buffers), keeping the arrays.
func (st *sendState) reset() {
	clear(st.iov)
	clear(st.mm)
	*st = sendState{iov: st.iov[:0], mm: st.mm[:0], attemptFn: st.attemptFn}
}

func (st *sendState) attempt(fd int) bool {
	if st.vec != nil {
		return st.attemptVec(fd)
	}
	if st.dgrams != nil {
		return st.attemptDgrams(fd)
	}
	for {
		var n int
		var err error
		if st.to == nil {
			n, err = sendStream(fd, st.data[st.sent:])
		} else {
			n, err = unix.SendmsgN(fd, st.data[st.sent:], nil, st.to, unix.MSG_NOSIGNAL)
		}
		switch err {
		case nil:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if st.sent == 0 || st.all {
				st.err = err
				return false
			}
			return true
		default:
			st.err = err
			return true
		}
		st.err = nil
		st.sent += n
		if !st.all || st.sent == len(st.data) {
			return true
		}
	}
}

// SendBuffers sends the buffers, in order, on a connected TCP socket as one
// stream of bytes, with as few writev(2)s as the kernel allows: all of them,
// as sendall. It returns how many bytes were sent, also on error.
func (s *Socket) SendBuffers(ctx context.Context, bufs [][]byte, opts SendOptions) (int, error) {
	if st, _, _ := s.snapshotState(); st != StateConnected || s.proto != TCP {
		return 0, opErr("send", s.id, "", unix.ENOTCONN)
	}
	t, err := s.takeTurn(ctx, dirWrite, s.effectiveTimeout(opts.Timeout))
	if err != nil {
		return 0, s.fail("send", "", err)
	}
	// With an offset, what an earlier attempt (another stream, say) already
	// wrote is skipped here, under the write turn, where the count is exact.
	skipped := 0
	if opts.Offset != nil {
		written := int64(s.bytesSent.Load())
		if *opts.Offset > written {
			t.release()
			return 0, opErr("send", s.id, "", detail(ErrInvalidOffset, "send at offset %d, but %d bytes were written", *opts.Offset, written))
		}
		bufs, skipped = skipBuffers(bufs, written-*opts.Offset)
	}
	st := s.sendState()
	st.reset()
	st.vec, st.all = bufs, true
	for _, b := range bufs {
		st.vecTotal += len(b)
	}
	if st.vecTotal > 0 {
		err = t.wait(st.attemptFn)
	}
	sent, sendErr := st.sent, st.err
	st.reset() // keep the arrays, not the caller's buffers
	if sent > 0 {
		s.countSent(sent, 0)
		if s.Capture() != nil {
			left := sent
			for _, b := range bufs {
				n := min(len(b), left)
				s.captureSent(b[:n], netip.AddrPort{})
				if left -= n; left == 0 {
					break
				}
			}
		}
		s.touch()
	}
	t.release()
	if err == nil {
		err = sendErr
	}
	return skipped + sent, s.fail("send", "", err)
}

// skipBuffers drops the first n bytes of bufs (the array is not modified:
// the result is a new slice of the remaining views) and says how many it
// dropped.
func skipBuffers(bufs [][]byte, n int64) ([][]byte, int) {
	skipped := 0
	for len(bufs) > 0 && n > 0 {
		if int64(len(bufs[0])) <= n {
			n -= int64(len(bufs[0]))
			skipped += len(bufs[0])
			bufs = bufs[1:]
			continue
		}
		rest := append([][]byte{bufs[0][n:]}, bufs[1:]...)
		return rest, skipped + int(n)
	}
	return bufs, skipped
}

// SendDatagrams sends each buffer as one datagram on a connected UDP socket,
// in order, with as few sendmmsg(2)s as the kernel allows. It returns how many
// datagrams were sent, also on error.
func (s *Socket) SendDatagrams(ctx context.Context, dgrams [][]byte, opts SendOptions) (int, error) {
	if st, _, _ := s.snapshotState(); st != StateConnected || s.proto != UDP {
		return 0, opErr("send", s.id, "", detail(unix.EDESTADDRREQ, "a connected UDP socket is needed"))
	}
	t, err := s.takeTurn(ctx, dirWrite, s.effectiveTimeout(opts.Timeout))
	if err != nil {
		return 0, s.fail("send", "", err)
	}
	st := s.sendState()
	st.reset()
	st.dgrams = dgrams
	if len(dgrams) > 0 {
		err = t.wait(st.attemptFn)
	}
	sentDgrams, sentBytes, sendErr := st.dgramsDone, st.sent, st.err
	st.reset()
	if sentDgrams > 0 {
		s.countSent(sentBytes, sentDgrams)
		for _, d := range dgrams[:sentDgrams] {
			s.captureSent(d, netip.AddrPort{})
		}
		s.touch()
	}
	t.release()
	if err == nil {
		err = sendErr
	}
	return sentDgrams, s.fail("send", "", err)
}

// maxBatch is how many datagrams one sendmmsg takes (UIO_MAXIOV).
const maxBatch = 1024

func (st *sendState) attemptDgrams(fd int) bool {
	for st.dgramsDone < len(st.dgrams) {
		batch := st.dgrams[st.dgramsDone:min(len(st.dgrams), st.dgramsDone+maxBatch)]
		st.iov, st.mm = st.iov[:0], st.mm[:0]
		for _, d := range batch {
			var v unix.Iovec
			if len(d) > 0 {
				v.Base = &d[0]
			}
			v.SetLen(len(d))
			st.iov = append(st.iov, v)
		}
		for i := range batch {
			var m mmsghdr
			m.hdr.Iov = &st.iov[i]
			m.hdr.SetIovlen(1)
			st.mm = append(st.mm, m)
		}
		n, err := sendDatagrams(fd, st.mm)
		switch err {
		case nil:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			st.err = err
			return false
		default:
			st.err = err
			return true
		}
		st.err = nil
		for _, d := range batch[:n] {
			st.sent += len(d)
		}
		st.dgramsDone += n
	}
	return true
}

// maxIovecs is IOV_MAX on Linux.
const maxIovecs = 1024

func (st *sendState) attemptVec(fd int) bool {
	for st.sent < st.vecTotal {
		st.iov = st.iov[:0]
		for i, off := st.bi, st.off; i < len(st.vec) && len(st.iov) < maxIovecs; i, off = i+1, 0 {
			if b := st.vec[i][off:]; len(b) > 0 {
				var v unix.Iovec
				v.Base = &b[0]
				v.SetLen(len(b))
				st.iov = append(st.iov, v)
			}
		}
		n, err := sendIovecs(fd, st.iov)
		switch err {
		case nil:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			st.err = err
			return false
		default:
			st.err = err
			return true
		}
		st.err = nil
		st.sent += n
		for n > 0 { // advance past what went out
			left := len(st.vec[st.bi]) - st.off
			if n < left {
				st.off += n
				break
			}
			n -= left
			st.bi, st.off = st.bi+1, 0
		}
		for st.bi < len(st.vec) && st.off == len(st.vec[st.bi]) {
			st.bi, st.off = st.bi+1, 0
		}
	}
	return true
}

// Recv receives from a connected TCP socket (returning as soon as any data is
// there, as recv(2); EOF once the peer has closed and everything was read),
// or the next datagram of a bound or connected UDP socket.
func (s *Socket) Recv(ctx context.Context, opts RecvOptions) (RecvResult, error) {
	return s.recv(ctx, "recv", opts)
}

// RecvFrom is Recv that also reports where the data came from: for UDP the
// datagram's source, for TCP the peer.
func (s *Socket) RecvFrom(ctx context.Context, opts RecvOptions) (RecvResult, error) {
	return s.recv(ctx, "recvfrom", opts)
}

func (s *Socket) recv(ctx context.Context, op string, opts RecvOptions) (RecvResult, error) {
	if opts.MaxBytes <= 0 {
		return RecvResult{}, opErr(op, s.id, "", detail(ErrInvalidArgument, "max bytes must be positive"))
	}
	if opts.WaitAll && (opts.Peek || s.proto == UDP) {
		return RecvResult{}, opErr(op, s.id, "", detail(ErrInvalidArgument, "wait_all is for TCP and cannot be combined with peek"))
	}
	st, _, _ := s.snapshotState()
	switch {
	case st == StateListening:
		return RecvResult{}, s.wrongState(op, st, "a listening socket cannot receive: accept a connection and receive on it")
	case s.proto == TCP && st != StateConnected:
		return RecvResult{}, opErr(op, s.id, "", unix.ENOTCONN)
	case s.proto == UDP && st == StateCreated:
		return RecvResult{}, s.wrongState(op, st, "bind the socket (or connect it, or sendto) before receiving")
	}
	var buf []byte
	if len(opts.Buf) >= opts.MaxBytes {
		buf = opts.Buf[:opts.MaxBytes]
	}
	var res RecvResult
	var err error
	if s.proto == TCP {
		res, err = s.recvStream(ctx, buf, opts)
	} else {
		res, err = s.recvDatagram(ctx, buf, opts)
	}
	if err != nil {
		return res, s.fail(op, "", err)
	}
	return res, nil
}

func (s *Socket) recvStream(ctx context.Context, buf []byte, opts RecvOptions) (RecvResult, error) {
	t, err := s.takeTurn(ctx, dirRead, s.effectiveTimeout(opts.Timeout))
	if err != nil {
		return RecvResult{}, err
	}
	defer t.release()

	// With an offset, the call may ask again for bytes already delivered,
	// and what it delivers is retained; without one, nothing is.
	var ret *retention
	if opts.Offset != nil {
		ret = s.retained()
		ret.mu.Lock()
		if delivered := int64(s.bytesReceived.Load()); ret.end() != delivered {
			ret.reset(delivered) // calls without offsets delivered bytes since
		}
		if opts.Ack && *opts.Offset <= int64(s.bytesReceived.Load()) {
			ret.ack(*opts.Offset)
		}
		avail, err := s.retainedFrom(ret, *opts.Offset, nil)
		room := s.m.retainBytes - ret.n
		ret.mu.Unlock()
		if err != nil {
			return RecvResult{}, err
		}
		if avail == 0 && !opts.Peek {
			// Fresh bytes: they must fit beside what is retained.
			if room <= 0 {
				return RecvResult{}, ErrRetentionFull
			}
			opts.MaxBytes = min(opts.MaxBytes, room)
			if len(buf) > opts.MaxBytes {
				buf = buf[:opts.MaxBytes]
			}
		}
	} else if r := s.retainedIfAny(); r != nil {
		r.mu.Lock()
		r.reset(int64(s.bytesReceived.Load()))
		r.mu.Unlock()
	}

	if s.recvSt == nil {
		st := &recvState{}
		st.attemptFn = st.attempt
		s.recvSt = st
	}
	st := s.recvSt
	if buf == nil && opts.MaxBytes <= smallRecv {
		buf = make([]byte, opts.MaxBytes)
	}
	*st = recvState{s: s, buf: buf, max: opts.MaxBytes, waitAll: opts.WaitAll, attemptFn: st.attemptFn}
	if opts.Peek {
		st.flags = unix.MSG_PEEK
	}
	defer func() { *st = recvState{attemptFn: st.attemptFn} }()

	// Bytes asked for again come first: the answer that carried them was
	// lost. They are returned as they were, not received anew.
	again := 0
	if ret != nil {
		ret.mu.Lock()
		avail, _ := s.retainedFrom(ret, *opts.Offset, nil)
		if avail > 0 {
			if st.buf == nil {
				st.buf = st.alloc(avail)
			}
			again, _ = s.retainedFrom(ret, *opts.Offset, st.buf)
		}
		ret.mu.Unlock()
		if again > 0 && (!opts.WaitAll || opts.Peek) {
			return RecvResult{Data: st.buf[:again], From: s.remoteAddr(), Offset: *opts.Offset}, nil
		}
		st.got = again
	}
	if s.left != nil && len(s.left.stream) > 0 {
		// Bytes kept from a call whose caller went away come next.
		if st.buf == nil {
			st.buf = st.alloc(len(s.left.stream) + s.queued())
		}
		n := copy(st.buf[st.got:], s.left.stream)
		if !opts.Peek {
			s.left.stream = s.left.stream[n:]
		}
		st.got += n
	}
	if st.got == 0 || (opts.WaitAll && st.got < len(st.buf)) {
		err = t.wait(st.attemptFn)
		if err == nil {
			err = st.err
		}
	}
	got, data := st.got, st.buf
	res := RecvResult{From: s.remoteAddr(), Offset: int64(s.bytesReceived.Load())}
	if ret != nil {
		res.Offset = *opts.Offset
	}
	switch {
	case got > again && ctx.Err() != nil && !opts.Peek:
		// The caller is gone: keep the new bytes for the next receive.
		if s.left == nil {
			s.left = &leftovers{}
		}
		s.left.stream = append(append([]byte(nil), data[again:got]...), s.left.stream...)
		return RecvResult{}, ctx.Err()
	case got > 0:
		// A wait_all cut short by its timeout or an error returns what came,
		// as recv(2) with MSG_WAITALL does; the next call sees the error.
		res.Data = data[:got]
		if !opts.Peek && got > again {
			fresh := data[again:got]
			if ret != nil {
				ret.mu.Lock()
				s.countReceived(len(fresh), 0)
				ret.append(fresh, s.m.retainBytes)
				ret.mu.Unlock()
			} else {
				s.countReceived(len(fresh), 0)
			}
			s.captureReceived(fresh, res.From)
			s.touch()
		}
		return res, nil
	case st.eof && s.m.closing.Load():
		// Not the peer's end of stream: sockd is closing every socket, the
		// peer's among them.
		return RecvResult{}, ErrManagerClosed
	case st.eof:
		res.Data, res.EOF = []byte{}, true
		if !opts.Peek {
			s.captureEOF()
		}
		return res, nil
	}
	return RecvResult{}, err
}

// recvState is a stream receive in flight: one per socket (guarded by the
// read turn), with its attempt bound once, so that receiving into a caller's
// buffer allocates nothing.
type recvState struct {
	s       *Socket
	buf     []byte // nil: allocate one sized to what is queued
	max     int
	flags   int
	waitAll bool
	got     int
	eof     bool
	err     error

	attemptFn func(fd int) bool // st.attempt, bound once
}

// alloc sizes a buffer for what is queued: exactly that much (up to max), or
// max for wait_all.
func (st *recvState) alloc(queued int) []byte {
	if st.waitAll {
		return make([]byte, st.max)
	}
	return make([]byte, min(st.max, queued))
}

// smallRecv is the receive size up to which a buffer of the full size is
// allocated at once, rather than sized to what is queued: asking the kernel
// how much is queued costs a syscall, which costs more than the memory.
const smallRecv = 64 << 10

func (st *recvState) attempt(fd int) bool {
	for {
		if st.buf == nil {
			queued := st.s.available(fd)
			if queued == 0 {
				// Nothing queued: EOF, an error, or nothing yet?
				var one [1]byte
				n, err := recvStream(fd, one[:], unix.MSG_PEEK)
				switch {
				case err == unix.EINTR:
					continue
				case err != nil:
					st.err = err
					return err != unix.EAGAIN
				case n == 0:
					st.eof, st.err = true, nil
					return true
				}
				continue // data arrived meanwhile: size the buffer for it
			}
			st.buf = st.alloc(queued)
		}
		n, err := recvStream(fd, st.buf[st.got:], st.flags)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			st.err = err
			return err != unix.EAGAIN
		case n == 0:
			st.eof, st.err = st.got == 0, nil
			return true
		}
		st.err = nil
		st.got += n
		if !st.waitAll || st.got == len(st.buf) {
			return true
		}
	}
}

// queued reports how many bytes the kernel holds for reading.
func (s *Socket) queued() int {
	n := 0
	_ = s.control(func(fd int) error { n = s.available(fd); return nil })
	return n
}

// available is the number of bytes queued for reading (SIOCINQ).
func (s *Socket) available(fd int) int {
	n, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	if err != nil {
		return 0
	}
	return n
}

func (s *Socket) recvDatagram(ctx context.Context, buf []byte, opts RecvOptions) (RecvResult, error) {
	t, err := s.takeTurn(ctx, dirRead, s.effectiveTimeout(opts.Timeout))
	if err != nil {
		return RecvResult{}, err
	}
	defer t.release()
	if s.left != nil && s.left.dgram != nil {
		d := s.left.dgram
		// A datagram kept from a call whose caller went away comes first.
		res := *d
		if len(res.Data) > opts.MaxBytes {
			res.Data, res.Truncated = res.Data[:opts.MaxBytes], true
		}
		if !opts.Peek {
			s.left.dgram = nil
			s.countDatagram(len(res.Data))
			s.captureReceived(d.Data, d.From)
		}
		return res, nil
	}
	flags := 0
	if opts.Peek {
		flags = unix.MSG_PEEK
	}
	var res RecvResult
	var recvErr error
	err = t.wait(func(fd int) bool {
		if buf == nil && opts.MaxBytes <= smallRecv {
			buf = make([]byte, opts.MaxBytes)
		}
		for {
			b := buf
			size := -1
			if b == nil {
				// MSG_PEEK|MSG_TRUNC returns the next datagram's real length
				// without taking it, so the buffer fits it exactly.
				var err error
				size, _, _, _, err = unix.Recvmsg(fd, nil, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
				switch err {
				case nil:
				case unix.EINTR:
					continue
				default:
					recvErr = err
					return err != unix.EAGAIN
				}
				b = make([]byte, min(size, opts.MaxBytes))
			}
			n, _, rflags, from, err := unix.Recvmsg(fd, b, nil, flags)
			switch err {
			case nil:
			case unix.EINTR:
				continue
			default:
				recvErr = err
				return err != unix.EAGAIN
			}
			recvErr = nil
			res.Data = b[:n]
			res.Truncated = rflags&unix.MSG_TRUNC != 0 || size > n
			if from != nil {
				res.From = fromSockaddr(from)
			} else {
				res.From = s.remoteAddr()
			}
			return true
		}
	})
	if err == nil {
		err = recvErr
	}
	if err != nil {
		return RecvResult{}, err
	}
	if opts.Peek {
		return res, nil
	}
	if cerr := ctx.Err(); cerr != nil {
		// The caller is gone: keep the datagram for the next receive.
		res.Data = append([]byte(nil), res.Data...)
		if s.left == nil {
			s.left = &leftovers{}
		}
		s.left.dgram = &res
		return RecvResult{}, cerr
	}
	s.countDatagram(len(res.Data))
	s.captureReceived(res.Data, res.From)
	return res, nil
}

func (s *Socket) countDatagram(n int) {
	s.countReceived(n, 1)
	s.touch()
}

func (s *Socket) remoteAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remote
}
