package sockmgr

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/internal/sockaddr"
)

// The data-path calls below are raw: the descriptors are non-blocking, so
// the kernel answers at once (EAGAIN rather than waiting), and skipping the
// runtime's syscall bookkeeping (entersyscall/exitsyscall, and the thread
// hand-off when a syscall is slow, as under gVisor) made unary Send and Recv
// markedly faster (docs/benchmarks.md).

// sendStream is send(2) with MSG_NOSIGNAL on a connected socket: a peer that
// has gone away yields EPIPE, never a SIGPIPE. x/sys's Sendto does not return
// the count and SendmsgN builds a msghdr per call, so this is the raw call.
func sendStream(fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(ptr), uintptr(len(p)), unix.MSG_NOSIGNAL, 0, 0)
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
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(ptr), uintptr(len(p)), uintptr(flags), 0, 0)
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
	n, _, errno := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_NOSIGNAL)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// The calls below are the set-up and bookkeeping syscalls of a socket, raw
// for the same reason as the data path: none of them blocks on a
// non-blocking socket, and under gVisor the runtime's bookkeeping of each
// (and its thread hand-offs) cost more than the call (docs/benchmarks.md).

func rawSocket(domain, typ int) (int, error) {
	fd, _, errno := unix.RawSyscall(unix.SYS_SOCKET, uintptr(domain), uintptr(typ), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

func rawBind(fd int, ap netip.AddrPort) error {
	r := sockaddr.From(ap)
	if _, _, errno := unix.RawSyscall(unix.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(&r.Any)), uintptr(r.Len)); errno != 0 {
		return errno
	}
	return nil
}

func rawConnect(fd int, ap netip.AddrPort) error {
	r := sockaddr.From(ap)
	if _, _, errno := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&r.Any)), uintptr(r.Len)); errno != 0 {
		return errno
	}
	return nil
}

func rawListen(fd, backlog int) error {
	if _, _, errno := unix.RawSyscall(unix.SYS_LISTEN, uintptr(fd), uintptr(backlog), 0); errno != 0 {
		return errno
	}
	return nil
}

func rawName(call uintptr, fd int) (netip.AddrPort, error) {
	r := sockaddr.Empty()
	if _, _, errno := unix.RawSyscall(call, uintptr(fd), uintptr(unsafe.Pointer(&r.Any)), uintptr(unsafe.Pointer(&r.Len))); errno != 0 {
		return netip.AddrPort{}, errno
	}
	return r.AddrPort(), nil
}

func rawGetsockname(fd int) (netip.AddrPort, error) { return rawName(unix.SYS_GETSOCKNAME, fd) }
func rawGetpeername(fd int) (netip.AddrPort, error) { return rawName(unix.SYS_GETPEERNAME, fd) }

func rawAccept4(fd, flags int) (int, netip.AddrPort, error) {
	r := sockaddr.Empty()
	nfd, _, errno := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&r.Any)), uintptr(unsafe.Pointer(&r.Len)), uintptr(flags), 0, 0)
	if errno != 0 {
		return -1, netip.AddrPort{}, errno
	}
	return int(nfd), r.AddrPort(), nil
}

// rawClose is close(2) of a socket whose close cannot block (no SO_LINGER
// timeout): the kernel queues the FIN and returns.
func rawClose(fd int) error {
	if _, _, errno := unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0); errno != 0 {
		return errno
	}
	return nil
}

// pollNow is poll(2) of one descriptor with no wait: the events of want
// (and POLLERR, POLLHUP) that hold now, 0 if none or on error.
func pollNow(fd int, want int16) int16 {
	pfd := unix.PollFd{Fd: int32(fd), Events: want}
	n, _, errno := unix.RawSyscall(unix.SYS_POLL, uintptr(unsafe.Pointer(&pfd)), 1, 0)
	if errno != 0 || n != 1 {
		return 0
	}
	return pfd.Revents
}

func rawSoError(fd int) (int, error) {
	var v int32
	l := uint32(4)
	if _, _, errno := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_ERROR, uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&l)), 0); errno != 0 {
		return 0, errno
	}
	return int(v), nil
}

// mmsghdr is struct mmsghdr of sendmmsg(2).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// sendDatagrams is sendmmsg(2) on a connected socket, with MSG_NOSIGNAL:
// one call for many datagrams. It returns how many went out.
func sendDatagrams(fd int, msgs []mmsghdr) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), unix.MSG_NOSIGNAL, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
