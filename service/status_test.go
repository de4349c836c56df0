package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/relay"
	"github.com/sockd/sockd/sockmgr"
)

// Every row of DESIGN.md's error model, through the one table.
func TestErrorTable(t *testing.T) {
	op := func(name string, err error) error {
		return &sockmgr.OpError{Op: name, SocketID: "abc", Addr: "127.0.0.1:9", Err: err}
	}
	for _, tc := range []struct {
		err    error
		code   codes.Code
		reason string
		errno  string
	}{
		{op("bind", syscall.EADDRINUSE), codes.AlreadyExists, "EADDRINUSE", "98"},
		{op("connect", syscall.ECONNREFUSED), codes.Unavailable, "ECONNREFUSED", "111"},
		{op("connect", syscall.ENETUNREACH), codes.Unavailable, "ENETUNREACH", "101"},
		{op("connect", syscall.EHOSTUNREACH), codes.Unavailable, "EHOSTUNREACH", "113"},
		// A send may have partly happened: never UNAVAILABLE (clients retry that).
		{op("send", syscall.ECONNREFUSED), codes.FailedPrecondition, "ECONNREFUSED", "111"},
		{op("sendto", syscall.EHOSTUNREACH), codes.FailedPrecondition, "EHOSTUNREACH", "113"},
		{op("recv", syscall.ECONNRESET), codes.FailedPrecondition, "ECONNRESET", "104"},
		{op("send", syscall.EPIPE), codes.FailedPrecondition, "EPIPE", "32"},
		{op("connect", syscall.EISCONN), codes.FailedPrecondition, "EISCONN", "106"},
		{op("recv", syscall.ENOTCONN), codes.FailedPrecondition, "ENOTCONN", "107"},
		{op("bind", syscall.EACCES), codes.PermissionDenied, "EACCES", "13"},
		{op("recv", syscall.EAGAIN), codes.DeadlineExceeded, "EAGAIN", "11"},
		{op("connect", syscall.EINPROGRESS), codes.DeadlineExceeded, "EINPROGRESS", "115"},
		{op("socket", syscall.EMFILE), codes.ResourceExhausted, "EMFILE", "24"},
		{op("recv", fmt.Errorf("%w: x", syscall.EDESTADDRREQ)), codes.FailedPrecondition, "EDESTADDRREQ", "89"},
		{op("lookup", sockmgr.ErrNotFound), codes.NotFound, ReasonSocketNotFound.String(), ""},
		{op("recv", sockmgr.ErrClosed), codes.NotFound, ReasonSocketNotFound.String(), ""},
		{op("bind", sockmgr.ErrInvalidAddress), codes.InvalidArgument, ReasonInvalidAddress.String(), ""},
		{op("setsockopt", sockmgr.ErrInvalidOption), codes.InvalidArgument, ReasonInvalidOption.String(), ""},
		{op("setsockopt", sockmgr.ErrInvalidArgument), codes.InvalidArgument, ReasonInvalidArgument.String(), ""},
		{op("recv", sockmgr.ErrWrongState), codes.FailedPrecondition, ReasonWrongState.String(), ""},
		{op("socket", sockmgr.ErrNameInUse), codes.AlreadyExists, ReasonNameInUse.String(), ""},
		{op("socket", sockmgr.ErrLimit), codes.ResourceExhausted, ReasonLimitExceeded.String(), ""},
		{op("connect", sockmgr.ErrPolicyDenied), codes.PermissionDenied, ReasonPolicyDenied.String(), ""},
		{op("recv", sockmgr.ErrTimeout), codes.DeadlineExceeded, ReasonTimeout.String(), ""},
		{op("recv", os.ErrDeadlineExceeded), codes.DeadlineExceeded, ReasonTimeout.String(), ""},
		{op("recv", context.DeadlineExceeded), codes.DeadlineExceeded, ReasonTimeout.String(), ""},
		{op("recv", context.Canceled), codes.Canceled, ReasonCancelled.String(), ""},
		{op("socket", sockmgr.ErrManagerClosed), codes.Unavailable, ReasonShuttingDown.String(), ""},
		{op("recv", errors.New("something else")), codes.Internal, ReasonInternal.String(), ""},
	} {
		st := status.Convert(toStatus(context.Background(), tc.err))
		info := errorInfo(t, st)
		if st.Code() != tc.code || info.GetReason() != tc.reason || info.GetDomain() != ErrorDomain {
			t.Errorf("%v: %s %s/%s, want %s %s", tc.err, st.Code(), info.GetDomain(), info.GetReason(), tc.code, tc.reason)
		}
		md := info.GetMetadata()
		if md["errno"] != tc.errno {
			t.Errorf("%v: errno metadata %q, want %q", tc.err, md["errno"], tc.errno)
		}
		if md["socketId"] != "abc" || md["op"] == "" || md["address"] != "127.0.0.1:9" {
			t.Errorf("%v: metadata %v lacks op, socketId or address", tc.err, md)
		}
		if tc.code == codes.Internal && md["requestId"] == "" && RequestID(context.Background()) != "" {
			t.Errorf("internal error without request id")
		}
	}
}

func errorInfo(t *testing.T, st *status.Status) *errdetails.ErrorInfo {
	t.Helper()
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	t.Fatalf("status %v has no ErrorInfo", st)
	return nil
}

func TestLabelSelector(t *testing.T) {
	got, err := ParseLabelSelector(" app=web , tier=front")
	if err != nil || len(got) != 2 || got["app"] != "web" || got["tier"] != "front" {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"app", "=web", "a b=c", "app=we b"} {
		if _, err := ParseLabelSelector(bad); err == nil {
			t.Errorf("selector %q accepted", bad)
		}
	}
}

// Every reason of the proto's ErrorReason enum has a producer: a sockmgr
// error that the one table turns into it (checked here, with its code), or
// a named place outside the table, whose own tests check it. A reason added
// to the enum fails here until something produces it.
func TestEveryErrorReasonHasAProducer(t *testing.T) {
	fromTable := map[sockdv1.ErrorReason]struct {
		err  error
		code codes.Code
	}{
		sockdv1.ErrorReason_SOCKET_NOT_FOUND:   {sockmgr.ErrNotFound, codes.NotFound},
		sockdv1.ErrorReason_LEASE_NOT_FOUND:    {sockmgr.ErrLeaseNotFound, codes.NotFound},
		sockdv1.ErrorReason_INVALID_ADDRESS:    {sockmgr.ErrInvalidAddress, codes.InvalidArgument},
		sockdv1.ErrorReason_INVALID_OPTION:     {sockmgr.ErrInvalidOption, codes.InvalidArgument},
		sockdv1.ErrorReason_INVALID_ARGUMENT:   {sockmgr.ErrInvalidArgument, codes.InvalidArgument},
		sockdv1.ErrorReason_WRONG_STATE:        {sockmgr.ErrWrongState, codes.FailedPrecondition},
		sockdv1.ErrorReason_NAME_IN_USE:        {sockmgr.ErrNameInUse, codes.AlreadyExists},
		sockdv1.ErrorReason_LIMIT_EXCEEDED:     {sockmgr.ErrLimit, codes.ResourceExhausted},
		sockdv1.ErrorReason_POLICY_DENIED:      {sockmgr.ErrPolicyDenied, codes.PermissionDenied},
		sockdv1.ErrorReason_TIMEOUT:            {sockmgr.ErrTimeout, codes.DeadlineExceeded},
		sockdv1.ErrorReason_CANCELLED:          {context.Canceled, codes.Canceled},
		sockdv1.ErrorReason_SHUTTING_DOWN:      {sockmgr.ErrManagerClosed, codes.Unavailable},
		sockdv1.ErrorReason_INTERNAL:           {errors.New("a bug"), codes.Internal},
		sockdv1.ErrorReason_OFFSET_UNAVAILABLE: {sockmgr.ErrOffsetUnavailable, codes.FailedPrecondition},
		sockdv1.ErrorReason_INVALID_OFFSET:     {sockmgr.ErrInvalidOffset, codes.InvalidArgument},
		sockdv1.ErrorReason_PROXY_NOT_FOUND:    {relay.ErrProxyNotFound, codes.NotFound},
		sockdv1.ErrorReason_RELAY_NOT_FOUND:    {relay.ErrRelayNotFound, codes.NotFound},
		sockdv1.ErrorReason_FAULT_NOT_FOUND:    {relay.ErrFaultNotFound, codes.NotFound},
		sockdv1.ErrorReason_FAULT_EXISTS:       {relay.ErrFaultExists, codes.AlreadyExists},
		sockdv1.ErrorReason_SOCKET_IN_USE:      {relay.ErrSocketInUse, codes.FailedPrecondition},
		sockdv1.ErrorReason_INVALID_CAPTURE:    {relay.ErrNothingToReplay, codes.InvalidArgument},
	}
	elsewhere := map[sockdv1.ErrorReason]string{
		sockdv1.ErrorReason_UNAUTHENTICATED:    "Auth (auth.go; e2e TestTokens)",
		sockdv1.ErrorReason_AUTH_THROTTLED:     "authGuard (authguard.go; e2e TestFailedLoginsAreLoggedAndThrottled)",
		sockdv1.ErrorReason_MALFORMED_REQUEST:  "the codec's mark (interceptors.go) and the gateway (cmd/sockd/gateway.go; e2e TestInvalidUTF8IsInvalidArgument)",
		sockdv1.ErrorReason_CROSS_ORIGIN:       "the gateway's guard (cmd/sockd/gateway.go; e2e TestDNSRebindingIsRefused)",
		sockdv1.ErrorReason_HOST_NOT_ALLOWED:   "the gateway's guard (cmd/sockd/gateway.go; e2e TestDNSRebindingIsRefused)",
		sockdv1.ErrorReason_ROUTE_NOT_FOUND:    "the gateway's routing errors (cmd/sockd/gateway.go; e2e TestWrongMethodIs405)",
		sockdv1.ErrorReason_METHOD_NOT_ALLOWED: "the gateway's routing errors (cmd/sockd/gateway.go; e2e TestWrongMethodIs405)",
		sockdv1.ErrorReason_CAPTURE_DISABLED:   "captureDisabled (capture.go; e2e TestCaptureCanBeTurnedOff)",
	}
	for v, name := range sockdv1.ErrorReason_name {
		reason := sockdv1.ErrorReason(v)
		if reason == sockdv1.ErrorReason_ERROR_REASON_UNSPECIFIED {
			continue
		}
		if tc, ok := fromTable[reason]; ok {
			st := status.Convert(toStatus(context.Background(), &sockmgr.OpError{Op: "test", Err: tc.err}))
			if got := errorInfo(t, st).GetReason(); got != name || st.Code() != tc.code {
				t.Errorf("%s: the table gives %s %s", name, st.Code(), got)
			}
			continue
		}
		if _, ok := elsewhere[reason]; !ok {
			t.Errorf("ErrorReason %s has no producer: add it to the error table (status.go) or name where it is made", name)
		}
	}
}
