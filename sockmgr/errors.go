package sockmgr

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Sentinel errors. Every error returned by this package is an *OpError whose
// chain holds one of these, a syscall.Errno, or a context error, so callers
// sort errors with errors.Is.
var (
	// ErrNotFound: no socket with that id or name is visible to the caller
	// (unknown, already closed, or owned by someone else).
	ErrNotFound = errors.New("socket not found")
	// ErrClosed: the socket was closed while the call was using it.
	ErrClosed = fmt.Errorf("socket closed: %w", ErrNotFound)
	// ErrWrongState: the call does not fit the socket's state or protocol
	// (recv on a listener, listen on UDP, accept before listen, ...).
	ErrWrongState = errors.New("wrong socket state")
	// ErrInvalidAddress: the address is malformed, non-canonical, or of the
	// wrong family, or its host name does not resolve.
	ErrInvalidAddress = errors.New("invalid address")
	// ErrInvalidOption: unknown option name, or an option that does not fit
	// the socket (TCP_NODELAY on UDP), or a read-only option being set.
	ErrInvalidOption = errors.New("invalid option")
	// ErrInvalidArgument: a malformed argument that is not an address or an
	// option (bad option value, bad name or label, negative size, ...).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNameInUse: the name is already taken by another socket of the owner.
	ErrNameInUse = errors.New("name already in use")
	// ErrLimit: a configured limit (sockets per owner or in all) is reached.
	ErrLimit = errors.New("limit exceeded")
	// ErrPolicyDenied: the address policy refused the address.
	ErrPolicyDenied = errors.New("denied by address policy")
	// ErrTimeout: the call's or the socket's timeout expired. It is
	// os.ErrDeadlineExceeded, so net-style Timeout() checks work too.
	ErrTimeout = os.ErrDeadlineExceeded
	// ErrManagerClosed: the manager has been closed.
	ErrManagerClosed = errors.New("socket manager closed")
)

// OpError is the error returned by every socket operation. Its shape follows
// net.OpError: the operation, the socket, the address involved (if any), and
// the underlying cause.
type OpError struct {
	Op       string // "bind", "connect", "recv", ...
	SocketID string // empty when no socket was involved (create, parse)
	Addr     string // the address involved, as given or as resolved
	Err      error  // the cause: a sentinel above, a syscall.Errno, or a context error
}

func (e *OpError) Error() string {
	s := e.Op
	if e.SocketID != "" {
		s += " " + e.SocketID
	}
	if e.Addr != "" {
		s += " " + e.Addr
	}
	return s + ": " + e.Err.Error()
}

func (e *OpError) Unwrap() error { return e.Err }

// Timeout reports whether the operation's timeout expired, as net.Error does.
// A non-blocking call that would block is not a timeout.
func (e *OpError) Timeout() bool {
	return errors.Is(e.Err, ErrTimeout) || errors.Is(e.Err, context.DeadlineExceeded)
}

// Errno returns the kernel's errno behind the error, if there is one.
func Errno(err error) (syscall.Errno, bool) {
	var errno syscall.Errno
	if errors.As(err, &errno) && errno != 0 {
		return errno, true
	}
	return 0, false
}

// opErr builds an *OpError; it keeps an *OpError that is already there.
func opErr(op, id, addr string, err error) error {
	if err == nil {
		return nil
	}
	var oe *OpError
	if errors.As(err, &oe) {
		return err
	}
	return &OpError{Op: op, SocketID: id, Addr: addr, Err: err}
}

// detail attaches a human sentence to a sentinel while keeping it in the chain.
func detail(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}
