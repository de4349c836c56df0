package relay

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The data path's syscalls, made on descriptors handed over by
// sockmgr.Turn.Wait. The descriptors are non-blocking, so every call here
// answers at once (EAGAIN rather than waiting).

// sendStream is send(2) with MSG_NOSIGNAL: a peer gone away is EPIPE, never
// SIGPIPE.
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

// recvStream is recv(2); with MSG_TRUNC on TCP the kernel discards up to
// len(p) bytes without copying them (p may then be nil with n given).
func recvStream(fd int, p []byte, n int, flags int) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
		n = len(p)
	}
	r, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(ptr), uintptr(n), uintptr(flags), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// spliceFlags: SPLICE_F_NONBLOCK makes the pipe's side non-blocking (the
// sockets are already); SPLICE_F_MOVE is a hint the kernel may use.
const spliceFlags = unix.SPLICE_F_NONBLOCK | unix.SPLICE_F_MOVE

// splice moves up to n bytes from in to out, one of them a pipe.
func splice(in, out, n int) (int, error) {
	m, err := unix.Splice(in, nil, out, nil, n, spliceFlags)
	return int(m), err
}

// pollNow is poll(2) of one descriptor with no wait: the events of want
// (and POLLERR, POLLHUP) that hold now.
func pollNow(fd int, want int16) int16 {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: want}}
	for {
		n, err := unix.Poll(pfd, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n != 1 {
			return 0
		}
		return pfd[0].Revents
	}
}

// mmsghdr is struct mmsghdr of recvmmsg(2) and sendmmsg(2) (64-bit layout).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// recvmmsg receives up to len(msgs) datagrams without waiting.
func recvmmsg(fd int, msgs []mmsghdr) (int, error) {
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// sendmmsg sends len(msgs) datagrams, or as many as the kernel takes.
func sendmmsg(fd int, msgs []mmsghdr) (int, error) {
	n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// unsafePointer is unsafe.Pointer(p), for the msghdr fields that point at
// Go memory the caller keeps alive across the syscall.
func unsafePointer[T any](p *T) unsafe.Pointer { return unsafe.Pointer(p) }
