package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sockd/sockd/codec"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// The life of a session's streams: run keeps one stream going (a pump and
// a writer on it), opens another where the last one broke on the way, and
// hands the writes to unary calls when sockd ended the stream because the
// peer closed.

// Why a writer stopped without failing.
var (
	errCloseSent  = errors.New("close sent")      // AttachClose went: sockd ends the stream
	errHalfClosed = errors.New("half-closed")     // the stream's send side is closed; receiving goes on
	errDetached   = errors.New("detached")        // what was written is in the socket
	errSendDone   = errors.New("both directions") // receiving ended and the write side is shut
)

// run is the session's supervisor; it ends the session when it returns.
func (s *session) run(g *generation) {
	defer close(s.done)
	for {
		end := s.runStream(g)
		s.mu.Lock()
		s.gen = nil
		closeSent := s.closeSent
		s.mu.Unlock()
		switch {
		case end.deliberate:
			s.finish(nil)
			return
		case end.recvErr == io.EOF && (closeSent || !s.tcp):
			// sockd closed the socket (asked to, or for another reason).
			s.finish(nil)
			return
		case end.recvErr == io.EOF:
			// The peer closed: receiving is over, writing is not.
			s.endReceive(io.EOF)
			s.finish(s.unaryLoop())
			return
		case (s.offs || !s.tcp) && lostStream(end.recvErr):
			next, err := s.resume()
			if err != nil {
				if closeSent && errors.Is(err, ErrNotFound) {
					s.finish(nil) // the close went through before the stream broke
				} else {
					s.finish(FromError(err))
				}
				return
			}
			g = next
		default:
			err := end.recvErr
			if isCanceled(err) && end.sendErr != nil && !errors.Is(end.sendErr, io.EOF) {
				err = end.sendErr // the writer failed first and ended the stream
			}
			s.finish(FromError(err))
			return
		}
	}
}

// lostStream reports whether a stream ended on the way rather than by
// sockd's answer (see lostAnswer).
func lostStream(err error) bool {
	var e *Error
	if !errors.As(FromError(err), &e) || e.fromSockd {
		return false
	}
	return e.Code == codes.Unavailable || (e.Code == codes.Internal && strings.Contains(e.Message, "RST_STREAM"))
}

func isCanceled(err error) bool {
	var e *Error
	return errors.Is(err, context.Canceled) || (errors.As(FromError(err), &e) && e.Code == codes.Canceled)
}

// streamEnd is how a stream ended.
type streamEnd struct {
	recvErr    error // what the pump's last Recv returned
	sendErr    error // why the writer stopped
	deliberate bool  // the session ended it
}

// runStream runs a stream's pump and writer until the stream is over.
func (s *session) runStream(g *generation) streamEnd {
	s.mu.Lock()
	s.gen = g
	if s.aborted {
		g.cancel()
	}
	s.mu.Unlock()
	pumped, wrote := make(chan error, 1), make(chan error, 1)
	go func() { pumped <- s.pump(g) }()
	go func() { wrote <- s.writer(g) }()
	var end streamEnd
	writing := true
	for {
		select {
		case end.recvErr = <-pumped:
			g.cancel()
			if writing {
				end.sendErr = <-wrote
			}
			end.deliberate = end.deliberate || s.isAborted()
			return end
		case end.sendErr = <-wrote:
			writing, wrote = false, nil
			switch {
			case errors.Is(end.sendErr, errCloseSent), errors.Is(end.sendErr, errHalfClosed):
				// sockd ends the stream (once it has closed the socket, or
				// when the peer closes).
			case errors.Is(end.sendErr, errDetached), errors.Is(end.sendErr, errSendDone):
				end.deliberate = true
				g.cancel()
			case !errors.Is(end.sendErr, io.EOF):
				g.cancel() // failed on this side; io.EOF: the pump gets the stream's status
			}
		}
	}
}

// pump receives the stream's messages into s.in (data, datagrams) and into
// the send queue (written).
func (s *session) pump(g *generation) error {
	for {
		m := &sockdv1.AttachResponse{}
		if err := g.stream.RecvMsg(m); err != nil {
			return err
		}
		switch msg := m.GetMsg().(type) {
		case *sockdv1.AttachResponse_Written:
			s.mu.Lock()
			if msg.Written > s.q.end {
				s.mu.Unlock()
				return fmt.Errorf("attach %s: sockd reports %d bytes written, but only %d were sent", s.id, msg.Written, s.q.end)
			}
			s.q.trim(msg.Written)
			s.notifyLocked()
			s.mu.Unlock()
			continue
		case *sockdv1.AttachResponse_Data:
			if len(msg.Data) == 0 {
				// sockd's mark of the peer's EOF: receiving is over, the
				// stream stays for what is still to send.
				if s.tcp {
					s.endReceive(io.EOF)
				}
				continue
			}
			if g.skip > 0 { // sockd resumed before where this client stands
				n := min(g.skip, int64(len(msg.Data)))
				msg.Data, g.skip = msg.Data[n:], g.skip-n
				if len(msg.Data) == 0 {
					continue
				}
			}
		case *sockdv1.AttachResponse_Datagram:
		default:
			continue
		}
		for s.in.full() && !isClosed(s.closing) {
			select {
			case <-s.in.room:
			case <-g.ctx.Done():
				return g.ctx.Err()
			case <-s.closing:
			}
		}
		if isClosed(s.closing) {
			continue // nobody reads any more: keep draining, so that sockd is never stuck sending
		}
		s.in.put(m)
		s.recvPos += int64(len(m.GetData()))
	}
}

// writer sends what the session has to send on the stream: acks first,
// then data and datagrams in order, then the end it was asked for.
func (s *session) writer(g *generation) error {
	data := &sockdv1.AttachRequest_Data{}
	msg := &sockdv1.AttachRequest{Msg: data}
	// With offsets the queue keeps every byte until sockd reports it
	// written, so it can lend them to the codec instead of having them
	// copied: bytes sockd has written have left gRPC's hands.
	lent := &codec.LentData{}
	for {
		s.mu.Lock()
		var a step
		for {
			if g.ctx.Err() != nil {
				s.mu.Unlock()
				return g.ctx.Err()
			}
			if a = s.nextLocked(g); a.kind != stepWait {
				break
			}
			s.mu.Unlock()
			select {
			case <-s.wake:
			case <-g.ctx.Done():
			}
			s.mu.Lock()
		}
		var err error
		switch a.kind {
		case stepAck:
			s.ackSent = a.off
			s.mu.Unlock()
			err = g.stream.Send(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Ack{Ack: a.off}})
		case stepData:
			s.mu.Unlock()
			lent.Data = a.data
			err = g.stream.SendMsg(lent)
			lent.Data = nil
			if err == nil {
				s.mu.Lock()
				s.q.sent += int64(len(a.data))
				s.q.trim(s.q.written)
				signal(s.space) // room ahead of the stream, and what trim freed
				s.mu.Unlock()
			}
		case stepItem:
			s.mu.Unlock()
			if s.tcp {
				data.Data = a.item.data
				err = g.stream.Send(msg)
				data.Data = nil
			} else {
				err = g.stream.Send(datagramMsg(a.item))
			}
			if err == nil {
				s.mu.Lock()
				s.q.popFront()
				s.notifyLocked()
				s.mu.Unlock()
			}
		case stepClose:
			s.closeSent = true
			s.mu.Unlock()
			if err = g.stream.Send(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Close{Close: &sockdv1.AttachClose{}}}); err == nil {
				return errCloseSent
			}
		case stepCloseWrite:
			s.mu.Unlock()
			if s.offs {
				err = s.shutdownWrite() // acks still go out on the stream
			} else {
				err = g.stream.CloseSend() // the stream's half-close is shutdown(write)
			}
			s.mu.Lock()
			if err == nil {
				s.writeShut = true
			} else if s.sendErr == nil {
				s.sendErr = err
			}
			s.notifyLocked()
			s.mu.Unlock()
			if err == nil && !s.offs {
				return errHalfClosed // nothing more can go out on this stream
			}
		case stepDetach:
			s.mu.Unlock()
			return errDetached
		case stepDone:
			s.mu.Unlock()
			return errSendDone
		}
		if err != nil {
			return err
		}
	}
}

// step is what the writer does next.
type step struct {
	kind stepKind
	off  int64   // stepAck
	data []byte  // stepData
	item outItem // stepItem
}

type stepKind int

const (
	stepWait stepKind = iota
	stepAck
	stepData
	stepItem
	stepClose
	stepCloseWrite
	stepDetach
	stepDone
)

// nextLocked decides the writer's next step on stream g. The caller holds
// mu.
func (s *session) nextLocked(g *generation) step {
	if want := s.ackWant.Load(); s.offs && want > s.ackSent && !s.in.hasEnded() {
		return step{kind: stepAck, off: want}
	}
	var allSent, allWritten bool
	if s.offs {
		if s.q.sent < s.q.end {
			d := s.q.at(s.q.sent)
			return step{kind: stepData, data: d[:min(len(d), s.rchunk)]}
		}
		allSent, allWritten = true, s.q.written == s.q.end
	} else {
		if len(s.q.items) > 0 && !s.writeShut {
			return step{kind: stepItem, item: s.q.items[0]}
		}
		allSent, allWritten = true, true
	}
	switch {
	case s.wantClose && allSent && !s.closeSent:
		return step{kind: stepClose}
	case s.wantCloseWrite && !s.writeShut && allWritten && s.tcp:
		return step{kind: stepCloseWrite}
	case s.wantDetach && allWritten && (!s.wantCloseWrite || s.writeShut || !s.tcp):
		return step{kind: stepDetach}
	case s.writeShut && s.in.hasEnded():
		return step{kind: stepDone}
	}
	return step{kind: stepWait}
}

// shutdownWrite shuts the socket's write side down by a call beside the
// stream, once sockd has written every byte before it (the stream stays
// open for acknowledgements).
func (s *session) shutdownWrite() error {
	r := s.c.retrier()
	for retried := false; ; retried = true {
		ctx, cancel := context.WithTimeout(s.abortCtx, 30*time.Second)
		_, err := s.c.api.Shutdown(ctx, &sockdv1.ShutdownRequest{Id: s.id, How: sockdv1.ShutdownHow_SHUTDOWN_HOW_WRITE})
		lost := lostAnswer(s.abortCtx, ctx, err)
		cancel()
		switch {
		case err == nil:
			return nil
		case lost && r.again(s.abortCtx):
			continue
		}
		err = FromError(err)
		if retried && errors.Is(err, ErrWrongState) {
			return nil // the lost answer's shutdown did happen
		}
		return err
	}
}

// resume opens a stream again where the session stands, while the failure
// lasts no longer than the retry budget.
func (s *session) resume() (*generation, error) {
	r := s.c.retrier()
	for {
		var recvOff, sendOff *int64
		s.mu.Lock()
		rp, wp := s.recvPos, s.q.written
		s.mu.Unlock()
		if s.offs {
			recvOff, sendOff = &rp, &wp
		}
		ctx, cancel := context.WithTimeout(s.abortCtx, 30*time.Second)
		g, first, err := s.open(ctx, recvOff, sendOff)
		cancel()
		if err == nil {
			if err := s.resumeAt(g, first, rp, wp); err != nil {
				g.cancel()
				return nil, err
			}
			return g, nil
		}
		if !lostStream(err) || !r.again(s.abortCtx) {
			return nil, err
		}
	}
}

// resumeAt lines a new stream up with where the session stands.
func (s *session) resumeAt(g *generation, first *sockdv1.AttachResponse, recvOff, sendOff int64) error {
	if !s.offs {
		return nil
	}
	if at := first.GetRecvOffset(); at > recvOff {
		return fmt.Errorf("attach %s: sockd resumed receiving at offset %d, after this client's %d: bytes between were lost", s.id, at, recvOff)
	} else {
		g.skip = recvOff - at
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if at := first.GetSendOffset(); at < sendOff || at > s.q.end {
		return fmt.Errorf("attach %s: sockd's write offset %d is outside what this client sent (%d to %d)", s.id, at, sendOff, s.q.end)
	}
	// The stream goes on from the offset it was opened at: sockd skips
	// what it already wrote of it.
	s.q.sent = sendOff
	// What the queue holds was lent to the ended stream's transport, which
	// may still be reading it; sockd may report it written (from that
	// stream's bytes) before the new stream's copy has gone out. Those
	// buffers go to the garbage collector, never back to the pool.
	s.q.disown()
	// Opening at an offset acknowledges nothing: say again what readers
	// have taken, or sockd keeps it retained and stops when it is full.
	s.ackSent = 0
	s.notifyLocked()
	return nil
}
