package relay

import (
	"errors"
	"fmt"

	"github.com/sockd/sockd/sockmgr"
)

// Sentinel errors. Every error returned by this package is an *Error whose
// chain holds one of these, or one of sockmgr's (sockmgr.ErrInvalidArgument,
// ErrInvalidAddress, ErrNameInUse, ErrWrongState, ErrPolicyDenied, ErrLimit,
// ErrNotFound for a socket, ErrManagerClosed) or a syscall.Errno from a socket
// call, so that the service maps each, with errors.Is, to one ErrorReason of
// api/proto/sockd/v1/errors.proto:
//
//	ErrProxyNotFound          PROXY_NOT_FOUND   (NOT_FOUND)
//	ErrRelayNotFound          RELAY_NOT_FOUND   (NOT_FOUND)
//	ErrFaultNotFound          FAULT_NOT_FOUND   (NOT_FOUND)
//	ErrFaultExists            FAULT_EXISTS      (ALREADY_EXISTS)
//	ErrSocketInUse            SOCKET_IN_USE     (FAILED_PRECONDITION)
//	sockmgr.ErrInvalidArgument INVALID_ARGUMENT (the Error's Field names the field)
//	sockmgr.ErrNameInUse      NAME_IN_USE       (a proxy or relay name taken)
//	sockmgr.ErrWrongState     WRONG_STATE       (a socket not connected, ...)
//	sockmgr.ErrManagerClosed  SHUTTING_DOWN
//
// The relay sentinels do not wrap sockmgr.ErrNotFound, so a table that checks
// sockmgr.ErrNotFound (SOCKET_NOT_FOUND) can list them in any order.
var (
	// ErrProxyNotFound: no proxy with that id or name is visible to the
	// caller (unknown, deleted, or another owner's).
	ErrProxyNotFound = errors.New("proxy not found")
	// ErrRelayNotFound: no relay with that id or name is visible to the
	// caller (unknown, ended, or another owner's).
	ErrRelayNotFound = errors.New("relay not found")
	// ErrFaultNotFound: the proxy or relay has no fault of that name.
	ErrFaultNotFound = errors.New("fault not found")
	// ErrFaultExists: the proxy or relay has a fault of that name already.
	ErrFaultExists = errors.New("fault already exists")
	// ErrSocketInUse: the socket is part of a relay or proxy already, or a
	// call on it is in progress.
	ErrSocketInUse = errors.New("socket in use")
)

// Error is the error returned by every operation of this package. Like
// sockmgr.OpError it names the operation and what it was about, so the
// service can put them in ErrorInfo's metadata.
type Error struct {
	Op      string // "create proxy", "add fault", ...
	ProxyID string // the proxy involved (id, or the reference given)
	RelayID string // the relay involved
	Fault   string // the fault's name
	Field   string // for invalid arguments: the request field at fault (proto name: "fault.latency.jitter")
	Err     error  // a sentinel above, one of sockmgr's errors, or an errno
}

func (e *Error) Error() string {
	s := e.Op
	if e.ProxyID != "" {
		s += " proxy " + e.ProxyID
	}
	if e.RelayID != "" {
		s += " relay " + e.RelayID
	}
	if e.Fault != "" {
		s += " fault " + e.Fault
	}
	return s + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// invalid is an invalid-argument error naming the field.
func invalid(field, format string, args ...any) error {
	return &Error{Field: field, Err: fmt.Errorf("%w: %s: %s", sockmgr.ErrInvalidArgument, field, fmt.Sprintf(format, args...))}
}

// wrap gives err the operation's context; an *Error keeps its own fields
// and gains the missing ones.
func wrap(op string, target Target, fault string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Op == "" {
			e.Op = op
		}
		if e.ProxyID == "" {
			e.ProxyID = target.Proxy
		}
		if e.RelayID == "" {
			e.RelayID = target.Relay
		}
		if e.Fault == "" {
			e.Fault = fault
		}
		return e
	}
	return &Error{Op: op, ProxyID: target.Proxy, RelayID: target.Relay, Fault: fault, Err: err}
}

// detail attaches a sentence to a sentinel while keeping it in the chain.
func detail(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}
