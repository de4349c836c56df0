package sockmgr

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// A socket has two directions, each used by one blocking call at a time:
// reads (recv, recvfrom, accept) and writes (send, sendto, connect). A recv
// and a send run at once; two recvs queue. The queue honours the caller's
// context and timeout, so a call waiting behind a blocked one can still be
// cancelled.
type direction uint8

const (
	dirRead direction = iota
	dirWrite
)

// aLongTimeAgo is a deadline in the past: setting it wakes a blocked call.
var aLongTimeAgo = time.Unix(1, 0)

// Blocking, as a call's timeout, waits without limit (until the context ends)
// whatever the socket's timeout is: for streams that outlive any one call.
const Blocking time.Duration = -1

// turn is one call's hold on a direction of the socket.
type turn struct {
	s           *Socket
	ctx         context.Context
	dir         direction
	deadline    time.Time // zero: none
	nonblocking bool
}

// takeTurn waits for the direction's turn, at most until the timeout expires
// or ctx ends. timeout nil or Blocking waits until ctx ends; 0 makes the call
// non-blocking (it does not even wait for the turn); > 0 bounds the whole
// call, the wait for the turn included. The caller must release the turn.
func (s *Socket) takeTurn(ctx context.Context, dir direction, timeout *time.Duration) (turn, error) {
	t := turn{s: s, ctx: ctx, dir: dir}
	if timeout != nil {
		switch {
		case *timeout == 0:
			t.nonblocking = true
		case *timeout > 0:
			t.deadline = time.Now().Add(*timeout)
		} // Blocking (< 0): no deadline, whatever the socket's timeout
	}
	sem := s.sem(dir)
	select {
	case sem <- struct{}{}:
		s.busy.Add(1)
		return t, nil
	default:
	}
	if t.nonblocking {
		return turn{}, unix.EAGAIN
	}
	var expired <-chan time.Time
	if !t.deadline.IsZero() {
		timer := time.NewTimer(time.Until(t.deadline))
		defer timer.Stop()
		expired = timer.C
	}
	select {
	case sem <- struct{}{}:
		s.busy.Add(1)
		return t, nil
	case <-ctx.Done():
		return turn{}, ctx.Err()
	case <-expired:
		return turn{}, ErrTimeout
	}
}

// sem is the direction's semaphore, made on first use. A call waiting for a
// turn on a socket being closed gets it when the holder's call ends (closing
// wakes it) and then sees the socket closed.
func (s *Socket) sem(dir direction) chan struct{} {
	p := &s.turns[dir]
	if c := p.Load(); c != nil {
		return *c
	}
	c := make(chan struct{}, 1)
	if p.CompareAndSwap(nil, &c) {
		return c
	}
	return *p.Load()
}

func (t turn) release() {
	t.s.touch() // the end of a blocking call is activity too (an accept that waited an hour)
	t.s.busy.Add(-1)
	<-t.s.sem(t.dir)
}

// op is a direction's in-flight call: what the poller's callback runs. There
// is one per direction, made on the direction's first blocking call and
// reused by each call while it holds the turn, so that the data path
// allocates nothing per call (a closure handed to RawConn escapes to the
// heap; this callback, run, is bound once).
type op struct {
	attempt     func(fd int) (done bool)
	nonblocking bool
	run         func(uintptr) bool // o.call, bound once
	deadline    time.Time          // the descriptor's deadline in this direction, as last set
	// watch wakes the direction's waiting call when its context ends. It is
	// registered once per context (context.AfterFunc allocates) and kept
	// while calls come with the same context, as a stream's writes do, so
	// that a stream that often waits for the socket allocates nothing per
	// wait; a call with another context replaces it.
	watch atomic.Pointer[watch]
	woken atomic.Bool // a watch fired: the descriptor's deadline is in the past
}

// watch is one context's wake-up (see op.watch).
type watch struct {
	ctx   context.Context
	stop  func() bool
	fired chan struct{} // closed when the wake-up has run
}

func newOp() *op {
	o := &op{}
	o.run = o.call
	return o
}

func (o *op) call(fd uintptr) bool { return o.attempt(int(fd)) || o.nonblocking }

// wait runs attempt on the socket's descriptor until it reports done. Each
// attempt makes non-blocking syscalls; when it reports not done (EAGAIN), Go's
// poller parks the goroutine until the descriptor is ready in the turn's
// direction. The wait ends at the turn's deadline or when its context ends:
// both are delivered by setting the descriptor's deadline, which aborts only
// the wait, never a syscall, so no byte the kernel handed over is lost and
// the socket stays usable. A non-blocking turn makes exactly one attempt; the
// attempt must then report its own EAGAIN.
func (t turn) wait(attempt func(fd int) (done bool)) error {
	s := t.s
	if err := t.ctx.Err(); err != nil {
		return err
	}
	// One attempt on the bare descriptor first: most calls need no wait,
	// and those skip the deadline and the context's wake-up below. Only a
	// call that must wait puts the descriptor in the poller (once).
	done, err := s.attemptDirect(attempt)
	if err != nil || done || t.nonblocking {
		return err
	}
	pf := s.polled.Load()
	if pf == nil {
		if pf, err = s.poller(); err != nil {
			return s.ioError(t.ctx, err)
		}
	}
	o := s.op(t.dir)
	t.watchContext(o, pf)
	// The descriptor keeps its deadline between calls; setting it costs a
	// trip into the runtime's timers, so it is set only when it changes.
	if o.woken.Swap(false) {
		o.deadline = aLongTimeAgo
	}
	if !o.deadline.Equal(t.deadline) {
		if err := t.setDeadline(pf, t.deadline); err != nil {
			return s.ioError(t.ctx, err)
		}
		o.deadline = t.deadline
	}
	// A wake-up that ran before the deadline above was set is undone by it:
	// a context that has ended by now ends the call here instead.
	if err := t.ctx.Err(); err != nil {
		return err
	}
	o.attempt, o.nonblocking = attempt, t.nonblocking
	if t.dir == dirRead {
		err = pf.raw.Read(o.run)
	} else {
		err = pf.raw.Write(o.run)
	}
	o.attempt = nil
	return s.ioError(t.ctx, err)
}

// watchContext makes sure that the end of the turn's context wakes the
// direction's waiting call, and that no other context's does.
func (t turn) watchContext(o *op, pf *pollFile) {
	w := o.watch.Load()
	if w != nil && w.ctx == t.ctx {
		return
	}
	if w != nil {
		if !w.stop() {
			<-w.fired // it ran (or is running): its deadline is set, woken too
		}
		o.watch.CompareAndSwap(w, nil)
	}
	if t.ctx.Done() == nil {
		return
	}
	nw := &watch{ctx: t.ctx, fired: make(chan struct{})}
	o.watch.Store(nw) // before the wake-up can run and let it go
	dir := t.dir
	nw.stop = context.AfterFunc(t.ctx, func() {
		_ = turn{dir: dir}.setDeadline(pf, aLongTimeAgo)
		o.woken.Store(true)
		close(nw.fired)
		o.watch.CompareAndSwap(nw, nil) // let the context go
	})
}

// op returns the direction's op, made on first use; the caller holds the
// direction's turn.
func (s *Socket) op(dir direction) *op {
	p := &s.readOp
	if dir == dirWrite {
		p = &s.writeOp
	}
	if *p == nil {
		*p = newOp()
	}
	return *p
}

func (t turn) setDeadline(pf *pollFile, d time.Time) error {
	if t.dir == dirRead {
		return pf.file.SetReadDeadline(d)
	}
	return pf.file.SetWriteDeadline(d)
}

// attemptDirect makes one attempt on the bare descriptor, as the poller
// would, for a socket not registered with it.
func (s *Socket) attemptDirect(attempt func(fd int) (done bool)) (done bool, err error) {
	if !s.fdUses.acquire() {
		return false, ErrClosed
	}
	defer s.fdUses.release()
	return attempt(s.fd), nil
}

// blocking takes the turn, waits for attempt, and releases the turn.
func (s *Socket) blocking(ctx context.Context, dir direction, timeout *time.Duration, attempt func(fd int) (done bool)) error {
	t, err := s.takeTurn(ctx, dir, timeout)
	if err != nil {
		return err
	}
	defer t.release()
	return t.wait(attempt)
}

// ioError turns what the poller reported into this package's errors: a
// closed socket, the caller's context error, or a timeout.
func (s *Socket) ioError(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case s.closed.Load():
		return ErrClosed
	case errors.Is(err, os.ErrDeadlineExceeded):
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return ErrTimeout
	}
	return err
}
