package relay

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/sockmgr"
)

// A TCP direction (tcpFlow) reads its source socket and writes its
// destination, in one goroutine that holds the source's read turn and the
// destination's write turn. Under each plan it does one of four things:
//
//   - splice: socket → pipe → socket with splice(2), counted by splice's
//     return values; BANDWIDTH paces it (quanta with pauses) and LIMIT_DATA
//     bounds what it reads, both without leaving the kernel;
//   - user: it reads chunks into memory and a writer goroutine writes them
//     out when their time comes (LATENCY, SLICER; with BANDWIDTH and
//     LIMIT_DATA too), so that a delay does not stop reading and does not
//     cap throughput below LatencyBuffer per latency;
//   - pause: it stops reading (BLACKHOLE, or LIMIT_DATA reached): the
//     kernel's buffers fill and the sender blocks;
//   - drop: it reads and discards (TIMEOUT), with recv(MSG_TRUNC).
//
// A new plan cancels the old one's context, which wakes the read wait; the
// bytes already read ("in flight": in the pipe, or queued for the writer)
// are written out, in order, before the next mode reads anything, so a
// switch never loses, duplicates or reorders a byte. Writes (a pump of the
// pipe, the writer's sends) are not interrupted by a plan change, only by
// the relay stopping.

var (
	errReplan  = errors.New("plan changed")
	errStopped = errors.New("relay stopped")
	errEOF     = errors.New("eof")
)

// sockErr is an error of one socket's call; it says which socket.
type sockErr struct {
	s   *sockmgr.Socket
	err error
}

func (e *sockErr) Error() string { return "socket " + e.s.ID() + ": " + e.err.Error() }
func (e *sockErr) Unwrap() error { return e.err }

const userChunk = 64 << 10 // the user path's read size

// bufPool holds the user path's read buffers.
var bufPool = sync.Pool{New: func() any { b := make([]byte, userChunk); return &b }}

type tcpFlow struct {
	r        *link
	dir      Direction
	src, dst *sockmgr.Socket
	rd, wr   *sockmgr.Turn
	planP    atomic.Pointer[plan]
	pathP    atomic.Pointer[Path]
	readN    atomic.Uint64 // bytes taken from the source
	moved    atomic.Uint64 // bytes written to the destination
	noSplice bool          // the kernel refused splice on these sockets (EINVAL)

	// In flight: bytes read from the source and not yet written, in stream
	// order: carry, then the pipe. Only the flow's goroutine touches them
	// (the writer holds its own while it runs).
	carry  [][]byte
	pipe   *pipe
	inPipe int

	// The syscall attempts' state, with the attempts bound once so that
	// the splice loop allocates nothing.
	max, got, pumped int
	opErr            error
	// attemptPlan is the plan a read is made for: a read attempt that
	// finds a newer plan reads nothing, so that no byte that comes after a
	// fault changed is read under the old plan (the cancelled context wakes
	// the wait, but a byte may wake it first).
	attemptPlan          *plan
	stale                bool
	drainFn, pumpFn      func(fd int) bool
	recvFn, watchFn      func(fd int) bool
	recvBuf              []byte
	snd                  sender
	zzz                  sleeper
	w                    *tcpWriter // the user path's writer, while it runs
	wrReleased, finished bool
}

func newTCPFlow(r *link, dir Direction, rd, wr *sockmgr.Turn) *tcpFlow {
	f := &tcpFlow{r: r, dir: dir, src: rd.Socket(), dst: wr.Socket(), rd: rd, wr: wr}
	f.drainFn, f.pumpFn = f.drainAttempt, f.pumpAttempt
	f.recvFn, f.watchFn = f.recvAttempt, f.watchAttempt
	f.snd.init(wr)
	f.setPath(PathSplice)
	return f
}

func (f *tcpFlow) setPlan(p *plan) {
	if old := f.planP.Swap(p); old != nil {
		old.cancel()
	}
}

func (f *tcpFlow) currentPlan() *plan { return f.planP.Load() }

func (f *tcpFlow) setPath(p Path) { f.pathP.Store(&p) }

func (f *tcpFlow) path() Path { return *f.pathP.Load() }

func (f *tcpFlow) counts() (bytes, dgrams, read uint64) {
	return f.moved.Load(), 0, f.readN.Load()
}

// counted books n bytes written to the destination: on both sockets'
// counters, the relay's, its proxy's and the manager's totals.
func (f *tcpFlow) counted(n int) {
	f.rd.Count(n, 0)
	f.wr.Count(n, 0)
	f.moved.Add(uint64(n))
	f.r.m.totals.bytes[f.dir].Add(uint64(n))
	if p := f.r.proxy; p != nil {
		p.bytes[f.dir].Add(uint64(n))
	}
}

// ctxErr sorts a wait's end: the relay stopping, a new plan, or an error.
func (f *tcpFlow) ctxErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		if f.r.ctx.Err() != nil {
			return errStopped
		}
		return errReplan
	}
	return err
}

func (f *tcpFlow) run() {
	defer f.r.wg.Done()
	f.end(f.loop())
}

func (f *tcpFlow) loop() error {
	// Bytes the source socket read from the kernel but never delivered
	// come before anything the kernel still holds.
	if b, _ := f.rd.TakeUndelivered(); len(b) > 0 {
		f.carry = append(f.carry, b)
		f.readN.Add(uint64(len(b)))
	}
	for {
		if f.r.ctx.Err() != nil {
			return errStopped
		}
		p := f.planP.Load()
		var err error
		switch p.tcpMode(f.readN.Load(), f.noSplice) {
		case modeSplice:
			f.setPath(PathSplice)
			err = f.splice(p)
		case modeUser:
			f.setPath(PathUser)
			err = f.user(p)
		case modePause:
			f.setPath(PathUser)
			err = f.pause(p)
		case modeDrop:
			f.setPath(PathUser)
			err = f.drop(p)
		}
		switch err {
		case errReplan:
			continue
		case errEOF:
			return f.passEOF()
		}
		return err
	}
}

// flushInflight writes what was read and not yet written: carry, then the
// pipe.
func (f *tcpFlow) flushInflight(ctx context.Context) error {
	for len(f.carry) > 0 {
		b := f.carry[0]
		n, err := f.snd.sendAll(ctx, b)
		if n > 0 {
			f.counted(n)
			if p := f.planP.Load(); p.dstTap != nil {
				p.dstTap.Sent(time.Now(), b[:n], p.dstPeer)
			}
		}
		if n < len(b) {
			f.carry[0] = b[n:]
			if err == nil {
				err = io.ErrShortWrite
			}
			return err
		}
		f.carry[0] = nil
		f.carry = f.carry[1:]
	}
	f.carry = nil
	if f.inPipe > 0 {
		return f.pump(ctx)
	}
	return nil
}

// splice moves bytes in the kernel until the plan changes, the source ends
// or a socket fails.
func (f *tcpFlow) splice(p *plan) error {
	if err := f.flushInflight(f.r.ctx); err != nil {
		return f.ctxErr(err)
	}
	var pc pacer
	for {
		if f.planP.Load() != p {
			return errReplan
		}
		max := maxPipeSize
		if f.pipe != nil {
			max = f.pipe.size
		}
		if p.rate > 0 {
			max = min(max, quantum(p.rate))
		}
		if p.limited {
			left := int64(p.limitAt) - int64(f.readN.Load())
			if left <= 0 {
				return errReplan // the plan's mode is now pause
			}
			max = int(min(int64(max), left))
		}
		n, err := f.drain(p, max)
		if errors.Is(err, unix.EINVAL) && f.inPipe == 0 {
			f.noSplice = true // not for these sockets: the user path, with no fault
			return errReplan
		}
		if err != nil {
			return f.ctxErr(err)
		}
		if n == 0 {
			return errEOF
		}
		f.readN.Add(uint64(n))
		if err := f.pump(f.r.ctx); err != nil {
			return f.ctxErr(err)
		}
		if p.rate > 0 {
			if _, err := f.zzz.sleep(pc.after(n, p.rate, time.Now()), p.ctx, f.r.ctx); err != nil {
				return errStopped
			}
		}
	}
}

// drain splices up to max bytes from the source into the pipe, waiting
// (until the plan changes) for the source to be readable; 0 bytes is EOF.
func (f *tcpFlow) drain(p *plan, max int) (int, error) {
	f.max, f.got, f.opErr = max, 0, nil
	f.attemptPlan, f.stale = p, false
	err := f.rd.Wait(p.ctx, f.drainFn)
	if err == nil && f.stale {
		err = context.Canceled
	}
	if err == nil {
		err = f.opErr
	}
	if err != nil {
		return 0, &sockErr{f.src, err}
	}
	f.inPipe += f.got
	return f.got, nil
}

func (f *tcpFlow) drainAttempt(fd int) bool {
	if f.planP.Load() != f.attemptPlan {
		f.stale = true
		return true
	}
	for {
		if f.pipe == nil {
			p, err := f.r.m.pipes.get()
			if err != nil {
				f.opErr = err
				return true
			}
			f.pipe = p
			f.max = min(f.max, p.size)
		}
		n, err := splice(fd, f.pipe.w, f.max)
		switch err {
		case nil:
			f.got = n
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			// Nothing to read (the pipe is empty: drain runs only then).
			// An idle direction holds no pipe.
			if f.inPipe == 0 {
				f.r.m.pipes.put(f.pipe)
				f.pipe = nil
			}
			return false
		default:
			f.opErr = err
			return true
		}
	}
}

// pump splices everything in the pipe to the destination, waiting (until
// ctx ends) for it to be writable.
func (f *tcpFlow) pump(ctx context.Context) error {
	f.pumped, f.opErr = 0, nil
	err := f.wr.Wait(ctx, f.pumpFn)
	if f.pumped > 0 {
		f.counted(f.pumped)
	}
	if err == nil {
		err = f.opErr
	}
	if err != nil {
		return &sockErr{f.dst, err}
	}
	return nil
}

func (f *tcpFlow) pumpAttempt(fd int) bool {
	for f.inPipe > 0 {
		n, err := splice(f.pipe.r, fd, f.inPipe)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return false
		case err != nil:
			f.opErr = err
			return true
		case n == 0:
			f.opErr = io.ErrNoProgress
			return true
		}
		f.inPipe -= n
		f.pumped += n
	}
	return true
}

// pipeBytes takes what is in the pipe out into memory.
func (f *tcpFlow) pipeBytes() []byte {
	if f.inPipe == 0 {
		return nil
	}
	b, err := readPipe(f.pipe, f.inPipe)
	f.inPipe = 0
	if err != nil {
		f.r.m.pipes.destroy(f.pipe)
		f.pipe = nil
	}
	return b
}

// recv reads into buf, waiting until the plan changes; 0 bytes is EOF.
func (f *tcpFlow) recv(p *plan, buf []byte) (int, error) {
	f.recvBuf, f.got, f.opErr = buf, 0, nil
	f.attemptPlan, f.stale = p, false
	err := f.rd.Wait(p.ctx, f.recvFn)
	f.recvBuf = nil
	if err == nil && f.stale {
		err = context.Canceled
	}
	if err == nil {
		err = f.opErr
	}
	if err != nil {
		return 0, &sockErr{f.src, err}
	}
	return f.got, nil
}

// recvAttempt reads into recvBuf or, with none (a TIMEOUT fault that
// records nothing), reads and discards up to a pipe's worth.
func (f *tcpFlow) recvAttempt(fd int) bool {
	if f.planP.Load() != f.attemptPlan {
		f.stale = true
		return true
	}
	for {
		var n int
		var err error
		if f.recvBuf != nil {
			n, err = recvStream(fd, f.recvBuf, 0, 0)
		} else {
			n, err = recvStream(fd, nil, maxPipeSize, unix.MSG_TRUNC)
		}
		switch err {
		case nil:
			f.got = n
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			f.opErr = err
			return true
		}
	}
}

// user runs the user-space path: this goroutine reads chunks, the writer
// writes them when their time comes.
func (f *tcpFlow) user(p *plan) error {
	w := f.w
	if w == nil {
		w = f.startWriter()
	}
	// What is in flight goes first, in order.
	for _, b := range f.carry {
		w.push(&chunk{data: b, ts: time.Now(), jit: jitterDraw()})
	}
	f.carry = nil
	if b := f.pipeBytes(); len(b) > 0 {
		w.push(&chunk{data: b, ts: time.Now(), jit: jitterDraw()})
	}
	if f.pipe != nil {
		f.r.m.pipes.put(f.pipe)
		f.pipe = nil
	}
	for {
		p = f.planP.Load()
		if p.tcpMode(f.readN.Load(), f.noSplice) != modeUser {
			return f.finishWriter(errReplan)
		}
		if err := w.waitRoom(p.ctx); err != nil {
			if err == errWriterDone {
				return f.finishWriter(nil)
			}
			if err = f.ctxErr(err); err == errReplan {
				continue
			}
			return err
		}
		size := userChunk
		if p.limited {
			left := int64(p.limitAt) - int64(f.readN.Load())
			if left <= 0 {
				continue // the mode is now pause
			}
			size = int(min(int64(size), left))
		}
		bp := bufPool.Get().(*[]byte)
		n, err := f.recv(p, (*bp)[:size])
		if err != nil {
			bufPool.Put(bp)
			if err = f.ctxErr(err); err == errReplan {
				continue
			}
			return err
		}
		if n == 0 {
			bufPool.Put(bp)
			return f.finishWriter(errEOF)
		}
		f.readN.Add(uint64(n))
		c := &chunk{ts: time.Now(), jit: jitterDraw()}
		if p.srcTap != nil {
			p.srcTap.Received(c.ts, (*bp)[:n], p.srcPeer)
		}
		if n < userChunk/8 {
			c.data = append([]byte(nil), (*bp)[:n]...)
			bufPool.Put(bp)
		} else {
			c.data, c.buf = (*bp)[:n], bp
		}
		w.push(c)
	}
}

// pause stops reading: BLACKHOLE, or LIMIT_DATA reached (which then closes
// the connection once what was read is written).
func (f *tcpFlow) pause(p *plan) error {
	if err := f.flushInflight(f.r.ctx); err != nil {
		return f.ctxErr(err)
	}
	if !p.blackhole && p.limited && f.readN.Load() >= p.limitAt {
		f.r.terminate(endClose, "fault", "fault "+p.limitName+" (limit_data): the byte limit was reached")
		return errStopped
	}
	<-p.ctx.Done()
	return f.ctxErr(p.ctx.Err())
}

// drop reads and discards until the plan changes (TIMEOUT); EOF still
// passes.
func (f *tcpFlow) drop(p *plan) error {
	if err := f.flushInflight(f.r.ctx); err != nil {
		return f.ctxErr(err)
	}
	defer f.dropDone()
	if p.srcTap != nil {
		f.recvBuf = make([]byte, userChunk) // what is dropped is still recorded as received
	}
	for f.planP.Load() == p {
		f.got, f.opErr = 0, nil
		f.attemptPlan, f.stale = p, false
		err := f.rd.Wait(p.ctx, f.recvFn)
		if err == nil && f.stale {
			err = context.Canceled
		}
		if err == nil {
			err = f.opErr
		}
		if err != nil {
			return f.ctxErr(&sockErr{f.src, err})
		}
		if f.got == 0 {
			return errEOF
		}
		if p.srcTap != nil {
			p.srcTap.Received(time.Now(), f.recvBuf[:f.got], p.srcPeer)
		}
		f.readN.Add(uint64(f.got))
		f.rd.Count(f.got, 0)
	}
	return errReplan
}

// dropDone forgets drop's buffer.
func (f *tcpFlow) dropDone() { f.recvBuf = nil }

// passEOF passes the source's EOF on as shutdown(SHUT_WR) of the
// destination (after SLOW_CLOSE's delay), while the other direction keeps
// flowing; then it watches the source for a reset until that direction is
// done too.
func (f *tcpFlow) passEOF() error {
	if err := f.flushInflight(f.r.ctx); err != nil {
		return f.ctxErr(err)
	}
	eofAt := time.Now()
	for {
		p := f.planP.Load()
		d := time.Until(eofAt.Add(p.slowClose))
		if d <= 0 {
			break
		}
		if _, err := f.zzz.sleep(d, p.ctx, f.r.ctx); err != nil {
			return errStopped
		}
	}
	if err := f.dst.Shutdown(sockmgr.ShutWrite); err != nil && errors.Is(err, sockmgr.ErrNotFound) {
		return &sockErr{f.dst, err}
	}
	// (ENOTCONN: the destination was reset meanwhile; the other direction
	// sees that.)
	f.setPath(PathDone)
	f.wrReleased = true
	f.wr.Release()
	f.finished = true
	f.r.flowFinished()
	return f.watch()
}

// watch waits for an error on the source after its EOF: an RST that comes
// after the FIN still passes through.
func (f *tcpFlow) watch() error {
	f.opErr = nil
	err := f.rd.Wait(f.r.watchCtx, f.watchFn)
	if err == nil {
		err = f.opErr
	}
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	return &sockErr{f.src, err}
}

func (f *tcpFlow) watchAttempt(fd int) bool {
	re := pollNow(fd, unix.POLLIN)
	switch {
	case re&unix.POLLERR != 0:
		f.opErr = unix.ECONNRESET
		if soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && soerr != 0 {
			f.opErr = unix.Errno(soerr)
		}
		return true
	case re&unix.POLLHUP != 0:
		return true // shut both ways: nothing more can happen
	}
	return false
}

// end finishes the direction: it reports a failure to the relay, deals with
// the bytes in flight as the relay's ending says, and gives the turns back.
func (f *tcpFlow) end(err error) {
	if err != nil && err != errStopped {
		f.fail(err)
	}
	if f.w != nil {
		f.collectWriter()
	}
	if err != nil && !f.finished {
		f.settle(f.r.ending())
	}
	if f.pipe != nil {
		if f.inPipe == 0 {
			f.r.m.pipes.put(f.pipe)
		} else {
			f.r.m.pipes.destroy(f.pipe)
		}
		f.pipe, f.inPipe = nil, 0
	}
	f.zzz.stop()
	f.setPath(PathDone)
	if !f.wrReleased {
		f.wr.Release()
	}
	f.rd.Release()
}

// fail ends the relay after a socket error: a socket closed by its owner,
// a destination shut for writing by its owner (then only this direction
// ends), or a reset, which passes through as a reset of both sides.
func (f *tcpFlow) fail(err error) {
	var se *sockErr
	s := f.src
	if errors.As(err, &se) {
		s = se.s
	}
	switch {
	case errors.Is(err, sockmgr.ErrNotFound):
		f.r.socketGone(s)
	case errors.Is(err, unix.EPIPE) && s == f.dst && f.dst.Info().WriteShut:
		// Its owner shut the destination for writing: nothing more can go
		// that way, and the rest of the relay goes on.
		f.finished = true
		f.r.flowFinished()
	default:
		errno, _ := sockmgr.Errno(err)
		name := "an error"
		if errno != 0 {
			name = unix.ErrnoName(errno)
		}
		f.r.terminate(endReset, "reset", name+" on socket "+s.ID()+": reset passed through")
	}
}

// settle deals with the bytes in flight when the relay stops: written out
// within DrainTimeout (unless it resets), then what is left goes back to the
// source socket (endKeep) or is dropped.
func (f *tcpFlow) settle(how endHow) {
	if how == 0 || how == endReset {
		f.carry = nil
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.r.m.cfg.DrainTimeout)
	_ = f.flushInflight(ctx)
	cancel()
	if how != endKeep {
		f.carry = nil
		return
	}
	var left []byte
	for _, b := range f.carry {
		left = append(left, b...)
	}
	f.carry = nil
	left = append(left, f.pipeBytes()...)
	f.rd.ReturnUndelivered(left)
}

// chunk is bytes read on the user path, with when they were read.
type chunk struct {
	data []byte
	buf  *[]byte // the pooled buffer behind data, if any
	ts   time.Time
	jit  float64 // the chunk's share of the jitter
}

func (c *chunk) free() {
	if c.buf != nil {
		bufPool.Put(c.buf)
		c.buf = nil
	}
	c.data = nil
}

var errWriterDone = errors.New("writer done")

// tcpWriter writes the user path's chunks: each when latency ± jitter has
// passed since it was read (never before the chunk before it), cut by
// SLICER and paced by BANDWIDTH.
type tcpWriter struct {
	f      *tcpFlow
	q      chan *chunk
	held   atomic.Int64  // bytes queued or being written
	room   chan struct{} // a signal that held went down or q has room
	done   chan struct{}
	err    error  // why it stopped early (set before done closes)
	cur    *chunk // the chunk being written
	curOff int
	last   time.Time // the previous chunk's release time
	snd    sender
	zzz    sleeper
	pc     pacer
}

const writerQueue = 1024

func (f *tcpFlow) startWriter() *tcpWriter {
	w := &tcpWriter{f: f, q: make(chan *chunk, writerQueue), room: make(chan struct{}, 1), done: make(chan struct{})}
	w.snd.init(f.wr)
	f.w = w
	go w.run()
	return w
}

// push queues a chunk; waitRoom made sure there is room.
func (w *tcpWriter) push(c *chunk) {
	w.held.Add(int64(len(c.data)))
	w.q <- c
}

// waitRoom waits until the writer holds less than the budget and its queue
// has room, ctx ends, or the writer stops (errWriterDone).
func (w *tcpWriter) waitRoom(ctx context.Context) error {
	budget := int64(w.f.r.m.cfg.LatencyBuffer)
	for w.held.Load() >= budget || len(w.q) >= cap(w.q)-1 {
		select {
		case <-w.room:
		case <-w.done:
			return errWriterDone
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	select {
	case <-w.done:
		return errWriterDone
	default:
		return nil
	}
}

func (w *tcpWriter) signal() {
	select {
	case w.room <- struct{}{}:
	default:
	}
}

func (w *tcpWriter) run() {
	defer close(w.done)
	defer w.zzz.stop()
	for c := range w.q {
		w.cur, w.curOff = c, 0
		w.signal()
		if err := w.write(c); err != nil {
			w.err = err
			return
		}
		w.cur = nil
		c.free()
	}
}

func (w *tcpWriter) write(c *chunk) error {
	f := w.f
	for {
		p := f.planP.Load()
		release := c.ts.Add(delayOf(p, c.jit))
		if release.Before(w.last) {
			release = w.last
		}
		full, err := w.zzz.sleep(time.Until(release), p.ctx, f.r.ctx)
		if err != nil {
			return errStopped
		}
		if full {
			w.last = release
			break
		}
	}
	for w.curOff < len(c.data) {
		p := f.planP.Load()
		n := len(c.data) - w.curOff
		if p.slicer != nil {
			n = min(n, sliceSize(p.slicer))
		}
		if p.rate > 0 {
			n = min(n, quantum(p.rate))
		}
		sent, err := w.snd.sendAll(f.r.ctx, c.data[w.curOff:w.curOff+n])
		if sent > 0 {
			f.counted(sent)
			if p.dstTap != nil {
				p.dstTap.Sent(time.Now(), c.data[w.curOff:w.curOff+sent], p.dstPeer)
			}
			w.curOff += sent
			w.held.Add(-int64(sent))
			w.signal()
		}
		if err != nil {
			if err = f.ctxErr(err); err == errReplan {
				continue
			}
			return err
		}
		var pause time.Duration
		if p.rate > 0 {
			pause = w.pc.after(sent, p.rate, time.Now())
		}
		if p.slicer != nil && w.curOff < len(c.data) {
			pause = max(pause, p.slicer.Delay)
		}
		if _, err := w.zzz.sleep(pause, p.ctx, f.r.ctx); err != nil {
			return errStopped
		}
	}
	return nil
}

// finishWriter closes the writer's queue and waits until it has written
// everything (or stopped); it returns the writer's error, else next.
func (f *tcpFlow) finishWriter(next error) error {
	w := f.w
	f.collectWriter()
	if w.err != nil {
		return w.err
	}
	return next
}

// collectWriter closes the writer's queue, waits for it, and takes back what
// it did not write into carry (in order: the chunk it was on, then the
// queue).
func (f *tcpFlow) collectWriter() {
	w := f.w
	if w == nil {
		return
	}
	f.w = nil
	close(w.q)
	<-w.done
	if c := w.cur; c != nil {
		if rest := c.data[w.curOff:]; len(rest) > 0 {
			f.carry = append(f.carry, append([]byte(nil), rest...))
		}
		c.free()
	}
	for c := range w.q {
		f.carry = append(f.carry, append([]byte(nil), c.data...))
		c.free()
	}
}

// sender writes a whole buffer to a socket through its write turn.
type sender struct {
	turn *sockmgr.Turn
	buf  []byte
	sent int
	err  error
	fn   func(fd int) bool
}

func (s *sender) init(t *sockmgr.Turn) {
	s.turn = t
	s.fn = s.attempt
}

// sendAll writes b, waiting (until ctx ends) for room; it returns how much
// was written, also on error.
func (s *sender) sendAll(ctx context.Context, b []byte) (int, error) {
	s.buf, s.sent, s.err = b, 0, nil
	err := s.turn.Wait(ctx, s.fn)
	sent := s.sent
	s.buf = nil
	if err == nil {
		err = s.err
	}
	if err != nil {
		return sent, &sockErr{s.turn.Socket(), err}
	}
	return sent, nil
}

func (s *sender) attempt(fd int) bool {
	for s.sent < len(s.buf) {
		n, err := sendStream(fd, s.buf[s.sent:])
		switch err {
		case nil:
			s.sent += n
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			s.err = err
			return true
		}
	}
	return true
}
