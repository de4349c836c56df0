package relay

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/internal/sockaddr"
	"github.com/sockd/sockd/sockmgr"
)

// A UDP direction (udpFlow) takes batches of datagrams from its source (a
// socket read with recvmmsg(2), or a UDP proxy's shared socket, which sorts
// datagrams by client) and hands them to its sink (a connected socket, or
// the shared socket with the client's address), with sendmmsg(2).
//
// With no fault the batch goes straight out ("direct"). With faults, each
// datagram's fate is decided as it arrives — dropped (TIMEOUT, BLACKHOLE,
// LOSS), duplicated, corrupted, marked to be held back (REORDER) — and what
// survives is queued for a writer goroutine that sends each when LATENCY
// has passed, paced by BANDWIDTH, and lets held datagrams go after `gap`
// later ones. When the faults go, the writer's queue is sent out before the
// next direct batch, so datagrams are not reordered by the switch.

const (
	batchSize   = 16
	maxDatagram = 1 << 16
	// udpQueueLimit bounds the datagrams one direction's writer queues.
	udpQueueLimit = 8192
	// reorderHoldMax is the longest a REORDER fault holds a datagram when
	// fewer than `gap` others follow it.
	reorderHoldMax = 200 * time.Millisecond
	// udpShapeLatency is the longest a datagram waits for BANDWIDTH's rate
	// (beyond its latency): later ones are dropped, as by tc tbf's latency.
	udpShapeLatency = 200 * time.Millisecond
)

// dgramBatch is the buffers of one recvmmsg(2).
type dgramBatch struct {
	bufs  [batchSize][]byte
	iov   [batchSize]unix.Iovec
	msgs  [batchSize]mmsghdr
	addrs [batchSize]sockaddr.Raw
}

var batchPool = sync.Pool{New: func() any {
	b := &dgramBatch{}
	for i := range b.bufs {
		b.bufs[i] = make([]byte, maxDatagram)
	}
	return b
}}

func (b *dgramBatch) prepare(withAddr bool) {
	for i := range b.msgs {
		b.iov[i].Base = &b.bufs[i][0]
		b.iov[i].SetLen(maxDatagram)
		m := &b.msgs[i]
		*m = mmsghdr{}
		m.hdr.Iov = &b.iov[i]
		m.hdr.SetIovlen(1)
		if withAddr {
			m.hdr.Name = (*byte)(unsafePointer(&b.addrs[i].Any))
			m.hdr.Namelen = unix.SizeofSockaddrAny
		}
	}
}

func (b *dgramBatch) data(i int) []byte { return b.bufs[i][:b.msgs[i].len] }

// dgramReader receives batches through a read turn. It takes a batch from
// the pool only while datagrams are there: an idle direction holds none.
type dgramReader struct {
	turn     *sockmgr.Turn
	withAddr bool
	b        *dgramBatch
	n        int
	err      error
	fn       func(fd int) bool
}

func newDgramReader(t *sockmgr.Turn, withAddr bool) *dgramReader {
	rr := &dgramReader{turn: t, withAddr: withAddr}
	rr.fn = rr.attempt
	return rr
}

// recv waits (until ctx ends) for datagrams and receives up to a batch.
func (rr *dgramReader) recv(ctx context.Context) (int, error) {
	rr.n, rr.err = 0, nil
	err := rr.turn.Wait(ctx, rr.fn)
	if err == nil {
		err = rr.err
	}
	if err != nil {
		return 0, &sockErr{rr.turn.Socket(), err}
	}
	return rr.n, nil
}

func (rr *dgramReader) attempt(fd int) bool {
	for {
		if rr.b == nil {
			rr.b = batchPool.Get().(*dgramBatch)
		}
		rr.b.prepare(rr.withAddr)
		n, err := recvmmsg(fd, rr.b.msgs[:])
		switch err {
		case nil:
			rr.n = n
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			batchPool.Put(rr.b)
			rr.b = nil
			return false
		default:
			rr.err = err
			return true
		}
	}
}

func (rr *dgramReader) release() {
	if rr.b != nil {
		batchPool.Put(rr.b)
		rr.b = nil
	}
}

type udpFlow struct {
	r        *link
	dir      Direction
	sink     dgramSink
	planP    atomic.Pointer[plan]
	pathP    atomic.Pointer[Path]
	moved    atomic.Uint64
	dgrams   atomic.Uint64
	readN    atomic.Uint64
	activity *atomic.Int64 // a UDP proxy session's last activity (unix ns), or nil

	// A flow fed from outside (a UDP proxy's upstream direction) is
	// delivered to under mu, and ended says its session is over.
	mu    sync.Mutex
	ended bool

	w   *udpWriter
	out [][]byte
}

func newUDPFlow(r *link, dir Direction, sink dgramSink) *udpFlow {
	f := &udpFlow{r: r, dir: dir, sink: sink}
	f.setPath(PathDirect)
	return f
}

func (f *udpFlow) setPlan(p *plan) {
	if old := f.planP.Swap(p); old != nil {
		old.cancel()
	}
}

func (f *udpFlow) currentPlan() *plan { return f.planP.Load() }
func (f *udpFlow) setPath(p Path)     { f.pathP.Store(&p) }
func (f *udpFlow) path() Path         { return *f.pathP.Load() }

func (f *udpFlow) counts() (bytes, dgrams, read uint64) {
	return f.moved.Load(), f.dgrams.Load(), f.readN.Load()
}

// runKernel is the goroutine of a direction whose source is a socket.
func (f *udpFlow) runKernel(rd *sockmgr.Turn) {
	defer f.r.wg.Done()
	rr := newDgramReader(rd, false)
	var err error
	if _, d := rd.TakeUndelivered(); d != nil {
		rd.Count(len(d.Data), 1)
		err = f.deliver([][]byte{d.Data})
	}
	for err == nil {
		var n int
		n, err = rr.recv(f.r.ctx)
		if errors.Is(err, unix.ECONNREFUSED) {
			err = nil // an ICMP error about an earlier send: not this socket's end
			continue
		}
		if err != nil {
			break
		}
		ds, bytes := f.out[:0], 0
		for i := range n {
			d := rr.b.data(i)
			ds = append(ds, d)
			bytes += len(d)
		}
		f.out = ds
		rd.Count(bytes, n)
		f.readN.Add(uint64(bytes))
		err = f.deliver(ds)
		clear(ds)
	}
	rr.release()
	f.stop(err)
	f.sink.release()
	rd.Release()
}

// stop ends the direction after err, which tells the relay why.
func (f *udpFlow) stop(err error) {
	var se *sockErr
	switch {
	case err == nil || errors.Is(err, context.Canceled) || err == errStopped:
	case errors.Is(err, sockmgr.ErrNotFound) && errors.As(err, &se):
		f.r.socketGone(se.s)
	default:
		f.r.terminate(endClose, "error", err.Error())
	}
	// A kernel-fed direction never stops on its own: make sure the relay
	// ends with it.
	f.r.terminate(endClose, "error", "a direction stopped")
	if f.w != nil {
		_ = f.finishWriter()
	}
	f.setPath(PathDone)
}

// deliverExternal is deliver for a flow fed from outside its goroutines.
func (f *udpFlow) deliverExternal(ds [][]byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended || f.r.ctx.Err() != nil {
		return errStopped
	}
	n := 0
	for _, d := range ds {
		n += len(d)
	}
	f.readN.Add(uint64(n))
	return f.deliver(ds)
}

// endExternal ends a flow fed from outside: nothing is delivered to it
// afterwards.
func (f *udpFlow) endExternal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended {
		return
	}
	f.ended = true
	if f.w != nil {
		_ = f.finishWriter()
	}
	f.setPath(PathDone)
	f.sink.release()
}

// deliver passes datagrams on under the plan now. The datagrams' memory is
// the caller's: what is queued is copied.
func (f *udpFlow) deliver(ds [][]byte) error {
	if f.activity != nil {
		f.activity.Store(time.Now().UnixNano())
	}
	p := f.planP.Load()
	if !p.faulted {
		if f.w != nil {
			// Datagrams queued under the faults go first.
			if err := f.finishWriter(); err != nil {
				return err
			}
		}
		f.setPath(PathDirect)
		_, err := f.sendOut(ds)
		return err
	}
	f.setPath(PathUser)
	if f.w == nil {
		f.startWriter()
	}
	now := time.Now()
	for _, d := range ds {
		if p.srcTap != nil {
			p.srcTap.Received(now, d, p.srcPeer)
		}
		if p.drop || f.lost(p) {
			continue
		}
		copies := 1
		for _, pct := range p.duplicate {
			if roll(pct) {
				copies++
			}
		}
		data := append([]byte(nil), d...)
		for _, pct := range p.corrupt {
			if len(data) > 0 && roll(pct) {
				data[rand.IntN(len(data))] ^= 0xff
			}
		}
		var hold int32
		if p.reorder != nil && roll(p.reorder.Percent) {
			hold = p.reorder.Gap
		}
		for i := range copies {
			it := udpItem{data: data, ts: now, jit: jitterDraw()}
			if i == 0 {
				it.hold = hold
			}
			f.w.push(it) // a full queue drops it, as a router's would
		}
	}
	select {
	case <-f.w.done:
		err := f.w.err
		_ = f.finishWriter()
		return err
	default:
		return nil
	}
}

// lost rolls the plan's LOSS faults for one datagram.
func (f *udpFlow) lost(p *plan) bool {
	lost := false
	for i := range p.loss {
		if p.loss[i].lose() {
			lost = true
		}
	}
	return lost
}

// lose decides one datagram's fate. percent and correlation define a
// two-state chain: after a kept datagram the next is lost with probability
// p·(1−ρ), after a lost one with p + ρ·(1−p). Its stationary loss rate is p
// whatever ρ, the correlation of successive fates is ρ, and losses come in
// bursts of mean length 1/((1−p)(1−ρ)). (netem's "correlation" mixes
// successive random numbers instead, which lowers the loss rate below p as
// ρ grows; this keeps the rate the user asked for.)
func (ls *lossStage) lose() bool {
	a := ls.app
	p, rho := ls.percent/100, ls.correlation/100
	prob := p
	if a.lossState {
		if a.lossLast {
			prob = p + rho*(1-p)
		} else {
			prob = p * (1 - rho)
		}
	}
	lost := rand.Float64() < prob
	a.lossLast, a.lossState = lost, true
	return lost
}

// sendOut sends datagrams through the sink and counts them; it returns
// how many went out.
func (f *udpFlow) sendOut(ds [][]byte) (int, error) {
	n, bytes, err := f.sink.send(f.r.ctx, ds)
	if n > 0 {
		f.moved.Add(uint64(bytes))
		f.dgrams.Add(uint64(n))
		f.r.m.totals.bytes[f.dir].Add(uint64(bytes))
		f.r.m.totals.dgrams[f.dir].Add(uint64(n))
		if p := f.r.proxy; p != nil {
			p.bytes[f.dir].Add(uint64(bytes))
		}
		if f.activity != nil {
			f.activity.Store(time.Now().UnixNano())
		}
	}
	if err != nil && f.r.ctx.Err() != nil {
		return n, errStopped
	}
	return n, err
}

// udpItem is a datagram queued for the writer.
type udpItem struct {
	data []byte
	ts   time.Time // when it came
	jit  float64   // its share of the jitter
	hold int32     // REORDER: let this many later datagrams pass first
}

type heldItem struct {
	udpItem
	left  int32
	until time.Time
}

// udpWriter sends a faulted direction's datagrams when their time comes.
type udpWriter struct {
	f      *udpFlow
	mu     sync.Mutex
	q      []udpItem
	qBytes int
	closed bool
	notify chan struct{}
	done   chan struct{}
	err    error
	held   []heldItem
	last   time.Time
	pc     pacer
	zzz    sleeper
	timer  *time.Timer
	one    [1][]byte
}

func (f *udpFlow) startWriter() {
	w := &udpWriter{f: f, notify: make(chan struct{}, 1), done: make(chan struct{})}
	f.w = w
	go w.run()
}

// push queues a datagram; it reports false (the datagram is dropped) when
// the queue is full.
func (w *udpWriter) push(it udpItem) bool {
	w.mu.Lock()
	if w.closed || len(w.q) >= udpQueueLimit || w.qBytes+len(it.data) > w.f.r.m.cfg.LatencyBuffer {
		w.mu.Unlock()
		return false
	}
	w.q = append(w.q, it)
	w.qBytes += len(it.data)
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
	return true
}

// finishWriter lets the writer send what it holds under the plan now, and
// waits for it to end.
func (f *udpFlow) finishWriter() error {
	w := f.w
	f.w = nil
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
	<-w.done
	if w.err == errStopped {
		return errStopped
	}
	return w.err
}

func (w *udpWriter) run() {
	defer close(w.done)
	defer w.zzz.stop()
	defer func() {
		if w.timer != nil {
			w.timer.Stop()
		}
	}()
	f := w.f
	for {
		p := f.planP.Load()
		if err := w.releaseHeld(p, p.reorder == nil); err != nil {
			w.err = err
			return
		}
		w.mu.Lock()
		if len(w.q) == 0 {
			closed := w.closed
			w.mu.Unlock()
			if closed {
				w.err = w.releaseHeld(p, true)
				return
			}
			if err := w.idle(p); err != nil {
				w.err = err
				return
			}
			continue
		}
		it := w.q[0]
		w.q[0] = udpItem{}
		w.q = w.q[1:]
		w.qBytes -= len(it.data)
		w.mu.Unlock()
		if it.hold > 0 && p.reorder != nil {
			w.held = append(w.held, heldItem{udpItem: it, left: it.hold, until: time.Now().Add(reorderHoldMax)})
			continue
		}
		if err := w.send(it); err != nil {
			w.err = err
			return
		}
		for i := range w.held {
			w.held[i].left--
		}
		if err := w.releaseHeld(p, false); err != nil {
			w.err = err
			return
		}
	}
}

// idle waits for a datagram, a held one's deadline, a new plan, or the
// relay's end.
func (w *udpWriter) idle(p *plan) error {
	var expire <-chan time.Time
	if len(w.held) > 0 {
		d := time.Until(w.held[0].until)
		if w.timer == nil {
			w.timer = time.NewTimer(d)
		} else {
			w.timer.Reset(d)
		}
		expire = w.timer.C
	}
	select {
	case <-w.notify:
	case <-expire:
	case <-p.ctx.Done():
		if w.f.r.ctx.Err() != nil {
			return errStopped
		}
	}
	if w.timer != nil {
		w.timer.Stop()
	}
	return nil
}

// releaseHeld sends the held datagrams whose turn has come (all of them with
// all), in the order they came.
func (w *udpWriter) releaseHeld(p *plan, all bool) error {
	if len(w.held) == 0 {
		return nil
	}
	now := time.Now()
	kept := w.held[:0]
	var due []heldItem
	for _, h := range w.held {
		if all || h.left <= 0 || !now.Before(h.until) {
			due = append(due, h)
		} else {
			kept = append(kept, h)
		}
	}
	w.held = kept
	for _, h := range due {
		if err := w.send(h.udpItem); err != nil {
			return err
		}
	}
	return nil
}

// send sends one datagram when LATENCY says, within BANDWIDTH's rate.
func (w *udpWriter) send(it udpItem) error {
	f := w.f
	var release time.Time
	for {
		p := f.planP.Load()
		release = it.ts.Add(delayOf(p, it.jit))
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
	p := f.planP.Load()
	if p.rate > 0 && time.Since(release) > udpShapeLatency {
		return nil // it waited too long for the rate: dropped
	}
	w.one[0] = it.data
	n, err := f.sendOut(w.one[:])
	w.one[0] = nil
	if err != nil {
		return err
	}
	if n == 1 && p.dstTap != nil {
		p.dstTap.Sent(time.Now(), it.data, p.dstPeer)
	}
	if p.rate > 0 {
		if _, err := w.zzz.sleep(w.pc.after(len(it.data), p.rate, time.Now()), p.ctx, f.r.ctx); err != nil {
			return errStopped
		}
	}
	return nil
}

// dgramSink is where a UDP direction's datagrams go.
type dgramSink interface {
	// send sends the datagrams in order (waiting, until ctx ends, for
	// room) and returns how many went out and their bytes. A datagram the
	// kernel refuses by itself (EMSGSIZE, a pending ICMP error twice) is
	// skipped.
	send(ctx context.Context, ds [][]byte) (n, bytes int, err error)
	release()
}

// mmsgWriter is sendmmsg(2) of a list of datagrams, to one address or to
// the connected peer.
type mmsgWriter struct {
	to      *sockaddr.Raw
	mm      []mmsghdr
	iov     []unix.Iovec
	ds      [][]byte
	next    int // the first datagram not yet handled
	sent    int
	bytes   int
	refused int
	err     error
	fn      func(fd int) bool
}

func (w *mmsgWriter) reset(ds [][]byte) {
	w.ds, w.next, w.sent, w.bytes, w.err = ds, 0, 0, 0, nil
	if w.fn == nil {
		w.fn = w.attempt
	}
}

func (w *mmsgWriter) attempt(fd int) bool {
	for w.next < len(w.ds) {
		batch := w.ds[w.next:min(len(w.ds), w.next+1024)]
		w.iov, w.mm = w.iov[:0], w.mm[:0]
		for _, d := range batch {
			var v unix.Iovec
			if len(d) > 0 {
				v.Base = &d[0]
			}
			v.SetLen(len(d))
			w.iov = append(w.iov, v)
		}
		for i := range batch {
			var m mmsghdr
			m.hdr.Iov = &w.iov[i]
			m.hdr.SetIovlen(1)
			if w.to != nil {
				m.hdr.Name = (*byte)(unsafePointer(&w.to.Any))
				m.hdr.Namelen = w.to.Len
			}
			w.mm = append(w.mm, m)
		}
		n, err := sendmmsg(fd, w.mm)
		switch err {
		case nil:
			for _, d := range batch[:n] {
				w.bytes += len(d)
			}
			w.next += n
			w.sent += n
			w.refused = 0
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		case unix.ECONNREFUSED:
			// The ICMP error of an earlier datagram, reported (and
			// cleared) instead of sending this one: try it again, once.
			if w.refused++; w.refused > 1 {
				w.next++
				w.refused = 0
			}
		case unix.EMSGSIZE, unix.ENOBUFS:
			w.next++ // too big, or dropped by the kernel's queue: as the network would
		default:
			w.err = err
			return true
		}
	}
	clear(w.iov)
	clear(w.mm)
	return true
}

// connSink sends on a connected socket through its held write turn.
type connSink struct {
	turn *sockmgr.Turn
	mw   mmsgWriter
}

func (s *connSink) send(ctx context.Context, ds [][]byte) (int, int, error) {
	s.mw.reset(ds)
	err := s.turn.Wait(ctx, s.mw.fn)
	if err == nil {
		err = s.mw.err
	}
	if s.mw.sent > 0 {
		s.turn.Count(s.mw.bytes, s.mw.sent)
	}
	s.mw.ds = nil
	if err != nil {
		return s.mw.sent, s.mw.bytes, &sockErr{s.turn.Socket(), err}
	}
	return s.mw.sent, s.mw.bytes, nil
}

func (s *connSink) release() { s.turn.Release() }

// addrSink sends from a UDP proxy's shared socket to one client, taking the
// socket's write turn for each batch (its sessions share it).
type addrSink struct {
	sock *sockmgr.Socket
	to   sockaddr.Raw
	mw   mmsgWriter
}

func (s *addrSink) send(ctx context.Context, ds [][]byte) (int, int, error) {
	t, err := s.sock.WriteTurn(ctx, sockmgr.Blocking)
	if err != nil {
		return 0, 0, &sockErr{s.sock, err}
	}
	defer t.Release()
	s.mw.to = &s.to
	s.mw.reset(ds)
	err = t.Wait(ctx, s.mw.fn)
	if err == nil {
		err = s.mw.err
	}
	if s.mw.sent > 0 {
		t.Count(s.mw.bytes, s.mw.sent)
	}
	s.mw.ds = nil
	if err != nil {
		return s.mw.sent, s.mw.bytes, &sockErr{s.sock, err}
	}
	return s.mw.sent, s.mw.bytes, nil
}

func (s *addrSink) release() {}
