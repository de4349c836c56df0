package sockmgr

import (
	"context"
	"errors"
	"os"
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
	case <-s.gone:
		return turn{}, ErrClosed
	}
}

func (s *Socket) sem(dir direction) chan struct{} {
	if dir == dirWrite {
		return s.writeTurn
	}
	return s.readTurn
}

func (t turn) release() {
	t.s.touch() // the end of a blocking call is activity too (an accept that waited an hour)
	t.s.busy.Add(-1)
	<-t.s.sem(t.dir)
}

// op is a direction's in-flight call: what the poller's callback runs. There
// is one per direction, reused by each call while it holds the turn, so that
// the data path allocates nothing per call (a closure handed to RawConn
// escapes to the heap; this callback is made once per socket).
type op struct {
	attempt     func(fd int) (done bool)
	nonblocking bool
}

func (o *op) run(fd uintptr) bool { return o.attempt(int(fd)) || o.nonblocking }

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
	// The descriptor keeps its deadline between calls; setting it costs a
	// trip into the runtime's timers, so it is set only when it changes.
	if cur := &s.deadline[t.dir]; !cur.Equal(t.deadline) {
		if err := t.setDeadline(t.deadline); err != nil {
			return s.ioError(t.ctx, err)
		}
		*cur = t.deadline
	}
	if t.ctx.Done() != nil {
		fired := make(chan struct{})
		stop := context.AfterFunc(t.ctx, func() {
			defer close(fired)
			_ = t.setDeadline(aLongTimeAgo)
		})
		// The wake-up must not outlive this call: a late one would abort the
		// next call in this direction.
		defer func() {
			if !stop() {
				<-fired
				s.deadline[t.dir] = aLongTimeAgo
			}
		}()
	}
	var err error
	if t.dir == dirRead {
		s.readOp.attempt, s.readOp.nonblocking = attempt, t.nonblocking
		err = s.raw.Read(s.readRun)
		s.readOp.attempt = nil
	} else {
		s.writeOp.attempt, s.writeOp.nonblocking = attempt, t.nonblocking
		err = s.raw.Write(s.writeRun)
		s.writeOp.attempt = nil
	}
	return s.ioError(t.ctx, err)
}

func (t turn) setDeadline(d time.Time) error {
	if t.dir == dirRead {
		return t.s.file.SetReadDeadline(d)
	}
	return t.s.file.SetWriteDeadline(d)
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
