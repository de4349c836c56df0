package relay

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// The splice path moves bytes socket → pipe → socket, as Go's own
// internal/poll/splice_linux.go does: the pipe is the kernel's buffer between
// the two splice(2) calls. A direction takes a pipe only while bytes are
// moving (an idle connection holds none) and gives it back empty; the pool
// keeps a few for reuse and closes the rest, so that a proxy with many idle
// connections does not hold two descriptors per direction, and Close leaves
// no descriptor behind (sync.Pool would leave that to the garbage collector).

// maxPipeSize is the pipe buffer asked for: Go's maxSpliceSize, and the
// default /proc/sys/fs/pipe-max-size.
const maxPipeSize = 1 << 20

type pipe struct {
	r, w int
	size int // the pipe's capacity: the most one splice into it moves
}

type pipePool struct {
	mu     sync.Mutex
	free   []*pipe
	max    int
	closed bool
	open   atomic.Int64 // pipes in existence, in the pool or in use
}

func newPipePool(max int) *pipePool { return &pipePool{max: max} }

// get returns an empty pipe.
func (pp *pipePool) get() (*pipe, error) {
	pp.mu.Lock()
	if n := len(pp.free); n > 0 {
		p := pp.free[n-1]
		pp.free = pp.free[:n-1]
		pp.mu.Unlock()
		return p, nil
	}
	pp.mu.Unlock()
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, err
	}
	// A smaller pipe (the per-user pipe quota is spent) still works, with
	// more syscalls per megabyte.
	_, _ = unix.FcntlInt(uintptr(fds[0]), unix.F_SETPIPE_SZ, maxPipeSize)
	size, err := unix.FcntlInt(uintptr(fds[0]), unix.F_GETPIPE_SZ, 0)
	if err != nil || size <= 0 {
		size = 64 << 10
	}
	pp.open.Add(1)
	return &pipe{r: fds[0], w: fds[1], size: size}, nil
}

// put gives back an empty pipe.
func (pp *pipePool) put(p *pipe) {
	pp.mu.Lock()
	if !pp.closed && len(pp.free) < pp.max {
		pp.free = append(pp.free, p)
		pp.mu.Unlock()
		return
	}
	pp.mu.Unlock()
	pp.destroy(p)
}

// destroy closes a pipe (and drops what it holds).
func (pp *pipePool) destroy(p *pipe) {
	_ = unix.Close(p.r)
	_ = unix.Close(p.w)
	pp.open.Add(-1)
}

// close closes the pooled pipes; pipes in use are closed when given back.
func (pp *pipePool) close() {
	pp.mu.Lock()
	free := pp.free
	pp.free, pp.closed = nil, true
	pp.mu.Unlock()
	for _, p := range free {
		pp.destroy(p)
	}
}

// readPipe reads n bytes that are in the pipe into a new slice.
func readPipe(p *pipe, n int) ([]byte, error) {
	b := make([]byte, n)
	got := 0
	for got < n {
		m, err := unix.Read(p.r, b[got:])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return b[:got], err
		case m == 0:
			return b[:got], unix.EIO
		}
		got += m
	}
	return b, nil
}
