package sockmgr

import (
	"context"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultBacklog is listen's backlog when the caller gives none (Python's
// default, and SOMAXCONN's historical value).
const DefaultBacklog = 128

// Bind binds the socket to a local address ("127.0.0.1:0", "[::1]:8090",
// "localhost:8090", ":8090" for the wildcard). Port 0 lets the kernel pick a
// port, which Info reports at once.
func (s *Socket) Bind(ctx context.Context, address string) error {
	ap, err := s.m.target(ctx, OpBind, s, address)
	if err != nil {
		return opErr("bind", s.id, address, err)
	}
	return s.bindTo(ap, "")
}

// bindTo binds to an address that the policy already allowed.
func (s *Socket) bindTo(ap netip.AddrPort, note string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != StateCreated {
		return s.wrongState("bind", s.state, "the socket is already bound to "+s.local.String())
	}
	if err := s.control(func(fd int) error { return rawBind(fd, ap) }); err != nil {
		err = opErr("bind", s.id, ap.String(), err)
		s.emitLocked(EventError, err.Error())
		return err
	}
	if ap.Port() != 0 && !ap.Addr().IsUnspecified() {
		s.local = ap // what was asked is what the kernel bound: no getsockname
	} else {
		s.updateLocalLocked()
	}
	s.state = StateBound
	s.touch()
	s.emitLocked(EventBound, note)
	return nil
}

// Listen marks a TCP socket as accepting connections, passing backlog to
// listen(2) as given (0 is a real listen(0)). Listening again changes the
// backlog, as the kernel allows. An unbound socket is bound by the kernel to
// the wildcard address and an ephemeral port, which the policy must allow.
func (s *Socket) Listen(backlog int) error {
	if backlog < 0 {
		return opErr("listen", s.id, "", detail(ErrInvalidArgument, "backlog must not be negative"))
	}
	if s.proto != TCP {
		st, _, _ := s.snapshotState()
		return s.wrongState("listen", st, "only TCP sockets listen")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case StateCreated:
		if err := s.m.checkAutoBind(s); err != nil {
			return opErr("listen", s.id, "", err)
		}
	case StateBound, StateListening:
	default:
		return s.wrongState("listen", s.state, "cannot listen")
	}
	if err := s.control(func(fd int) error { return rawListen(fd, backlog) }); err != nil {
		err = opErr("listen", s.id, "", err)
		s.emitLocked(EventError, err.Error())
		return err
	}
	if s.state == StateCreated {
		s.updateLocalLocked() // the kernel bound it just now
	}
	s.state = StateListening
	s.touch()
	s.emitLocked(EventListening, "backlog "+itoa(backlog))
	return nil
}

// Connect connects the socket to a remote address, as connect(2): for TCP a
// non-blocking connect whose result (SO_ERROR) is read once the socket is
// writable; for UDP it sets the default destination and filters what is
// received. It waits at most the timeout (else the socket's), or until ctx
// ends; the connect then stays in progress in the kernel (Info().Connecting),
// and a later Connect completes or reports it. With a timeout of 0 it fails
// at once with EINPROGRESS, as a non-blocking socket does.
func (s *Socket) Connect(ctx context.Context, address string, timeout *time.Duration) error {
	ap, err := s.m.target(ctx, OpConnect, s, address)
	if err != nil {
		return opErr("connect", s.id, address, err)
	}
	s.mu.Lock()
	state, connecting := s.state, s.connecting
	s.mu.Unlock()
	switch {
	case state == StateListening:
		return s.wrongState("connect", state, "a listening socket cannot connect")
	case state == StateConnected && s.proto == TCP:
		return opErr("connect", s.id, ap.String(), unix.EISCONN)
	}

	started := false
	var connErr error
	eff := s.effectiveTimeout(timeout)
	nonblocking := eff != nil && *eff == 0
	err = s.blocking(ctx, dirWrite, eff, func(fd int) bool {
		if !started {
			started = true
			switch err := rawConnect(fd, ap); err {
			case nil:
				return true
			case unix.EISCONN:
				if connecting { // an earlier connect finished meanwhile
					return true
				}
				connErr = err
				return true
			case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
				s.setConnecting(true)
				connErr = unix.EINPROGRESS // what a non-blocking caller sees
				if nonblocking {
					return false
				}
				// A connect on loopback is usually done by now: look
				// before waiting, which would put the socket in the poller.
			default:
				connErr = err
				return true
			}
		}
		// Writable? The poller may wake us spuriously, and a socket
		// registered before connect starts out "ready": ask the kernel. A
		// connecting TCP socket turns writable when the handshake is done;
		// an error or hang-up comes with POLLERR/POLLHUP and SO_ERROR says
		// which.
		revents := pollNow(fd, unix.POLLOUT)
		if revents == 0 {
			return false
		}
		if revents&(unix.POLLERR|unix.POLLHUP) == 0 {
			connErr = nil
			return true
		}
		soerr, err := rawSoError(fd)
		if err != nil {
			connErr = err
			return true
		}
		switch e := unix.Errno(soerr); e {
		case 0:
			if _, err := rawGetpeername(fd); err != nil {
				return false
			}
			connErr = nil
			return true
		case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
			return false
		default:
			connErr = e
			return true
		}
	})
	if err == nil {
		err = connErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if _, kernel := Errno(err); kernel && !isWouldBlock(err) {
			s.connecting = false // the kernel gave its answer; a timeout leaves the connect in progress
		}
		err = opErr("connect", s.id, ap.String(), err)
		if _, ok := Errno(err); ok && !isWouldBlock(err) {
			s.emitLocked(EventError, err.Error())
		}
		return err
	}
	s.markConnectedLocked(ap)
	return nil
}

func (s *Socket) setConnecting(v bool) {
	s.mu.Lock()
	s.connecting = v
	s.mu.Unlock()
}

// markConnectedLocked records a finished connect.
// remote is the peer when the caller knows it (the address it connected
// to), saving a getpeername.
func (s *Socket) markConnectedLocked(remote netip.AddrPort) {
	s.connecting = false
	s.remote = remote
	_ = s.control(func(fd int) error {
		if !remote.IsValid() {
			if ap, err := rawGetpeername(fd); err == nil {
				s.remote = ap
			}
		}
		if ap, err := rawGetsockname(fd); err == nil {
			s.local = ap
		}
		return nil
	})
	s.state = StateConnected
	s.touch()
	s.emitLocked(EventConnected, "")
}

// refreshConnectingLocked finishes the bookkeeping of a connect that
// completed after its caller stopped waiting.
func (s *Socket) refreshConnectingLocked() {
	var connected, failed bool
	_ = s.control(func(fd int) error {
		if !writable(fd) {
			return nil
		}
		if soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && soerr != 0 {
			// Leave SO_ERROR's value to the next Connect? It is consumed by
			// reading it, so report it as an event instead.
			failed = true
			s.emitLocked(EventError, opErr("connect", s.id, "", unix.Errno(soerr)).Error())
			return nil
		}
		_, err := rawGetpeername(fd)
		connected = err == nil
		return nil
	})
	switch {
	case connected:
		s.markConnectedLocked(netip.AddrPort{})
	case failed:
		s.connecting = false
	}
}

// writable polls the descriptor without waiting.
func writable(fd int) bool {
	return pollNow(fd, unix.POLLOUT)&(unix.POLLOUT|unix.POLLERR|unix.POLLHUP) != 0
}

// AcceptOptions tune Accept.
type AcceptOptions struct {
	// Timeout overrides the socket's timeout for this call (nil: the socket's).
	Timeout *time.Duration
	// Name, if set, names the accepted socket (unique per owner).
	Name string
}

// Accept waits for a connection on a listening socket and registers it as a
// new CONNECTED socket of the same owner, carrying the listener's labels and
// its id as ParentID. It waits at most the timeout (else the socket's) or
// until ctx ends.
func (s *Socket) Accept(ctx context.Context, opts AcceptOptions) (*Socket, error) {
	if st, _, _ := s.snapshotState(); st != StateListening {
		return nil, s.wrongState("accept", st, "accept needs a listening socket: call listen first")
	}
	if opts.Name != "" {
		// Checked before taking a connection from the kernel, so that a
		// taken name does not cost the peer its connection.
		if err := ValidateName(opts.Name); err != nil {
			return nil, opErr("accept", s.id, "", err)
		}
		if s.m.nameTaken(s.owner, opts.Name) {
			return nil, opErr("accept", s.id, "", detail(ErrNameInUse, "a socket named %q exists", opts.Name))
		}
	}
	timeout := opts.Timeout
	if err := s.m.reserve(s.owner); err != nil {
		return nil, opErr("accept", s.id, "", err)
	}
	var nfd int
	var peer netip.AddrPort
	var acceptErr error
	err := s.blocking(ctx, dirRead, s.effectiveTimeout(timeout), func(fd int) bool {
		for {
			nfd, peer, acceptErr = rawAccept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			switch acceptErr {
			case unix.EAGAIN:
				return false
			case unix.ECONNABORTED, unix.EINTR, unix.EPROTO:
				continue // that connection went away; take the next one
			}
			return true
		}
	})
	if err == nil {
		err = acceptErr
	}
	if err != nil {
		s.m.unreserve(s.owner)
		return nil, s.fail("accept", "", err)
	}
	child := newSocket(s.m, nfd, TCP, s.family)
	child.owner, child.labels, child.parentID, child.name = s.owner, s.labels, s.id, opts.Name
	child.idleTimeout, child.leaseID = s.idleTimeout, s.leaseID
	child.lingers.Store(s.lingers.Load())
	// The accepted socket's local address is the listener's, unless the
	// listener is bound to the wildcard (then the kernel says which).
	child.state, child.remote = StateConnected, peer
	if lst := s.Info().LocalAddr; lst.Addr().IsUnspecified() {
		child.mu.Lock()
		child.updateLocalLocked()
		child.mu.Unlock()
	} else {
		child.local = lst
	}
	if err := s.m.register(child, opts.Name); err != nil {
		child.closeFD()
		return nil, opErr("accept", s.id, "", err)
	}
	s.accepted.Add(1)
	s.m.totals.accepted.Add(1)
	s.touch()
	child.mu.Lock()
	child.emitLocked(EventAccepted, "from "+child.remote.String()+" on "+s.id)
	child.mu.Unlock()
	return child, nil
}

// autoBindAddr is what the kernel binds an unbound socket to when it must.
func (s *Socket) autoBindAddr() netip.AddrPort {
	if s.family == IPv6 {
		return netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
	}
	return netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
}
