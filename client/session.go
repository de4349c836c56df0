package client

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/sockd/sockd/codec"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// CloseLinger bounds how long Close of a Conn or PacketConn waits for data
// already written to reach sockd before it closes the socket regardless.
var CloseLinger = 10 * time.Second

// session is the data path of one remote socket under net.Conn and
// net.PacketConn: an Attach stream, with a pump that receives into a queue
// for readers and a writer that sends from a queue (so that a Read or Write
// can give up at its deadline without harming the stream), deadlines, and
// an orderly end.
//
// On a TCP socket of a sockd that keeps offsets (DESIGN.md, "Offsets") the
// session survives the loss of its stream: it keeps the bytes it sent until
// sockd says they are written (AttachResponse.written, at most window of
// them), tells sockd which received bytes its reader has taken
// (AttachRequest.ack), and when the stream breaks on the way it opens
// another at the offsets where it stands (AttachOpen.recv_offset and
// send_offset), so that no byte is lost or doubled. When the peer closes,
// only receiving ends: what the caller still writes goes out by Send calls
// (with offsets) if the stream is gone.
type session struct {
	c      *Client
	id     string
	sock   *sockdv1.Socket // as it was when attached
	tcp    bool
	offs   bool // TCP on a sockd that keeps offsets: resumable, exactly once
	lim    limits
	window int   // the most bytes queued or in flight unwritten
	ahead  int   // the most bytes queued ahead of what the stream has sent
	chunk  int   // the most bytes in one message from Write
	rchunk int   // from ReadFrom
	every  int64 // acknowledge received bytes at least this often

	// Receive side: the running stream's pump queues what it receives in
	// in, readers take it.
	in       *recvQueue
	recvPos  int64        // the pump's: the stream offset after the bytes queued in in
	consumed atomic.Int64 // the offset after the bytes readers have returned
	ackWant  atomic.Int64

	// Send side and the session's state, guarded by mu. At every change
	// the one goroutine that may wait for it is woken: the writer (wake) and
	// the Write holding the write turn (space).
	mu             sync.Mutex
	wake, space    chan struct{}
	q              sendQueue
	ackSent        int64
	wantCloseWrite bool
	writeShut      bool
	wantClose      bool
	closeSent      bool
	wantDetach     bool
	aborted        bool
	sendErr        error       // why nothing more can be sent
	gen            *generation // the running stream, if any

	abortCtx  context.Context // ends when the session is given up
	abortStop context.CancelFunc
	closing   chan struct{} // closed by Close or Detach: calls then fail with net.ErrClosed
	closeOnce sync.Once
	closeErr  error
	done      chan struct{} // closed when the session has ended
	finalErr  error         // why it ended (nil: in order); set before done

	readTurn  chan struct{}
	writeTurn chan struct{}
	rd, wd    *deadline
}

// inFlightWindow is the most bytes a TCP session with offsets has sent (or
// queued) that sockd has not yet reported written: half of what sockd's
// Attach reader reads ahead of the socket (ServerInfo
// limits.attach_read_ahead_bytes), at most maxInFlight. Below the read-ahead,
// that reader never stops reading the stream while a write to a peer that
// is not reading is pending, and the acknowledgements behind the data
// always get through — sockd stops reading a peer whose bytes the client
// has not acknowledged (retain_bytes), and a peer that waits to be read
// before it reads would otherwise wait forever. Large enough that the
// written reports' round trip does not cap a fast stream: between
// processes on a busy machine, 4 MiB moved a 64 KiB Attach about a tenth
// faster than 1 MiB (docs/benchmarks.md).
func (l limits) inFlightWindow() int { return int(min(l.readAhead/2, maxInFlight)) }

const maxInFlight = 4 << 20

// AttachOption tunes Conn.
type AttachOption func(*attachOptions)

type attachOptions struct {
	recvOffset *int64
}

// FromRecvOffset makes the stream deliver received bytes from this stream
// offset (TCP), which may be before what sockd already delivered — to
// resume after a process that was attached died — as long as sockd retains
// them (its ServerInfo.limits.retain_bytes).
func FromRecvOffset(off int64) AttachOption {
	return func(o *attachOptions) { o.recvOffset = &off }
}

// attach opens an Attach stream on a socket and starts the session.
func (c *Client) attach(ctx context.Context, id string, opts []AttachOption) (*session, error) {
	var o attachOptions
	for _, opt := range opts {
		opt(&o)
	}
	l := c.limits(ctx)
	s := &session{
		c: c, id: id, lim: l,
		wake: make(chan struct{}, 1), space: make(chan struct{}, 1),
		closing: make(chan struct{}), done: make(chan struct{}),
		readTurn: make(chan struct{}, 1), writeTurn: make(chan struct{}, 1),
		rd: newDeadline(), wd: newDeadline(),
	}
	s.abortCtx, s.abortStop = context.WithCancel(context.Background())
	s.chunk = min(chunkSize, l.maxCall)
	s.rchunk = min(readChunk, l.maxCall)
	// Where to start: as asked, else where this client already stands in
	// the socket's streams (a Recv cut short left bytes for it), else
	// wherever sockd stands.
	// (sockd retains what a stream delivers, for a resume, only when the
	// stream is opened at an offset.)
	var recvOff, sendOff *int64
	if l.offsets() {
		p, err := c.position(ctx, id)
		if err != nil {
			return nil, err
		}
		if p.stream {
			p.recvMu.Lock()
			r := p.recv
			p.recvMu.Unlock()
			p.sendMu.Lock()
			w := p.send
			p.sendMu.Unlock()
			recvOff, sendOff = &r, &w
			if o.recvOffset != nil {
				recvOff = o.recvOffset
			}
		}
	}
	g, first, err := s.open(ctx, recvOff, sendOff)
	if err != nil {
		s.abortStop()
		return nil, FromError(err)
	}
	s.sock = first.GetSocket()
	s.id = s.sock.GetId()
	s.tcp = s.sock.GetProtocol() != sockdv1.Protocol_PROTOCOL_UDP
	s.offs = s.tcp && l.offsets()
	s.window = 8 * s.chunk
	s.ahead = s.window
	s.in = newRecvQueue(8)
	if s.offs {
		s.window = l.inFlightWindow()
		s.in = newRecvQueue(0) // sockd bounds it: retain_bytes unacknowledged
		s.every = max(min(l.retain/4, 1<<20), 16<<10)
		s.recvPos = first.GetRecvOffset()
		s.consumed.Store(s.recvPos)
		s.ackWant.Store(s.recvPos)
		s.ackSent = s.recvPos
		s.q.end, s.q.written, s.q.sent = first.GetSendOffset(), first.GetSendOffset(), first.GetSendOffset()
	}
	go s.run(g)
	return s, nil
}

// generation is one Attach stream of a session.
type generation struct {
	stream sockdv1.SocketService_AttachClient
	ctx    context.Context
	cancel context.CancelFunc
	skip   int64 // TCP with offsets: received bytes to drop (sockd resumed earlier than asked)
}

// open starts an Attach stream at the given offsets and waits (within ctx)
// for its first answer.
func (s *session) open(ctx context.Context, recvOff, sendOff *int64) (*generation, *sockdv1.AttachResponse, error) {
	gctx, cancel := context.WithCancel(context.Background())
	stream, err := s.c.api.Attach(gctx, append(s.lim.callOptions(), grpc.ForceCodecV2(codec.New()))...)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	g := &generation{stream: stream, ctx: gctx, cancel: cancel}
	open := &sockdv1.AttachOpen{Id: s.id, RecvOffset: recvOff, SendOffset: sendOff}
	sendErr := stream.Send(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Open{Open: open}})
	type answer struct {
		m   *sockdv1.AttachResponse
		err error
	}
	got := make(chan answer, 1)
	go func() {
		m, err := stream.Recv() // after a failed Send too: it has the status
		got <- answer{m, err}
	}()
	var a answer
	select {
	case a = <-got:
	case <-ctx.Done():
		cancel()
		<-got
		return nil, nil, ctx.Err()
	}
	switch {
	case a.err == io.EOF && sendErr != nil:
		a.err = sendErr
	case a.err == io.EOF:
		a.err = errors.New("attach: the stream ended before it started")
	case a.err == nil && a.m.GetSocket() == nil:
		a.err = errors.New("attach: sockd's first message names no socket")
	}
	if a.err != nil {
		cancel()
		return nil, nil, a.err
	}
	return g, a.m, nil
}

// notifyLocked wakes whoever waits for a change. The caller holds mu.
func (s *session) notifyLocked() {
	signal(s.wake)
	signal(s.space)
}

// endReceive ends the receive side: readers get err (io.EOF: the peer
// closed) once they have taken what is queued.
func (s *session) endReceive(err error) {
	if s.in.end(err) {
		s.mu.Lock()
		s.notifyLocked()
		s.mu.Unlock()
	}
}

// finish ends the session: err (nil: in order) is what later calls report.
// The send side ends first: a reader that has seen err (a reset, say) and
// then writes must get an error, not have its bytes queued for nobody.
func (s *session) finish(err error) {
	s.mu.Lock()
	if s.sendErr == nil {
		s.sendErr = err
		if err == nil {
			s.sendErr = net.ErrClosed
		}
	}
	s.finalErr = err
	s.notifyLocked()
	s.mu.Unlock()
	if err != nil {
		s.endReceive(err)
	} else {
		s.endReceive(io.EOF)
	}
}

// abort gives the session up: its stream is cancelled and nothing is tried
// again.
func (s *session) abort() {
	s.mu.Lock()
	s.aborted = true
	if s.gen != nil {
		s.gen.cancel()
	}
	s.notifyLocked()
	s.mu.Unlock()
	s.abortStop()
}

func (s *session) isAborted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.aborted
}

// receive waits for the next message, honouring the read deadline and Close.
func (s *session) receive(op string) (*sockdv1.AttachResponse, error) {
	for {
		select {
		case <-s.closing:
			return nil, s.opError(op, net.ErrClosed)
		case <-s.rd.done():
			return nil, s.opError(op, os.ErrDeadlineExceeded)
		default:
		}
		m, ok, done, err := s.in.take()
		switch {
		case ok:
			return m, nil
		case done && err == io.EOF:
			return nil, io.EOF
		case done:
			return nil, s.opError(op, FromError(err))
		}
		select {
		case <-s.in.ready:
		case <-s.rd.done():
		case <-s.closing:
		}
	}
}

// took records that readers have returned the received bytes before off
// (TCP): sockd hears of it, and may forget them, once a good part of its
// retained bytes is taken or the reader is about to wait.
func (s *session) took(off int64, idle bool) {
	if !s.offs {
		return
	}
	want := s.ackWant.Load()
	if off <= want || (off-want < s.every && !idle) {
		return
	}
	s.ackWant.Store(off)
	signal(s.wake)
}

// queue adds an item to send, waiting while the window is full (TCP: what
// sockd has not yet written counts), honouring the write deadline and
// Close. The caller holds the write turn.
func (s *session) queue(op string, it outItem) error {
	for {
		s.mu.Lock()
		if err := s.sendBlockedLocked(); err != nil {
			s.mu.Unlock()
			recycle(it)
			return s.opError(op, err)
		}
		if s.q.bytes == 0 || (s.q.bytes+len(it.data) <= s.window && s.unsentLocked()+len(it.data) <= s.ahead) {
			if s.offs {
				it.off = s.q.end
			}
			s.q.push(it)
			s.notifyLocked()
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
		select {
		case <-s.space:
		case <-s.wd.done():
			recycle(it)
			return s.opError(op, os.ErrDeadlineExceeded)
		case <-s.closing:
			recycle(it)
			return s.opError(op, net.ErrClosed)
		}
	}
}

// unsentLocked is how many queued bytes the stream has not sent yet. With
// offsets the queue also holds what was sent and not yet written, a window
// of megabytes; bounding the unsent part as well (ahead, as small as the
// queue without offsets) keeps Write only a little ahead of the stream, so
// gRPC frames the bytes while Write's copy of them is still in the cache.
// Between processes, a Write allowed the whole window ahead moved a
// 64 KiB Attach about a tenth slower (docs/benchmarks.md).
func (s *session) unsentLocked() int {
	if s.offs {
		return int(s.q.end - s.q.sent)
	}
	return s.q.bytes
}

var errWriteAfterCloseWrite = errors.New("write after CloseWrite")

// sendBlockedLocked says why nothing more can be queued, if so.
func (s *session) sendBlockedLocked() error {
	switch {
	case s.sendErr != nil:
		return FromError(s.sendErr)
	case s.wantClose || s.wantDetach:
		return net.ErrClosed
	case s.wantCloseWrite:
		return errWriteAfterCloseWrite
	}
	return nil
}

// turn takes the read or write turn, giving up at the deadline or Close.
func (s *session) turn(op string, sem chan struct{}, d *deadline) (func(), error) {
	select {
	case <-s.closing:
		return nil, s.opError(op, net.ErrClosed)
	case <-d.done():
		return nil, s.opError(op, os.ErrDeadlineExceeded)
	default:
	}
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-d.done():
		return nil, s.opError(op, os.ErrDeadlineExceeded)
	case <-s.closing:
		return nil, s.opError(op, net.ErrClosed)
	}
}

// closeWrite shuts down the socket's write side (the peer reads EOF) after
// what was written so far.
func (s *session) closeWrite() error {
	release, err := s.turn("close", s.writeTurn, newDeadline())
	if err != nil {
		return err
	}
	defer release()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.sendBlockedLocked(); err != nil && err != errWriteAfterCloseWrite {
		return s.opError("close", err)
	}
	s.wantCloseWrite = true
	s.notifyLocked()
	return nil
}

// close ends the session and closes the remote socket: queued data is sent
// first (for at most CloseLinger), then an in-stream close makes sockd
// close(2) the socket after everything before it.
func (s *session) close() error {
	s.closeOnce.Do(func() {
		s.end(func() { s.wantClose = true })
		s.mu.Lock()
		clean := s.closeSent && s.finalErr == nil
		s.mu.Unlock()
		if !clean {
			// The session could not close the socket: do it directly.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := s.c.CloseSocket(ctx, s.id); err != nil && !errors.Is(err, ErrNotFound) {
				s.closeErr = s.opError("close", err)
			}
		}
		s.c.forget(s.id)
	})
	return s.closeErr
}

// detach ends the session and leaves the socket open, once what was written
// is in the socket (for at most CloseLinger).
func (s *session) detach() error {
	s.closeOnce.Do(func() {
		s.end(func() { s.wantDetach = true })
		s.mu.Lock()
		err := s.finalErr
		s.mu.Unlock()
		if err != nil && !errors.Is(err, io.EOF) {
			s.closeErr = s.opError("detach", FromError(err))
		}
		s.savePositions()
	})
	return s.closeErr
}

// end asks the session to end (want sets what it should do last) and waits
// for it, at most CloseLinger before giving it up.
func (s *session) end(want func()) {
	close(s.closing)
	s.mu.Lock()
	want()
	s.notifyLocked()
	s.mu.Unlock()
	linger := time.NewTimer(CloseLinger)
	defer linger.Stop()
	select {
	case <-s.done:
	case <-linger.C:
		s.abort()
		<-s.done
		s.mu.Lock()
		if s.finalErr == nil {
			s.finalErr = errors.New("gave up after CloseLinger")
		}
		s.mu.Unlock()
	}
	s.abortStop()
}

// savePositions leaves the client's position in the socket's streams where
// the session stood, for its later calls (TCP with offsets).
func (s *session) savePositions() {
	if !s.offs {
		return
	}
	p := s.c.learn(s.sock)
	recv, written := s.offsets()
	p.recvMu.Lock()
	p.recv = recv
	p.recvMu.Unlock()
	p.sendMu.Lock()
	p.send = written
	p.sendMu.Unlock()
}

// offsets are the session's stream positions: the offset after the bytes
// readers have taken, and after the bytes sockd has written (TCP with
// offsets; 0 otherwise).
func (s *session) offsets() (recv, written int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.consumed.Load(), s.q.written
}

func (s *session) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "sockd", Source: addrOf(s.sock.GetProtocol(), s.sock.GetLocalAddress()), Addr: addrOf(s.sock.GetProtocol(), s.sock.GetRemoteAddress()), Err: err}
}

func (s *session) setDeadline(t time.Time) error {
	s.rd.set(t)
	s.wd.set(t)
	return nil
}

// addrOf is the address of a remote socket (on the daemon's host).
func addrOf(p sockdv1.Protocol, hostport string) net.Addr {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return nil
	}
	if p == sockdv1.Protocol_PROTOCOL_UDP {
		return net.UDPAddrFromAddrPort(ap)
	}
	return net.TCPAddrFromAddrPort(ap)
}
