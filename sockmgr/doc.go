// Package sockmgr is a registry of real kernel TCP and UDP sockets driven step
// by step through the BSD socket API: create, set options, bind, listen,
// accept, connect, send, recv, sendto, recvfrom, shutdown and close.
//
// Every socket is created with socket(2) (SOCK_NONBLOCK|SOCK_CLOEXEC) and each
// call is made on the kernel when the caller makes it, in the caller's order,
// so the semantics are those of the kernel (and of Python's socket module).
// A call that must wait hands the descriptor to Go's runtime poller (once,
// with os.NewFile, which takes ownership without a dup), so a blocked call
// parks no thread and can be aborted by a deadline or a cancelled context
// without closing the socket and without losing a byte; a socket whose calls
// never wait never joins the poller.
//
// The package is plain Go over the standard library and golang.org/x/sys/unix.
// It knows nothing of gRPC: the service package translates its typed errors
// (which wrap syscall.Errno and the sentinels of errors.go) into statuses.
//
// See docs/sockmgr.md for the state machine and the timeout rules.
package sockmgr
