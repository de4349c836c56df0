package main

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/client"
)

// Exit codes: 0 success, 1 a local failure, 2 a usage error, and 10 + the
// gRPC code for an error from sockd, so that scripts can tell NOT_FOUND (15)
// from ECONNREFUSED (UNAVAILABLE, 24) or a timeout (DEADLINE_EXCEEDED, 14).
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
	exitStatus = 10 // + codes.Code
)

// exitCodeHelp documents the exit codes in `sockctl --help`.
func exitCodeHelp() string {
	var b strings.Builder
	b.WriteString("Exit codes:\n  0   success\n  1   a local failure (a file, the terminal)\n  2   a usage error\n")
	for c := codes.Canceled; c <= codes.Unauthenticated; c++ {
		fmt.Fprintf(&b, "  %-3d %s\n", exitStatus+int(c), client.CodeName(c))
	}
	return b.String()
}

// usageError is a bad command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitCode and message for an error: `sockctl: <message> (<REASON>)`.
func describe(err error) (int, string) {
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage, ue.Error()
	}
	var ce *client.Error
	if errors.As(err, &ce) {
		return exitStatus + int(ce.Code), ce.Message + " (" + ce.Reason + ")"
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.OK && st.Code() != codes.Unknown {
		return exitStatus + int(st.Code()), st.Message() + " (" + client.CodeName(st.Code()) + ")"
	}
	return exitFailed, err.Error()
}
