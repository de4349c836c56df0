package sockmgr

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Socket is one kernel socket in the registry. Its methods are the socket
// API; all are safe to call from many goroutines. Calls that change the
// socket's state are serialised; a blocking call in one direction (recv)
// does not hold up the other (send) nor the control calls (setsockopt, close).
type Socket struct {
	m *Manager

	// Fixed at creation.
	id          string
	name        string
	labels      map[string]string
	owner       string
	proto       Protocol
	family      Family
	fd          int
	parentID    string
	created     int64         // unix nanoseconds
	seq         uint64        // creation order, for stable listings
	idleTimeout time.Duration // 0: never reaped for idleness
	leaseID     string

	mu         sync.Mutex // guards the fields below and orders state changes with their events
	state      State
	local      netip.AddrPort
	remote     netip.AddrPort
	timeout    *time.Duration
	connecting bool
	readShut   bool
	writeShut  bool

	closed atomic.Bool
	// The descriptor joins Go's poller (an os.File) only when a call first
	// has to wait on it: an idle socket, or one whose calls never block,
	// costs neither the poller's per-descriptor memory nor its syscalls.
	// Calls that use fd directly hold a use of fdUses.
	polled atomic.Pointer[pollFile]
	fdUses fdGuard
	// lingers: SO_LINGER is on with a timeout, so close(2) may block until
	// the unsent data is acknowledged (set by SetOption, inherited by
	// accepted sockets as the kernel inherits the option).
	lingers atomic.Bool
	busy    atomic.Int32 // calls holding a turn: a socket in a blocking call is not idle
	// hook records the socket's traffic while capture is on (capture.go).
	hook atomic.Pointer[hookBox]
	// resetOnClose: the close about to happen sends a reset (SO_LINGER 0);
	// set by closeWith for the capture's last record.
	resetOnClose bool
	// turns are the read and write directions' semaphores (see wait.go),
	// made on first use: an idle socket carries none of the data path.
	turns [2]atomic.Pointer[chan struct{}]

	// Bytes or a datagram taken from the kernel by a call whose caller went
	// away before it could get them; the next receive returns them first.
	// Guarded by the read turn; made only when needed.
	left *leftovers
	// ret keeps delivered stream bytes for clients that use offsets (see
	// offsets.go); made on first use, guarded by s.mu for its creation.
	ret *retention
	// ops are the directions' calls in flight, each guarded by its turn and
	// made on first use (see wait.go and io.go).
	readOp        *op
	writeOp       *op
	sendSt        *sendState // the send in flight; guarded by the write turn
	recvSt        *recvState // the stream receive in flight; guarded by the read turn
	bytesSent     atomic.Uint64
	bytesReceived atomic.Uint64
	dgramsSent    atomic.Uint64
	dgramsRecv    atomic.Uint64
	accepted      atomic.Uint64
	lastActivity  atomic.Int64 // unix nanoseconds
}

// leftovers are received bytes that no caller took (see Socket.left).
type leftovers struct {
	stream []byte
	dgram  *RecvResult
}

// pollFile is the descriptor registered with the runtime poller.
type pollFile struct {
	file *os.File
	raw  syscall.RawConn
}

// newSocket wraps a fresh non-blocking descriptor, which it then owns.
func newSocket(m *Manager, fd int, proto Protocol, fam Family) *Socket {
	now := m.now().UnixNano()
	s := &Socket{m: m, proto: proto, family: fam, fd: fd, created: now, state: StateCreated}
	s.lastActivity.Store(now)
	return s
}

// poller returns the descriptor's registration with the runtime poller,
// made on first use. os.NewFile takes ownership of fd (no dup); s.mu makes
// sure only one os.File ever owns it (a second one would close it when
// collected).
func (s *Socket) poller() (*pollFile, error) {
	if pf := s.polled.Load(); pf != nil {
		return pf, nil
	}
	if !s.fdUses.acquire() {
		return nil, ErrClosed
	}
	defer s.fdUses.release()
	s.mu.Lock()
	defer s.mu.Unlock()
	if pf := s.polled.Load(); pf != nil {
		return pf, nil
	}
	file := os.NewFile(uintptr(s.fd), "") // no name: 16 bytes less per socket
	raw, err := file.SyscallConn()
	if err != nil {
		return nil, err
	}
	pf := &pollFile{file: file, raw: raw}
	s.polled.Store(pf)
	return pf, nil
}

// closeFD closes the descriptor; it is called once. Calls using the bare
// descriptor finish first and later ones find it closed; a descriptor in
// the poller is closed through its os.File, which wakes the calls waiting
// on it and returns once none of them uses it.
func (s *Socket) closeFD() error {
	s.fdUses.close()
	if pf := s.polled.Load(); pf != nil {
		return pf.file.Close()
	}
	if s.lingers.Load() {
		return unix.Close(s.fd) // may block: tell the scheduler
	}
	return rawClose(s.fd)
}

// ID returns the socket's id.
func (s *Socket) ID() string { return s.id }

// Seq is the socket's position in creation order (unique, increasing), for
// paging through List.
func (s *Socket) Seq() uint64 { return s.seq }

// Owner returns the principal that created the socket.
func (s *Socket) Owner() string { return s.owner }

// Protocol returns TCP or UDP.
func (s *Socket) Protocol() Protocol { return s.proto }

// Family returns IPv4 or IPv6.
func (s *Socket) Family() Family { return s.family }

// BytesSent is the socket's write offset (TCP: the bytes written to it so
// far), without the lock and the copy of a whole Info: the Attach writer
// reads it after every piece it writes.
func (s *Socket) BytesSent() uint64 { return s.bytesSent.Load() }

// Info returns a snapshot of the socket. For a connect still in progress it
// first asks the kernel whether the connection has been made meanwhile.
func (s *Socket) Info() Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connecting {
		s.refreshConnectingLocked()
	}
	return s.infoLocked()
}

func (s *Socket) infoLocked() Info {
	return Info{
		ID: s.id, Name: s.name, Labels: s.labels, Owner: s.owner,
		Protocol: s.proto, Family: s.family, State: s.state,
		LocalAddr: s.local, RemoteAddr: s.remote, Timeout: s.timeout,
		FD: s.fd, ParentID: s.parentID, Connecting: s.connecting,
		ReadShut: s.readShut, WriteShut: s.writeShut,
		Counters: Counters{
			BytesSent: s.bytesSent.Load(), BytesReceived: s.bytesReceived.Load(),
			DatagramsSent: s.dgramsSent.Load(), DatagramsReceived: s.dgramsRecv.Load(),
			Accepted: s.accepted.Load(),
		},
		CreateTime:   time.Unix(0, s.created),
		LastActivity: time.Unix(0, s.lastActivity.Load()),
		IdleTimeout:  s.idleTimeout,
		LeaseID:      s.leaseID,
	}
}

func (s *Socket) touch() { s.lastActivity.Store(s.m.now().UnixNano()) }

// control runs a non-blocking call on the descriptor; it fails with ErrClosed
// once the socket is closed. f must not block.
func (s *Socket) control(f func(fd int) error) error {
	if !s.fdUses.acquire() {
		return ErrClosed
	}
	defer s.fdUses.release()
	return f(s.fd)
}

// emitLocked publishes an event about this socket; s.mu must be held, which
// keeps each socket's events in the order of its state changes.
func (s *Socket) emitLocked(kind EventKind, detail string) {
	s.captureEventLocked(kind, detail)
	s.m.events.publish(kind, s.infoLocked(), detail)
}

// fail reports a kernel error of a socket call as an error event (timeouts,
// would-block and cancellations are the caller's business, not events) and
// returns it wrapped as an *OpError.
func (s *Socket) fail(op, addr string, err error) error {
	if err == nil {
		return nil
	}
	if s.m.closing.Load() && !errors.Is(err, ErrManagerClosed) {
		// Whatever woke the call (its socket closed, its peer's close
		// seen), the reason is that sockd is shutting down.
		err = fmt.Errorf("%w (%v)", ErrManagerClosed, err)
	}
	s.captureError(err)
	err = opErr(op, s.id, addr, err)
	if _, ok := Errno(err); ok && !isWouldBlock(err) {
		s.mu.Lock()
		if !s.closed.Load() {
			s.emitLocked(EventError, err.Error())
		}
		s.mu.Unlock()
	}
	return err
}

func isWouldBlock(err error) bool {
	errno, ok := Errno(err)
	return ok && (errno == unix.EAGAIN || errno == unix.EINPROGRESS || errno == unix.EALREADY)
}

// SetTimeout sets the default time limit of the socket's blocking calls, as
// Python's settimeout: nil blocks, 0 is non-blocking, > 0 limits each call.
func (s *Socket) SetTimeout(timeout *time.Duration) error {
	if timeout != nil && *timeout < 0 {
		return opErr("settimeout", s.id, "", detail(ErrInvalidArgument, "timeout must not be negative"))
	}
	if s.closed.Load() {
		return opErr("settimeout", s.id, "", ErrClosed)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if timeout != nil {
		t := *timeout
		timeout = &t
	}
	s.timeout = timeout
	return nil
}

// effectiveTimeout picks the call's timeout, else the socket's.
func (s *Socket) effectiveTimeout(call *time.Duration) *time.Duration {
	if call != nil {
		return call
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.timeout
}

// SetOption sets a socket option by its socket(7) name and returns the value
// the kernel reports back (for SO_RCVBUF, the doubled size).
func (s *Socket) SetOption(name string, value int) (int, error) {
	o, err := lookupOption(name, s.proto, s.family)
	if err == nil {
		err = o.check(value)
	}
	if err != nil {
		return 0, opErr("setsockopt", s.id, "", err)
	}
	var got int
	err = s.control(func(fd int) error {
		if err := o.set(fd, value); err != nil {
			return err
		}
		got, err = o.get(fd)
		return err
	})
	if err != nil {
		return 0, opErr("setsockopt "+o.name, s.id, "", err)
	}
	if o.level == unix.SOL_SOCKET && o.opt == unix.SO_LINGER {
		s.lingers.Store(got > 0)
	}
	s.touch()
	return got, nil
}

// GetOption reads a socket option from the kernel.
func (s *Socket) GetOption(name string) (int, error) {
	o, err := lookupOption(name, s.proto, s.family)
	if err != nil {
		return 0, opErr("getsockopt", s.id, "", err)
	}
	var got int
	err = s.control(func(fd int) (err error) {
		got, err = o.get(fd)
		return err
	})
	if err != nil {
		return 0, opErr("getsockopt "+o.name, s.id, "", err)
	}
	return got, nil
}

// ShutdownHow says which directions Shutdown closes.
type ShutdownHow uint8

const (
	ShutRead  ShutdownHow = iota + 1 // SHUT_RD
	ShutWrite                        // SHUT_WR
	ShutBoth                         // SHUT_RDWR
)

func (h ShutdownHow) String() string {
	switch h {
	case ShutRead:
		return "read"
	case ShutWrite:
		return "write"
	case ShutBoth:
		return "both"
	}
	return "unknown"
}

// Shutdown shuts down one or both directions of a connection, as shutdown(2):
// after ShutWrite the peer reads EOF and can still answer.
func (s *Socket) Shutdown(how ShutdownHow) error {
	var sh int
	switch how {
	case ShutRead:
		sh = unix.SHUT_RD
	case ShutWrite:
		sh = unix.SHUT_WR
	case ShutBoth:
		sh = unix.SHUT_RDWR
	default:
		return opErr("shutdown", s.id, "", detail(ErrInvalidArgument, "how must be read, write or both"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.control(func(fd int) error { return unix.Shutdown(fd, sh) }); err != nil {
		err = opErr("shutdown", s.id, "", err)
		if _, ok := Errno(err); ok {
			s.emitLocked(EventError, err.Error())
		}
		return err
	}
	s.readShut = s.readShut || how != ShutWrite
	s.writeShut = s.writeShut || how != ShutRead
	s.touch()
	s.emitLocked(EventShutdown, how.String())
	return nil
}

// Close closes the socket and removes it from the registry. Blocked calls on
// it return ErrClosed. Accepted sockets of a listener stay open. A second
// Close reports ErrNotFound, as a lookup of the closed socket would.
func (s *Socket) Close() error { return s.closeWith("client") }

// closeWith closes the socket and records why in the closed event: "client",
// "idle", "lease", or "shutdown".
func (s *Socket) closeWith(reason string) error {
	if !s.closed.CompareAndSwap(false, true) {
		return opErr("close", s.id, "", ErrClosed)
	}
	s.m.unregister(s)
	if s.Capture() != nil {
		s.resetOnClose = s.lingerZero()
	}
	// Close wakes blocked calls and returns once none of them uses the
	// descriptor any more; it must not run under s.mu, which they may need.
	err := s.closeFD()
	s.mu.Lock()
	s.state = StateClosed
	s.emitLocked(EventClosed, reason)
	s.mu.Unlock()
	if err != nil {
		return opErr("close", s.id, "", err)
	}
	return nil
}

// updateLocalLocked reads the bound address back from the kernel.
func (s *Socket) updateLocalLocked() {
	_ = s.control(func(fd int) error {
		ap, err := rawGetsockname(fd)
		if err == nil {
			s.local = ap
		}
		return err
	})
}

// wrongState reports a call that does not fit the socket's state st.
func (s *Socket) wrongState(op string, st State, why string) error {
	if st == StateClosed {
		return opErr(op, s.id, "", ErrClosed)
	}
	return opErr(op, s.id, "", detail(ErrWrongState, "%s (the socket is %s %s)", why, s.proto, st))
}

// snapshotState reads the state and the flags that calls check before they
// start.
func (s *Socket) snapshotState() (st State, readShut, writeShut bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state, s.readShut, s.writeShut
}
