package service

import (
	"context"
	"errors"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/sockmgr"
)

// ErrorDomain is the ErrorInfo domain of every sockd error.
const ErrorDomain = "sockd"

// Reasons that are not errno names (AIP-193: UPPER_SNAKE_CASE).
const (
	ReasonSocketNotFound  = "SOCKET_NOT_FOUND"
	ReasonLeaseNotFound   = "LEASE_NOT_FOUND"
	ReasonInvalidAddress  = "INVALID_ADDRESS"
	ReasonInvalidOption   = "INVALID_OPTION"
	ReasonInvalidArgument = "INVALID_ARGUMENT"
	ReasonWrongState      = "WRONG_STATE"
	ReasonNameInUse       = "NAME_IN_USE"
	ReasonLimitExceeded   = "LIMIT_EXCEEDED"
	ReasonPolicyDenied    = "POLICY_DENIED"
	ReasonTimeout         = "TIMEOUT"
	ReasonCancelled       = "CANCELLED"
	ReasonShuttingDown    = "SHUTTING_DOWN"
	ReasonUnauthenticated = "UNAUTHENTICATED"
	ReasonInternal        = "INTERNAL"
)

// errorRule maps errors matching target (errors.Is) to a code and reason; an
// empty reason means the errno's own name (ECONNREFUSED, ...).
type errorRule struct {
	target error
	code   codes.Code
	reason string
}

// errorTable is the one place where sockmgr's errors become gRPC codes
// (DESIGN.md, "Error model"). The first matching rule wins: errnos come
// before sentinels because a kernel answer is the more precise of the two.
var errorTable = []errorRule{
	{syscall.EADDRINUSE, codes.AlreadyExists, ""},
	{syscall.EADDRNOTAVAIL, codes.InvalidArgument, ""},
	{syscall.EAFNOSUPPORT, codes.InvalidArgument, ""},
	{syscall.EMSGSIZE, codes.InvalidArgument, ""},
	{syscall.ECONNREFUSED, codes.Unavailable, ""},
	{syscall.ENETUNREACH, codes.Unavailable, ""},
	{syscall.EHOSTUNREACH, codes.Unavailable, ""},
	{syscall.ENETDOWN, codes.Unavailable, ""},
	{syscall.ETIMEDOUT, codes.Unavailable, ""},
	{syscall.ECONNABORTED, codes.Unavailable, ""},
	{syscall.ECONNRESET, codes.FailedPrecondition, ""},
	{syscall.EPIPE, codes.FailedPrecondition, ""},
	{syscall.EISCONN, codes.FailedPrecondition, ""},
	{syscall.ENOTCONN, codes.FailedPrecondition, ""},
	{syscall.EDESTADDRREQ, codes.FailedPrecondition, ""},
	{syscall.EINVAL, codes.FailedPrecondition, ""}, // the kernel's "not in this state" (listen after connect, ...)
	{syscall.EOPNOTSUPP, codes.FailedPrecondition, ""},
	{syscall.EACCES, codes.PermissionDenied, ""},
	{syscall.EPERM, codes.PermissionDenied, ""},
	{syscall.EAGAIN, codes.DeadlineExceeded, ""},
	{syscall.EINPROGRESS, codes.DeadlineExceeded, ""},
	{syscall.EALREADY, codes.DeadlineExceeded, ""},
	{syscall.EMFILE, codes.ResourceExhausted, ""},
	{syscall.ENFILE, codes.ResourceExhausted, ""},
	{syscall.ENOBUFS, codes.ResourceExhausted, ""},
	{syscall.ENOMEM, codes.ResourceExhausted, ""},

	{sockmgr.ErrLeaseNotFound, codes.NotFound, ReasonLeaseNotFound},
	{sockmgr.ErrNotFound, codes.NotFound, ReasonSocketNotFound},
	{sockmgr.ErrInvalidAddress, codes.InvalidArgument, ReasonInvalidAddress},
	{sockmgr.ErrInvalidOption, codes.InvalidArgument, ReasonInvalidOption},
	{sockmgr.ErrInvalidArgument, codes.InvalidArgument, ReasonInvalidArgument},
	{sockmgr.ErrWrongState, codes.FailedPrecondition, ReasonWrongState},
	{sockmgr.ErrNameInUse, codes.AlreadyExists, ReasonNameInUse},
	{sockmgr.ErrLimit, codes.ResourceExhausted, ReasonLimitExceeded},
	{sockmgr.ErrPolicyDenied, codes.PermissionDenied, ReasonPolicyDenied},
	{sockmgr.ErrTimeout, codes.DeadlineExceeded, ReasonTimeout},
	{context.DeadlineExceeded, codes.DeadlineExceeded, ReasonTimeout},
	{context.Canceled, codes.Canceled, ReasonCancelled},
	{sockmgr.ErrManagerClosed, codes.Unavailable, ReasonShuttingDown},
}

// sendOps are calls after which data may have left: a client that retries on
// UNAVAILABLE could send it twice, so their "unreachable" errors are
// FAILED_PRECONDITION instead.
var sendOps = map[string]bool{"send": true, "sendto": true}

// classify finds the code and reason for an error.
func classify(err error) (codes.Code, string) {
	for _, r := range errorTable {
		if errors.Is(err, r.target) {
			reason := r.reason
			if reason == "" {
				reason = unix.ErrnoName(r.target.(syscall.Errno))
			}
			return r.code, reason
		}
	}
	return codes.Internal, ReasonInternal
}

// toStatus turns an error from sockmgr into a gRPC status error carrying
// ErrorInfo: the code and reason from errorTable, and as metadata the errno
// number, the op, the socket id and the address involved.
func toStatus(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err // already a status (validation)
	}
	code, reason := classify(err)
	md := map[string]string{}
	var oe *sockmgr.OpError
	if errors.As(err, &oe) {
		md["op"] = oe.Op
		if oe.SocketID != "" {
			md["socketId"] = oe.SocketID
		}
		if oe.Addr != "" {
			md["address"] = oe.Addr
		}
		if sendOps[oe.Op] && code == codes.Unavailable {
			code = codes.FailedPrecondition
		}
	}
	if errno, ok := sockmgr.Errno(err); ok {
		md["errno"] = strconv.Itoa(int(errno))
	}
	msg := err.Error()
	if code == codes.Internal {
		id := RequestID(ctx)
		md["requestId"] = id
		loggerFrom(ctx).Error("internal error", "err", err, "requestId", id)
	}
	return withInfo(code, msg, reason, md)
}

// withInfo builds a status with an ErrorInfo detail.
func withInfo(code codes.Code, msg, reason string, md map[string]string) error {
	st, derr := status.New(code, msg).WithDetails(&errdetails.ErrorInfo{
		Reason: reason, Domain: ErrorDomain, Metadata: md,
	})
	if derr != nil {
		return status.Error(code, msg)
	}
	return st.Err()
}

// invalidField is the INVALID_ARGUMENT for a malformed request field; it
// carries ErrorInfo and a BadRequest field violation naming the field.
func invalidField(field, reason, format string, args ...any) error {
	msg := field + ": " + sprintf(format, args...)
	st, derr := status.New(codes.InvalidArgument, msg).WithDetails(
		&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: map[string]string{"field": field}},
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: msg}}},
	)
	if derr != nil {
		return status.Error(codes.InvalidArgument, msg)
	}
	return st.Err()
}

// limitExceeded is the RESOURCE_EXHAUSTED for a request over a configured
// limit, naming the limit.
func limitExceeded(limit string, max int, got int) error {
	return withInfo(codes.ResourceExhausted,
		sprintf("%s is %d bytes; this request has %d", limit, max, got),
		ReasonLimitExceeded, map[string]string{"limit": limit, "max": strconv.Itoa(max), "got": strconv.Itoa(got)})
}

// addMetadata adds a key to the ErrorInfo of a status error.
func addMetadata(err error, key, value string) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			md := map[string]string{key: value}
			for k, v := range info.GetMetadata() {
				md[k] = v
			}
			return withInfo(st.Code(), st.Message(), info.GetReason(), md)
		}
	}
	return err
}
