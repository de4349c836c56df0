package main

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/sockd/sockd/client"
)

// Exit codes: 0 success, 1 a local failure, 2 a usage error, 10 + the gRPC
// code for an error from sockd (so that scripts can tell NOT_FOUND, 15,
// from ECONNREFUSED, UNAVAILABLE, 24, or a timeout, DEADLINE_EXCEEDED, 14),
// and 130 for Ctrl-C.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitStatus      = 10 // + codes.Code
	exitInterrupted = 130
)

// reasonAmbiguous is sockctl's own reason for an id prefix that matches
// several sockets (a usage error).
const reasonAmbiguous = "AMBIGUOUS"

// exitCodeHelp documents the exit codes in `sockctl --help`.
func exitCodeHelp() string {
	var b strings.Builder
	b.WriteString("Exit codes:\n")
	fmt.Fprintf(&b, "  %-3d success\n  %-3d a local failure (a file, the terminal)\n  %-3d a usage error (also an ambiguous id prefix)\n", exitOK, exitFailed, exitUsage)
	for c := codes.Canceled; c <= codes.Unauthenticated; c++ {
		fmt.Fprintf(&b, "  %-3d %s\n", exitCode(c), client.CodeName(c))
	}
	fmt.Fprintf(&b, "  %-3d interrupted (Ctrl-C)\n", exitInterrupted)
	return b.String()
}

// exitCode is the exit code of an error from sockd with this code.
func exitCode(c codes.Code) int { return exitStatus + int(c) }

// usageError is a bad command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// describe is an error's exit code and message: `<message> (<REASON>)` for
// an error from sockd.
func describe(err error) (int, string) {
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage, ue.Error()
	}
	var ce *client.Error
	if errors.As(client.FromError(err), &ce) {
		return exitCode(ce.Code), ce.Error()
	}
	return exitFailed, err.Error()
}
