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

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/relay"
	"github.com/sockd/sockd/sockmgr"
)

// ErrorDomain is the ErrorInfo domain of every sockd error.
const ErrorDomain = "sockd"

// The sockd reasons used here, by their short Go names; the values and their
// wire spellings are the proto's ErrorReason enum (errors.proto), the one
// place a reason is defined.
const (
	ReasonSocketNotFound  = sockdv1.ErrorReason_SOCKET_NOT_FOUND
	ReasonLeaseNotFound   = sockdv1.ErrorReason_LEASE_NOT_FOUND
	ReasonInvalidAddress  = sockdv1.ErrorReason_INVALID_ADDRESS
	ReasonInvalidOption   = sockdv1.ErrorReason_INVALID_OPTION
	ReasonInvalidArgument = sockdv1.ErrorReason_INVALID_ARGUMENT
	ReasonWrongState      = sockdv1.ErrorReason_WRONG_STATE
	ReasonNameInUse       = sockdv1.ErrorReason_NAME_IN_USE
	ReasonLimitExceeded   = sockdv1.ErrorReason_LIMIT_EXCEEDED
	ReasonPolicyDenied    = sockdv1.ErrorReason_POLICY_DENIED
	ReasonTimeout         = sockdv1.ErrorReason_TIMEOUT
	ReasonCancelled       = sockdv1.ErrorReason_CANCELLED
	ReasonShuttingDown    = sockdv1.ErrorReason_SHUTTING_DOWN
	ReasonUnauthenticated = sockdv1.ErrorReason_UNAUTHENTICATED
	ReasonInternal        = sockdv1.ErrorReason_INTERNAL
	ReasonAuthThrottled   = sockdv1.ErrorReason_AUTH_THROTTLED
	ReasonMalformed       = sockdv1.ErrorReason_MALFORMED_REQUEST
)

// errorRule maps errors matching target (errors.Is) to a code and reason; an
// unspecified reason means the errno's own name (ECONNREFUSED, ...).
type errorRule struct {
	target error
	code   codes.Code
	reason sockdv1.ErrorReason
}

// errorTable is the one place where sockmgr's errors become gRPC codes
// (DESIGN.md, "Error model"). The first matching rule wins: errnos come
// before sentinels because a kernel answer is the more precise of the two.
var errorTable = []errorRule{
	{syscall.EADDRINUSE, codes.AlreadyExists, 0},
	{syscall.EADDRNOTAVAIL, codes.InvalidArgument, 0},
	{syscall.EAFNOSUPPORT, codes.InvalidArgument, 0},
	{syscall.EMSGSIZE, codes.InvalidArgument, 0},
	{syscall.ECONNREFUSED, codes.Unavailable, 0},
	{syscall.ENETUNREACH, codes.Unavailable, 0},
	{syscall.EHOSTUNREACH, codes.Unavailable, 0},
	{syscall.ENETDOWN, codes.Unavailable, 0},
	{syscall.ETIMEDOUT, codes.Unavailable, 0},
	{syscall.ECONNABORTED, codes.Unavailable, 0},
	{syscall.ECONNRESET, codes.FailedPrecondition, 0},
	{syscall.EPIPE, codes.FailedPrecondition, 0},
	{syscall.EISCONN, codes.FailedPrecondition, 0},
	{syscall.ENOTCONN, codes.FailedPrecondition, 0},
	{syscall.EDESTADDRREQ, codes.FailedPrecondition, 0},
	{syscall.EINVAL, codes.FailedPrecondition, 0}, // the kernel's "not in this state" (listen after connect, ...)
	{syscall.EOPNOTSUPP, codes.FailedPrecondition, 0},
	{syscall.EACCES, codes.PermissionDenied, 0},
	{syscall.EPERM, codes.PermissionDenied, 0},
	{syscall.EAGAIN, codes.DeadlineExceeded, 0},
	{syscall.EINPROGRESS, codes.DeadlineExceeded, 0},
	{syscall.EALREADY, codes.DeadlineExceeded, 0},
	{syscall.EMFILE, codes.ResourceExhausted, 0},
	{syscall.ENFILE, codes.ResourceExhausted, 0},
	{syscall.ENOBUFS, codes.ResourceExhausted, 0},
	{syscall.ENOMEM, codes.ResourceExhausted, 0},

	// The relay's own sentinels wrap none of sockmgr's, so their place
	// here is free; the sockmgr errors they may carry are below.
	{relay.ErrProxyNotFound, codes.NotFound, sockdv1.ErrorReason_PROXY_NOT_FOUND},
	{relay.ErrRelayNotFound, codes.NotFound, sockdv1.ErrorReason_RELAY_NOT_FOUND},
	{relay.ErrFaultNotFound, codes.NotFound, sockdv1.ErrorReason_FAULT_NOT_FOUND},
	{relay.ErrFaultExists, codes.AlreadyExists, sockdv1.ErrorReason_FAULT_EXISTS},
	{relay.ErrSocketInUse, codes.FailedPrecondition, sockdv1.ErrorReason_SOCKET_IN_USE},
	{relay.ErrNothingToReplay, codes.InvalidArgument, sockdv1.ErrorReason_INVALID_CAPTURE},
	{sockmgr.ErrOffsetUnavailable, codes.FailedPrecondition, sockdv1.ErrorReason_OFFSET_UNAVAILABLE},
	{sockmgr.ErrInvalidOffset, codes.InvalidArgument, sockdv1.ErrorReason_INVALID_OFFSET},
	{sockmgr.ErrRetentionFull, codes.ResourceExhausted, ReasonLimitExceeded},
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
			if r.reason == sockdv1.ErrorReason_ERROR_REASON_UNSPECIFIED {
				return r.code, unix.ErrnoName(r.target.(syscall.Errno))
			}
			return r.code, r.reason.String()
		}
	}
	return codes.Internal, ReasonInternal.String()
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
	var re *relay.Error
	if errors.As(err, &re) {
		for k, v := range map[string]string{"op": re.Op, "proxyId": re.ProxyID, "relayId": re.RelayID, "fault": re.Fault, "field": re.Field} {
			if v != "" {
				md[k] = v
			}
		}
	}
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
	return statusWithInfo(code, msg, reason, md)
}

// withInfo builds a status with an ErrorInfo detail carrying a sockd reason.
func withInfo(code codes.Code, msg string, reason sockdv1.ErrorReason, md map[string]string) error {
	return statusWithInfo(code, msg, reason.String(), md)
}

// statusWithInfo builds a status with an ErrorInfo detail; reason is an
// ErrorReason name or an errno name.
func statusWithInfo(code codes.Code, msg, reason string, md map[string]string) error {
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
func invalidField(field string, reason sockdv1.ErrorReason, format string, args ...any) error {
	msg := field + ": " + sprintf(format, args...)
	st, derr := status.New(codes.InvalidArgument, msg).WithDetails(
		&errdetails.ErrorInfo{Reason: reason.String(), Domain: ErrorDomain, Metadata: map[string]string{"field": field}},
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
			return statusWithInfo(st.Code(), st.Message(), info.GetReason(), md)
		}
	}
	return err
}

// codeReasons name the reason of a status that carries no ErrorInfo (one
// that grpc-go itself made: a cancelled or expired call, a message over the
// size limit), in the enum's spelling.
var codeReasons = map[codes.Code]sockdv1.ErrorReason{
	codes.Canceled:          ReasonCancelled,
	codes.DeadlineExceeded:  ReasonTimeout,
	codes.ResourceExhausted: ReasonLimitExceeded,
	codes.Unauthenticated:   ReasonUnauthenticated,
	codes.InvalidArgument:   sockdv1.ErrorReason_MALFORMED_REQUEST,
	codes.Unavailable:       ReasonShuttingDown,
}

// reasonOf is a status's ErrorInfo reason, or the reason its code stands
// for when it has none.
func reasonOf(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	if r, ok := codeReasons[st.Code()]; ok {
		return r.String()
	}
	return ReasonInternal.String()
}
