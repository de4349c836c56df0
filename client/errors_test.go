package client

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// sockdStatus is a status as sockd makes it: the code, and ErrorInfo with
// the reason.
func sockdStatus(t *testing.T, code codes.Code, reason string, md map[string]string) error {
	t.Helper()
	st, err := status.New(code, "it failed").WithDetails(&errdetails.ErrorInfo{Domain: ErrorDomain, Reason: reason, Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

// Every ErrorReason of the proto has its sentinel, and an answer with that
// reason matches it and no other reason's.
func TestEveryReasonHasASentinel(t *testing.T) {
	for v, name := range sockdv1.ErrorReason_name {
		if v == 0 {
			continue
		}
		r, ok := reasons[sockdv1.ErrorReason(v)]
		if !ok {
			t.Errorf("ErrorReason %s has no sentinel in reasons.go", name)
			continue
		}
		if r.Code().String() != name || r.Error() == "" {
			t.Errorf("sentinel of %s: code %s, text %q", name, r.Code(), r.Error())
		}
		err := FromError(sockdStatus(t, codes.FailedPrecondition, name, nil))
		if !errors.Is(err, r) {
			t.Errorf("an answer with reason %s is not errors.Is its sentinel", name)
		}
		for other, o := range reasons {
			if other != r.Code() && errors.Is(err, o) {
				t.Errorf("an answer with reason %s matches %s's sentinel too", name, other)
			}
		}
		var e *Error
		if !errors.As(err, &e) || e.ReasonCode() != sockdv1.ErrorReason(v) || !e.FromSockd() {
			t.Errorf("reason %s: %+v", name, e)
		}
	}
	if len(reasons) != len(sockdv1.ErrorReason_name)-1 {
		t.Errorf("%d sentinels for %d reasons", len(reasons), len(sockdv1.ErrorReason_name)-1)
	}
}

// Status → Go error: errno reasons are syscall.Errno, codes give the Go
// errors a local call would, categories match across reasons; and the Go
// error gives the status back.
func TestErrorsMapToGo(t *testing.T) {
	for _, tc := range []struct {
		code   codes.Code
		reason string
		is     []error
		not    []error
	}{
		{codes.Unavailable, unix.ErrnoName(unix.ECONNREFUSED), []error{syscall.ECONNREFUSED}, []error{ErrNotFound, os.ErrDeadlineExceeded}},
		{codes.AlreadyExists, unix.ErrnoName(unix.EADDRINUSE), []error{syscall.EADDRINUSE}, nil},
		{codes.FailedPrecondition, unix.ErrnoName(unix.ECONNRESET), []error{syscall.ECONNRESET}, nil},
		{codes.DeadlineExceeded, sockdv1.ErrorReason_TIMEOUT.String(), []error{os.ErrDeadlineExceeded, ErrTimeout}, nil},
		{codes.DeadlineExceeded, unix.ErrnoName(unix.EAGAIN), []error{syscall.EAGAIN}, []error{os.ErrDeadlineExceeded}},
		{codes.NotFound, sockdv1.ErrorReason_SOCKET_NOT_FOUND.String(), []error{ErrSocketNotFound, ErrNotFound}, []error{ErrLeaseNotFound}},
		{codes.NotFound, sockdv1.ErrorReason_LEASE_NOT_FOUND.String(), []error{ErrLeaseNotFound, ErrNotFound}, []error{ErrSocketNotFound}},
		{codes.InvalidArgument, sockdv1.ErrorReason_INVALID_OPTION.String(), []error{ErrInvalidOption, ErrInvalid}, nil},
		{codes.InvalidArgument, unix.ErrnoName(unix.EADDRNOTAVAIL), []error{syscall.EADDRNOTAVAIL, ErrInvalid}, nil},
		{codes.Canceled, sockdv1.ErrorReason_CANCELLED.String(), []error{context.Canceled, ErrCancelled}, nil},
		{codes.ResourceExhausted, sockdv1.ErrorReason_LIMIT_EXCEEDED.String(), []error{ErrLimitExceeded, ErrLimit}, nil},
	} {
		st := sockdStatus(t, tc.code, tc.reason, map[string]string{"bytesSent": "7"})
		err := FromError(st)
		for _, want := range tc.is {
			if !errors.Is(err, want) {
				t.Errorf("%s %s: not errors.Is %v", tc.code, tc.reason, want)
			}
		}
		for _, notWant := range tc.not {
			if errors.Is(err, notWant) {
				t.Errorf("%s %s: errors.Is %v", tc.code, tc.reason, notWant)
			}
		}
		if got := status.Convert(err); got.Code() != tc.code || got.Message() != "it failed" {
			t.Errorf("%s %s: the status back is %v", tc.code, tc.reason, got)
		}
		if BytesSent(err) != 7 {
			t.Errorf("BytesSent = %d", BytesSent(err))
		}
		if want := "it failed (" + tc.reason + ")"; err.Error() != want {
			t.Errorf("Error() = %q, want %q", err.Error(), want)
		}
		// Wrapped as a net.Conn method would wrap it, it still matches.
		wrapped := &net.OpError{Op: "read", Net: "sockd", Err: err}
		for _, want := range tc.is {
			if !errors.Is(wrapped, want) {
				t.Errorf("%s %s in a net.OpError: not errors.Is %v", tc.code, tc.reason, want)
			}
		}
	}
	var ne net.Error
	if !errors.As(FromError(sockdStatus(t, codes.DeadlineExceeded, sockdv1.ErrorReason_TIMEOUT.String(), nil)), &ne) || !ne.Timeout() {
		t.Error("a TIMEOUT is not a net.Error with Timeout()")
	}
}

// Statuses gRPC makes on the way (no ErrorInfo) are named as sockd would
// name them, and are known not to be sockd's answers.
func TestGRPCStatusesWithoutErrorInfo(t *testing.T) {
	for code, want := range map[codes.Code]string{
		codes.Canceled:         sockdv1.ErrorReason_CANCELLED.String(),
		codes.DeadlineExceeded: sockdv1.ErrorReason_TIMEOUT.String(),
		codes.Unavailable:      "UNAVAILABLE",
		codes.Unauthenticated:  sockdv1.ErrorReason_UNAUTHENTICATED.String(),
	} {
		var e *Error
		if !errors.As(FromError(status.Error(code, "x")), &e) || e.Reason != want || e.FromSockd() {
			t.Errorf("%s without ErrorInfo: %+v, want reason %s", code, e, want)
		}
	}
	if FromError(nil) != nil {
		t.Error("FromError(nil) != nil")
	}
	plain := errors.New("plain")
	if FromError(plain) != plain {
		t.Error("a non-status error changed")
	}
	if CodeName(codes.FailedPrecondition) != "FAILED_PRECONDITION" || CodeName(codes.Code(99)) == "" {
		t.Error("CodeName")
	}
}

// A lost answer is retried, a real one is not.
func TestLostAnswers(t *testing.T) {
	ctx := context.Background()
	live, stop := context.WithCancel(ctx)
	stop()
	for _, tc := range []struct {
		err  error
		ctx  context.Context
		want bool
	}{
		{status.Error(codes.Unavailable, "connection reset"), ctx, true},
		{status.Error(codes.Internal, "stream terminated by RST_STREAM with error code: INTERNAL_ERROR"), ctx, true},
		{sockdStatus(t, codes.Unavailable, unix.ErrnoName(unix.ECONNREFUSED), nil), ctx, false},
		{sockdStatus(t, codes.Unavailable, sockdv1.ErrorReason_SHUTTING_DOWN.String(), nil), ctx, false},
		{status.Error(codes.Unavailable, "down"), live, false}, // the caller gave up
		{status.Error(codes.Internal, "a bug"), ctx, false},
		{nil, ctx, false},
	} {
		if got := lostAnswer(tc.ctx, ctx, tc.err); got != tc.want {
			t.Errorf("lostAnswer(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	// Our own attempt's deadline, with the caller still waiting: lost.
	attempt, cancel := context.WithCancel(ctx)
	cancel()
	if !lostAnswer(ctx, attempt, status.Error(codes.DeadlineExceeded, "deadline")) {
		t.Error("the attempt's own deadline is not a lost answer")
	}
}
