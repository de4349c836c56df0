package sockmgr

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// sendStream is send(2) with MSG_NOSIGNAL on a connected socket: a peer that
// has gone away yields EPIPE, never a SIGPIPE. x/sys's Sendto does not return
// the count and SendmsgN builds a msghdr per call, so this is the raw call.
func sendStream(fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(ptr), uintptr(len(p)), unix.MSG_NOSIGNAL, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// recvStream is recv(2) into p; flags may be MSG_PEEK.
func recvStream(fd int, p []byte, flags int) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(ptr), uintptr(len(p)), uintptr(flags), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// sendIovecs is sendmsg(2) of an iovec array with MSG_NOSIGNAL (writev that
// yields EPIPE rather than SIGPIPE).
func sendIovecs(fd int, iov []unix.Iovec) (int, error) {
	if len(iov) == 0 {
		return 0, nil
	}
	var msg unix.Msghdr
	msg.Iov = &iov[0]
	msg.SetIovlen(len(iov))
	n, _, errno := unix.Syscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_NOSIGNAL)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
