package client

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/sockd/sockd/codec"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// CloseLinger bounds how long Close of a Conn or PacketConn waits for data
// already written to reach sockd before it closes the socket regardless.
var CloseLinger = 10 * time.Second

// session is one Attach stream with the machinery that net.Conn and
// net.PacketConn need on top of it: a pump that receives into a queue, a
// writer that sends from a queue (so that a Write can give up at its
// deadline without killing the stream), deadlines, and an orderly close.
type session struct {
	c      *Client
	sock   *sockdv1.Socket // as it was when attached
	stream sockdv1.SocketService_AttachClient
	cancel context.CancelFunc

	in       chan *sockdv1.AttachResponse // closed by the pump when the stream ends
	inErr    error                        // why the stream ended; set before in is closed
	out      chan *sockdv1.AttachRequest  // to the writer; a nil message means CloseWrite
	writeErr error                        // why the writer stopped; set before writerDone is closed

	writerDone chan struct{}
	pumpDone   chan struct{}
	flush      chan struct{} // closed by Close: send what is queued, then close the socket
	closed     chan struct{}
	closeOnce  sync.Once
	closeErr   error

	readTurn  chan struct{}
	writeTurn chan struct{}
	rd, wd    *deadline
}

// attach opens an Attach stream on a socket and starts its pump and writer.
func (c *Client) attach(ctx context.Context, id string) (*session, error) {
	sctx, cancel := context.WithCancel(context.Background())
	stream, err := c.api.Attach(sctx, grpc.ForceCodecV2(codec.New()))
	if err != nil {
		cancel()
		return nil, FromError(err)
	}
	if err := stream.Send(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Open{Open: &sockdv1.AttachOpen{Id: id}}}); err != nil {
		cancel()
		return nil, FromError(err)
	}
	first := make(chan struct{})
	var resp *sockdv1.AttachResponse
	go func() {
		resp, err = stream.Recv()
		close(first)
	}()
	select {
	case <-first:
	case <-ctx.Done():
		cancel()
		<-first
		return nil, ctx.Err()
	}
	if err != nil {
		cancel()
		return nil, FromError(err)
	}
	s := &session{
		c: c, sock: resp.GetSocket(), stream: stream, cancel: cancel,
		in: make(chan *sockdv1.AttachResponse, 8), out: make(chan *sockdv1.AttachRequest, 8),
		writerDone: make(chan struct{}), pumpDone: make(chan struct{}),
		flush: make(chan struct{}), closed: make(chan struct{}),
		readTurn: make(chan struct{}, 1), writeTurn: make(chan struct{}, 1),
		rd: newDeadline(), wd: newDeadline(),
	}
	go s.pump()
	go s.writer()
	return s, nil
}

func (s *session) pump() {
	defer close(s.pumpDone)
	for {
		m, err := s.stream.Recv()
		if err != nil {
			s.inErr = err
			close(s.in)
			return
		}
		select {
		case s.in <- m:
		case <-s.closed: // closing: keep draining so that the server is never stuck sending
		}
	}
}

func (s *session) writer() {
	defer close(s.writerDone)
	halfClosed := false
	send := func(m *sockdv1.AttachRequest) error {
		if m == nil {
			halfClosed = true
			return s.stream.CloseSend()
		}
		if halfClosed {
			return errWriteAfterCloseWrite
		}
		return s.stream.Send(m)
	}
	for {
		select {
		case m := <-s.out:
			if err := send(m); err != nil {
				s.writeErr = err
				return
			}
		case <-s.flush:
			for {
				select {
				case m := <-s.out:
					if err := send(m); err != nil {
						s.writeErr = err
						return
					}
					continue
				default:
				}
				break
			}
			if !halfClosed {
				s.writeErr = s.stream.Send(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Close{Close: &sockdv1.AttachClose{}}})
			}
			return
		}
	}
}

var errWriteAfterCloseWrite = errors.New("write after CloseWrite")

// receive waits for the next message, honouring the read deadline and Close.
func (s *session) receive(op string) (*sockdv1.AttachResponse, error) {
	select {
	case <-s.closed:
		return nil, s.opError(op, net.ErrClosed)
	case <-s.rd.done():
		return nil, s.opError(op, os.ErrDeadlineExceeded)
	default:
	}
	select {
	case m, ok := <-s.in:
		if !ok {
			return nil, s.streamEnd(op)
		}
		return m, nil
	case <-s.rd.done():
		return nil, s.opError(op, os.ErrDeadlineExceeded)
	case <-s.closed:
		return nil, s.opError(op, net.ErrClosed)
	}
}

// streamEnd is what a read sees once the stream has ended: io.EOF when the
// peer closed, the stream's error otherwise.
func (s *session) streamEnd(op string) error {
	if s.inErr == io.EOF {
		return io.EOF
	}
	return s.opError(op, FromError(s.inErr))
}

// send queues a message for the writer, honouring the write deadline and
// Close. The caller holds the write turn.
func (s *session) send(op string, m *sockdv1.AttachRequest) error {
	select {
	case s.out <- m:
		return nil
	case <-s.wd.done():
		return s.opError(op, os.ErrDeadlineExceeded)
	case <-s.closed:
		return s.opError(op, net.ErrClosed)
	case <-s.writerDone:
		return s.writerError(op)
	}
}

func (s *session) writerError(op string) error {
	if s.writeErr == errWriteAfterCloseWrite {
		return s.opError(op, s.writeErr)
	}
	// A failed Send (io.EOF) means the stream ended: its reason is what the
	// pump received.
	<-s.pumpDone
	if s.inErr != nil && s.inErr != io.EOF {
		return s.opError(op, FromError(s.inErr))
	}
	return s.opError(op, net.ErrClosed)
}

// turn takes the read or write turn, giving up at the deadline or Close.
func (s *session) turn(op string, sem chan struct{}, d *deadline) (func(), error) {
	select {
	case <-s.closed:
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
	case <-s.closed:
		return nil, s.opError(op, net.ErrClosed)
	}
}

// closeWrite sends what is queued, then half-closes the stream: sockd shuts
// down the socket's write side.
func (s *session) closeWrite() error {
	release, err := s.turn("close", s.writeTurn, newDeadline())
	if err != nil {
		return err
	}
	defer release()
	select {
	case s.out <- nil:
		return nil
	case <-s.writerDone:
		return s.writerError("close")
	case <-s.closed:
		return s.opError("close", net.ErrClosed)
	}
}

// close ends the session and closes the remote socket: queued data is sent
// first (for at most CloseLinger), then an in-stream close makes sockd
// close(2) the socket after everything before it.
func (s *session) close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		// Writers see closed and leave; holding their turn keeps new ones out
		// while the queue is flushed.
		s.writeTurn <- struct{}{}
		close(s.flush)
		linger := time.NewTimer(CloseLinger)
		defer linger.Stop()
		clean := false
		select {
		case <-s.writerDone:
			if s.writeErr == nil {
				select {
				case <-s.pumpDone:
					clean = true
				case <-linger.C:
				}
			}
		case <-linger.C:
		}
		s.cancel()
		<-s.writerDone
		<-s.pumpDone
		if !clean {
			// The stream could not close the socket: do it directly.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := s.c.CloseSocket(ctx, s.sock.GetId()); err != nil {
				var e *Error
				if !errors.As(err, &e) || e.Code != codes.NotFound {
					s.closeErr = s.opError("close", err)
				}
			}
		}
	})
	return s.closeErr
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
