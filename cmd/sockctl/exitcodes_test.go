package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// reasonCodes is the gRPC code sockd answers each reason with (errors.proto
// says so of each). The service's own table test holds sockmgr's errors to
// these; this one holds the rest of the way: status → client error →
// sockctl's message and exit code.
var reasonCodes = map[sockdv1.ErrorReason]codes.Code{
	sockdv1.ErrorReason_SOCKET_NOT_FOUND:   codes.NotFound,
	sockdv1.ErrorReason_LEASE_NOT_FOUND:    codes.NotFound,
	sockdv1.ErrorReason_INVALID_ADDRESS:    codes.InvalidArgument,
	sockdv1.ErrorReason_INVALID_OPTION:     codes.InvalidArgument,
	sockdv1.ErrorReason_INVALID_ARGUMENT:   codes.InvalidArgument,
	sockdv1.ErrorReason_WRONG_STATE:        codes.FailedPrecondition,
	sockdv1.ErrorReason_NAME_IN_USE:        codes.AlreadyExists,
	sockdv1.ErrorReason_LIMIT_EXCEEDED:     codes.ResourceExhausted,
	sockdv1.ErrorReason_POLICY_DENIED:      codes.PermissionDenied,
	sockdv1.ErrorReason_TIMEOUT:            codes.DeadlineExceeded,
	sockdv1.ErrorReason_CANCELLED:          codes.Canceled,
	sockdv1.ErrorReason_SHUTTING_DOWN:      codes.Unavailable,
	sockdv1.ErrorReason_UNAUTHENTICATED:    codes.Unauthenticated,
	sockdv1.ErrorReason_INTERNAL:           codes.Internal,
	sockdv1.ErrorReason_CROSS_ORIGIN:       codes.PermissionDenied,
	sockdv1.ErrorReason_HOST_NOT_ALLOWED:   codes.PermissionDenied,
	sockdv1.ErrorReason_MALFORMED_REQUEST:  codes.InvalidArgument,
	sockdv1.ErrorReason_ROUTE_NOT_FOUND:    codes.NotFound,
	sockdv1.ErrorReason_METHOD_NOT_ALLOWED: codes.Unimplemented,
	sockdv1.ErrorReason_AUTH_THROTTLED:     codes.ResourceExhausted,
	sockdv1.ErrorReason_OFFSET_UNAVAILABLE: codes.FailedPrecondition,
	sockdv1.ErrorReason_INVALID_OFFSET:     codes.InvalidArgument,
	sockdv1.ErrorReason_PROXY_NOT_FOUND:    codes.NotFound,
	sockdv1.ErrorReason_RELAY_NOT_FOUND:    codes.NotFound,
	sockdv1.ErrorReason_FAULT_NOT_FOUND:    codes.NotFound,
	sockdv1.ErrorReason_FAULT_EXISTS:       codes.AlreadyExists,
	sockdv1.ErrorReason_SOCKET_IN_USE:      codes.FailedPrecondition,
	sockdv1.ErrorReason_CAPTURE_DISABLED:   codes.FailedPrecondition,
	sockdv1.ErrorReason_INVALID_CAPTURE:    codes.InvalidArgument,
}

func statusWithReason(t *testing.T, code codes.Code, reason string) error {
	t.Helper()
	st, err := status.New(code, "socket abc: it failed").WithDetails(&errdetails.ErrorInfo{Domain: client.ErrorDomain, Reason: reason})
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

// Every reason, end to end from the status: the client's error matches the
// reason's sentinel, and sockctl prints `sockctl: <message> (<REASON>)` and
// exits with 10 + the code. Errno reasons the same way.
func TestEveryReasonToExitCode(t *testing.T) {
	type row struct {
		reason string
		code   codes.Code
		is     error
	}
	var rows []row
	for v, name := range sockdv1.ErrorReason_name {
		if v == 0 {
			continue
		}
		code, ok := reasonCodes[sockdv1.ErrorReason(v)]
		if !ok {
			t.Errorf("reason %s has no code in reasonCodes: add it (errors.proto says which)", name)
			continue
		}
		sentinel := client.Sentinel(sockdv1.ErrorReason(v))
		if sentinel == nil {
			t.Errorf("reason %s has no sentinel in the client", name)
			continue
		}
		rows = append(rows, row{name, code, sentinel})
	}
	rows = append(rows,
		row{unix.ErrnoName(unix.ECONNREFUSED), codes.Unavailable, unix.ECONNREFUSED},
		row{unix.ErrnoName(unix.EADDRINUSE), codes.AlreadyExists, unix.EADDRINUSE},
		row{unix.ErrnoName(unix.ECONNRESET), codes.FailedPrecondition, unix.ECONNRESET},
	)
	for _, r := range rows {
		err := client.FromError(statusWithReason(t, r.code, r.reason))
		if r.is != nil && !errors.Is(err, r.is) {
			t.Errorf("%s: the client's error is not errors.Is %v", r.reason, r.is)
		}
		// As a command returns it: wrapped, the way net.Conn methods do.
		for _, returned := range []error{err, &net.OpError{Op: "read", Net: "sockd", Err: err}, fmt.Errorf("attach: %w", err)} {
			code, msg := describe(returned)
			if want := exitStatus + int(r.code); code != want {
				t.Errorf("%s (%s): exit %d, want %d", r.reason, r.code, code, want)
			}
			if want := "socket abc: it failed (" + r.reason + ")"; msg != want {
				t.Errorf("%s: message %q, want %q", r.reason, msg, want)
			}
		}
	}
}

// The codes gRPC makes itself (no sockd reason), usage errors, local
// failures and Ctrl-C get their codes too.
func TestExitCodesOfOtherErrors(t *testing.T) {
	if code, msg := describe(status.Error(codes.Unavailable, "connection refused")); code != 24 || msg != "connection refused (UNAVAILABLE)" {
		t.Errorf("a dead sockd: %d %q", code, msg)
	}
	if code, _ := describe(usagef("bad")); code != exitUsage {
		t.Errorf("usage: %d", code)
	}
	if code, _ := describe(usageError{errAmbiguous{prefix: "a", candidates: []string{"ab", "ac"}}}); code != exitUsage {
		t.Errorf("ambiguous: %d", code)
	}
	if code, msg := describe(errors.New("open x: no such file")); code != exitFailed || msg != "open x: no such file" {
		t.Errorf("local: %d %q", code, msg)
	}
	var out, errb bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Ctrl-C before anything happened
	if code := run(ctx, []string{"--addr", "127.0.0.1:1", "ls"}, streams{in: strings.NewReader(""), out: &out, err: &errb}); code != exitInterrupted {
		t.Errorf("interrupted: exit %d (%s)", code, errb.String())
	}
}

// `sockctl --help` documents every exit code.
func TestHelpListsExitCodes(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, streams{in: strings.NewReader(""), out: &out, err: &out}); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	for c := codes.Canceled; c <= codes.Unauthenticated; c++ {
		if want := fmt.Sprintf("%-3d %s", exitStatus+int(c), client.CodeName(c)); !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	for _, want := range []string{"2   a usage error", "130 interrupted"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}
