package client

import (
	"context"
	"errors"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// ErrorDomain is the ErrorInfo domain of sockd's errors.
const ErrorDomain = "sockd"

// Category sentinels, to use with errors.Is across reasons.
var (
	// ErrNotFound matches every NOT_FOUND answer: an unknown socket, lease,
	// proxy, relay or fault.
	ErrNotFound = errors.New("not found")
	// ErrInvalid matches every INVALID_ARGUMENT answer: a bad address,
	// option, offset, field or request.
	ErrInvalid = errors.New("invalid argument")
)

// Error is a failed call: the gRPC status and sockd's ErrorInfo.
type Error struct {
	Code     codes.Code
	Message  string
	Reason   string            // ErrorInfo reason: an errno name (ECONNREFUSED) or a sockd reason (SOCKET_NOT_FOUND)
	Metadata map[string]string // errno, op, socketId, address, field, limit, requestId, ...
	status   *status.Status
	// fromSockd: the status carried sockd's ErrorInfo, so sockd itself
	// answered. Statuses without it come from gRPC: a dead connection, a
	// deadline or cancellation on this side.
	fromSockd bool
}

func (e *Error) Error() string {
	if e.Reason != "" {
		return e.Message + " (" + e.Reason + ")"
	}
	return e.Message
}

// GRPCStatus lets status.FromError and status.Code see the original status.
func (e *Error) GRPCStatus() *status.Status { return e.status }

// Errno is the kernel error behind the failure, if there was one.
func (e *Error) Errno() (syscall.Errno, bool) {
	if errno, ok := errnoByName[e.Reason]; ok {
		return errno, true
	}
	return 0, false
}

// ReasonCode is the sockd reason as its enum value; ERROR_REASON_UNSPECIFIED
// for an errno reason.
func (e *Error) ReasonCode() sockdv1.ErrorReason {
	if r, ok := reasonByName(e.Reason); ok {
		return r.code
	}
	return sockdv1.ErrorReason_ERROR_REASON_UNSPECIFIED
}

// FromSockd reports whether sockd itself gave the answer (the status carries
// its ErrorInfo), as opposed to gRPC on the way: a dropped connection, this
// side's deadline or cancellation.
func (e *Error) FromSockd() bool { return e.fromSockd }

// Timeout reports a call that timed out (net.Error). A non-blocking call
// that would block (EAGAIN, EINPROGRESS) is DEADLINE_EXCEEDED too, but no
// timeout.
func (e *Error) Timeout() bool {
	if e.Code != codes.DeadlineExceeded {
		return false
	}
	errno, ok := e.Errno()
	return !ok || (errno != unix.EAGAIN && errno != unix.EINPROGRESS)
}

// Temporary is part of net.Error; sockd reports no temporary errors.
func (e *Error) Temporary() bool { return false }

// Unwrap exposes the Go errors this one stands for: the errno, the timeout
// and cancellation errors, the reason's sentinel and the categories.
func (e *Error) Unwrap() []error {
	var errs []error
	if errno, ok := e.Errno(); ok {
		errs = append(errs, errno)
	}
	if r, ok := reasonByName(e.Reason); ok {
		errs = append(errs, r)
	}
	switch e.Code {
	case codes.DeadlineExceeded:
		if e.Timeout() {
			errs = append(errs, os.ErrDeadlineExceeded)
		}
	case codes.Canceled:
		errs = append(errs, context.Canceled)
	case codes.NotFound:
		errs = append(errs, ErrNotFound)
	case codes.InvalidArgument:
		errs = append(errs, ErrInvalid)
	}
	return errs
}

// FromError converts an error of a gRPC call into an *Error; other errors
// and nil pass through.
func FromError(err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	e := &Error{Code: st.Code(), Message: st.Message(), status: st}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain {
			e.Reason, e.Metadata, e.fromSockd = info.GetReason(), info.GetMetadata(), true
		}
	}
	if e.Reason == "" {
		// gRPC's own errors (an RPC deadline, a dead connection) have no
		// ErrorInfo: name them as sockd would, else after their code.
		if r, ok := grpcReasons[st.Code()]; ok {
			e.Reason = r.String()
		} else {
			e.Reason = CodeName(st.Code())
		}
	}
	return e
}

// grpcReasons are the sockd reasons that a status gRPC made itself stands
// for.
var grpcReasons = map[codes.Code]sockdv1.ErrorReason{
	codes.Canceled:         sockdv1.ErrorReason_CANCELLED,
	codes.DeadlineExceeded: sockdv1.ErrorReason_TIMEOUT,
	codes.Unauthenticated:  sockdv1.ErrorReason_UNAUTHENTICATED,
	codes.Internal:         sockdv1.ErrorReason_INTERNAL,
}

// BytesSent is how many bytes a failed send did send before its error.
func BytesSent(err error) int {
	var e *Error
	if errors.As(err, &e) {
		n, _ := strconv.Atoi(e.Metadata["bytesSent"])
		return n
	}
	return 0
}

// errnoByName maps errno names (sockd's reasons) to this system's values.
var errnoByName = func() map[string]syscall.Errno {
	m := map[string]syscall.Errno{}
	for i := 1; i < 256; i++ {
		if name := unix.ErrnoName(syscall.Errno(i)); name != "" {
			m[name] = syscall.Errno(i)
		}
	}
	return m
}()

// CodeName is a gRPC code as google.rpc.Code spells it: DEADLINE_EXCEEDED,
// CANCELLED, ...
func CodeName(c codes.Code) string {
	if name, ok := code.Code_name[int32(c)]; ok {
		return name
	}
	return c.String()
}
