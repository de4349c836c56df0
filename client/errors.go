package client

import (
	"context"
	"errors"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrorDomain is the ErrorInfo domain of sockd's errors.
const ErrorDomain = "sockd"

// Sentinels for sockd's own reasons, to use with errors.Is.
var (
	ErrNotFound     = errors.New("socket not found")         // SOCKET_NOT_FOUND
	ErrWrongState   = errors.New("wrong socket state")       // WRONG_STATE
	ErrInvalid      = errors.New("invalid argument")         // INVALID_ARGUMENT, INVALID_ADDRESS, INVALID_OPTION
	ErrPolicyDenied = errors.New("denied by address policy") // POLICY_DENIED
	ErrLimit        = errors.New("limit exceeded")           // LIMIT_EXCEEDED
)

// Error is a failed call: the gRPC status and sockd's ErrorInfo.
type Error struct {
	Code     codes.Code
	Message  string
	Reason   string            // ErrorInfo reason: an errno name (ECONNREFUSED) or a sockd reason (SOCKET_NOT_FOUND)
	Metadata map[string]string // errno, op, socketId, address, field, limit, requestId, ...
	status   *status.Status
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

// Timeout reports a call that timed out (net.Error).
func (e *Error) Timeout() bool {
	return e.Code == codes.DeadlineExceeded && e.Reason != "EAGAIN" && e.Reason != "EINPROGRESS"
}

// Temporary is part of net.Error; sockd reports no temporary errors.
func (e *Error) Temporary() bool { return false }

// Unwrap exposes the Go errors this one stands for: the errno, the timeout
// and cancellation errors, and this package's sentinels.
func (e *Error) Unwrap() []error {
	var errs []error
	if errno, ok := e.Errno(); ok {
		errs = append(errs, errno)
	}
	switch e.Code {
	case codes.DeadlineExceeded:
		if e.Timeout() {
			errs = append(errs, os.ErrDeadlineExceeded)
		}
	case codes.Canceled:
		errs = append(errs, context.Canceled)
	}
	switch e.Reason {
	case "SOCKET_NOT_FOUND", "LEASE_NOT_FOUND":
		errs = append(errs, ErrNotFound)
	case "WRONG_STATE":
		errs = append(errs, ErrWrongState)
	case "INVALID_ARGUMENT", "INVALID_ADDRESS", "INVALID_OPTION":
		errs = append(errs, ErrInvalid)
	case "POLICY_DENIED":
		errs = append(errs, ErrPolicyDenied)
	case "LIMIT_EXCEEDED":
		errs = append(errs, ErrLimit)
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
			e.Reason, e.Metadata = info.GetReason(), info.GetMetadata()
		}
	}
	if e.Reason == "" {
		// gRPC's own errors (an RPC deadline, a dead connection) have no
		// ErrorInfo: name them after their code.
		e.Reason = CodeName(st.Code())
		if st.Code() == codes.DeadlineExceeded {
			e.Reason = "TIMEOUT"
		}
	}
	return e
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
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return c.String()
}

var codeNames = [...]string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
	"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}
