package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/codec"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/sockmgr"
)

// attachReadSize is how much one Attach message carries at most from the
// socket to the client.
const attachReadSize = 64 << 10

// coalesceLimit is how many bytes of an Attach stream collect while the
// previous ones are being written to the socket; ServerInfo reports it
// (limits.attach_read_ahead_bytes). A client keeps less than that in flight
// unwritten (the Go client half of it): then the stream's reader never
// waits for the socket, and the client's acks, which come behind its data,
// are read while a peer that is not reading holds a write up (the peer may
// be waiting for sockd to read it, which waits for the acks). The bytes are
// views of gRPC's receive buffers, not copies; at 8 MiB a stream into a
// stalled peer holds at most that beyond its 16 MiB flow-control window.
const coalesceLimit = 8 << 20

var blocking = sockmgr.Blocking

// Attach implements sockd.v1.SocketService: a bidirectional byte (TCP) or
// datagram (UDP) stream on a socket. The handler's goroutine copies socket →
// client; a second one copies client → socket. The stream ends when the peer
// has closed and everything it sent was delivered (TCP), or when the client
// goes away; the socket itself stays open either way.
func (s *Server) Attach(stream sockdv1.SocketService_AttachServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	open := first.GetOpen()
	if open == nil {
		return invalidField("open", ReasonInvalidArgument, "the first message must name the socket")
	}
	sock, err := s.lookup(ctx, open.GetId())
	if err != nil {
		return err
	}
	info := sock.Info()
	switch {
	case info.State == sockmgr.StateListening:
		return toStatus(ctx, &sockmgr.OpError{Op: "attach", SocketID: info.ID, Err: sockmgr.ErrWrongState})
	case info.Protocol == sockmgr.TCP && info.State != sockmgr.StateConnected:
		return toStatus(ctx, &sockmgr.OpError{Op: "attach", SocketID: info.ID, Err: sockmgr.ErrWrongState})
	case info.Protocol != sockmgr.TCP && (open.RecvOffset != nil || open.SendOffset != nil):
		return invalidField("open", ReasonInvalidArgument, "offsets are for stream (TCP) sockets")
	}
	// Offsets (TCP): where delivery starts, and how much of the client's
	// stream is already written.
	as := &attachStream{stream: stream, acked: make(chan struct{}, 1)}
	hello := &sockdv1.AttachResponse{Msg: &sockdv1.AttachResponse_Socket{Socket: s.socketProto(info)}}
	if info.Protocol == sockmgr.TCP {
		as.recvFrom = int64(info.Counters.BytesReceived)
		if open.RecvOffset != nil {
			if err := sock.CheckRecvOffset(open.GetRecvOffset()); err != nil {
				return toStatus(ctx, err)
			}
			// Not an acknowledgement: a client may resume at bytes it holds
			// but its readers have not taken, and ask for them again later.
			as.recvFrom, as.retain = open.GetRecvOffset(), true
		}
		written := int64(info.Counters.BytesSent)
		if open.SendOffset != nil {
			if open.GetSendOffset() > written {
				return toStatus(ctx, &sockmgr.OpError{Op: "attach", SocketID: info.ID,
					Err: fmt.Errorf("%w: the client sends from offset %d, but %d bytes were written", sockmgr.ErrInvalidOffset, open.GetSendOffset(), written)})
			}
			as.sendFrom = new(open.GetSendOffset())
		}
		as.delivered.Store(as.recvFrom)
		hello.RecvOffset, hello.SendOffset = as.recvFrom, written
	}
	if err := as.send(hello); err != nil {
		return err
	}
	if l := loggerFrom(ctx); l.Enabled(ctx, slog.LevelDebug) {
		l.DebugContext(ctx, "attach started", "socketId", info.ID, "protocol", info.Protocol.String(), "remote", info.RemoteAddr.String())
		defer func() {
			c := sock.Info().Counters
			l.DebugContext(ctx, "attach ended", "socketId", info.ID,
				"bytesToSocket", c.BytesSent-info.Counters.BytesSent, "bytesFromSocket", c.BytesReceived-info.Counters.BytesReceived,
				"datagramsToSocket", c.DatagramsSent-info.Counters.DatagramsSent, "datagramsFromSocket", c.DatagramsReceived-info.Counters.DatagramsReceived)
		}()
	}

	// client → socket
	var wg sync.WaitGroup
	var closed atomic.Bool
	inErr := make(chan error, 1)
	wg.Go(func() {
		err := s.attachIn(ctx, as, sock, &closed)
		if err != nil {
			cancel() // a failed write ends the whole stream
		}
		inErr <- err
	})
	// socket → client
	outErr := s.attachOut(ctx, as, sock)
	cancel()
	if closed.Load() {
		return nil // the client asked to close: the stream ends cleanly
	}
	select {
	case err := <-inErr:
		// The copy in ended by itself (it may have failed first).
		if err != nil && !isCanceled(err) {
			return err
		}
	default:
		// Still in stream.Recv: it returns when this handler does.
	}
	if outErr != nil && !isCanceled(outErr) {
		return outErr
	}
	if ctxErr := stream.Context().Err(); ctxErr != nil {
		return toStatus(stream.Context(), ctxErr)
	}
	return nil
}

// attachIn copies the client's messages to the socket until the client
// half-closes (TCP: shutdown write) or the stream ends.
func (s *Server) attachIn(ctx context.Context, as *attachStream, sock *sockmgr.Socket, closed *atomic.Bool) error {
	stream := as.stream
	var lastAddr string
	var lastTarget netip.AddrPort
	// TCP bytes go through a coalescer, which writes while the next messages
	// arrive; anything else waits until the bytes before it are written.
	var co *coalescer
	switch info := sock.Info(); {
	case info.Protocol == sockmgr.TCP:
		co = newCoalescer(ctx, sock, coalesceLimit, false)
		co.offset = as.sendFrom // sockmgr skips, at each write, what was written already
		// The client may forget what is written: tell it, without holding
		// up the writer.
		co.onWritten = as.wroteTo
		stopAcker := as.startAcker(ctx)
		defer stopAcker()
	case info.State == sockmgr.StateConnected: // UDP to its peer: batches of datagrams
		co = newCoalescer(ctx, sock, coalesceLimit, true)
	}
	if co != nil {
		defer co.close()
	}
	barrier := func() error {
		if co == nil {
			return nil
		}
		return co.flush()
	}
	var in codec.AttachIn // reused; data messages arrive as views of gRPC's buffers
	for {
		err := stream.RecvMsg(&in)
		if err == io.EOF {
			if err := barrier(); err != nil {
				return err
			}
			if sock.Protocol() == sockmgr.TCP {
				if err := sock.Shutdown(sockmgr.ShutWrite); err != nil {
					return toStatus(ctx, err)
				}
			}
			return nil
		}
		if err != nil {
			return err
		}
		if in.IsData {
			if n := in.Data.Len(); n > s.cfg.MaxBytesPerCall {
				in.Data.Free()
				return limitExceeded("max bytes per call", s.cfg.MaxBytesPerCall, n)
			}
			if co != nil {
				if err := co.add(in.Data); err != nil {
					return err
				}
				continue
			}
			data := in.Data.Materialize() // one datagram: a copy is fine
			in.Data.Free()
			if _, err := sock.Send(ctx, data, sockmgr.SendOptions{All: true, Timeout: &blocking}); err != nil {
				return toStatus(ctx, err)
			}
			continue
		}
		if ack, ok := in.Msg.GetMsg().(*sockdv1.AttachRequest_Ack); ok {
			// An acknowledgement is about the other direction: it must not
			// wait for this one's bytes to be written (the peer may be
			// waiting to be read before it reads them). Never past what
			// this stream has handed to gRPC: the retained bytes being sent
			// must stay until they are out.
			if err := sock.AckReceived(min(ack.Ack, as.delivered.Load())); err != nil {
				return toStatus(ctx, err)
			}
			select {
			case as.acked <- struct{}{}:
			default:
			}
			continue
		}
		if err := barrier(); err != nil {
			return err
		}
		switch msg := in.Msg.GetMsg().(type) {
		case *sockdv1.AttachRequest_Datagram:
			d := msg.Datagram
			if len(d.GetData()) > s.cfg.MaxBytesPerCall {
				return limitExceeded("max bytes per call", s.cfg.MaxBytesPerCall, len(d.GetData()))
			}
			if d.GetAddress() == "" {
				if _, err := sock.Send(ctx, d.GetData(), sockmgr.SendOptions{Timeout: &blocking}); err != nil {
					return toStatus(ctx, err)
				}
				continue
			}
			// Resolve and check a destination once while it stays the same.
			if d.GetAddress() != lastAddr {
				if err := checkAddress("datagram.address", d.GetAddress()); err != nil {
					return err
				}
				hp, _ := sockmgr.ParseAddress(d.GetAddress())
				target, err := s.m.ResolveTarget(ctx, sockmgr.OpSendTo, sock, hp)
				if err != nil {
					return toStatus(ctx, &sockmgr.OpError{Op: "sendto", SocketID: sock.ID(), Addr: d.GetAddress(), Err: err})
				}
				lastAddr, lastTarget = d.GetAddress(), target
			}
			if _, err := sock.SendToAddr(ctx, d.GetData(), lastTarget, sockmgr.SendOptions{Timeout: &blocking}); err != nil {
				return toStatus(ctx, err)
			}
		case *sockdv1.AttachRequest_Close:
			// Everything before this message is in the kernel: close(2)
			// sends it and then the FIN. The copy out sees the socket gone
			// and ends the stream.
			closed.Store(true)
			if err := sock.Close(); err != nil {
				return toStatus(ctx, err)
			}
			return nil
		default:
			return invalidField("msg", ReasonInvalidArgument, "after open, send data, datagram or close messages")
		}
	}
}

// attachOut copies what the socket receives to the client until EOF (TCP),
// an error, or the end of ctx.
func (s *Server) attachOut(ctx context.Context, as *attachStream, sock *sockmgr.Socket) error {
	size := min(attachReadSize, s.cfg.MaxBytesPerCall)
	buf := make([]byte, size) // reused: the codec copies out of it while sending
	data := &sockdv1.AttachResponse_Data{}
	resp := &sockdv1.AttachResponse{Msg: data}
	for {
		if sock.Protocol() == sockmgr.UDP {
			r, err := sock.RecvFrom(ctx, sockmgr.RecvOptions{MaxBytes: 65535, Timeout: &blocking})
			if err != nil {
				return toStatus(ctx, err)
			}
			d := &sockdv1.Datagram{Data: r.Data, Truncated: r.Truncated}
			if r.From.IsValid() {
				d.Address = r.From.String()
			}
			if err := as.send(&sockdv1.AttachResponse{Msg: &sockdv1.AttachResponse_Datagram{Datagram: d}}); err != nil {
				return err
			}
			continue
		}
		opts := sockmgr.RecvOptions{MaxBytes: size, Timeout: &blocking, Buf: buf}
		next := as.delivered.Load()
		if as.retain {
			opts.Offset = &next
		}
		r, err := sock.Recv(ctx, opts)
		if errors.Is(err, sockmgr.ErrRetentionFull) {
			// The client has not acknowledged enough: wait for its acks.
			select {
			case <-as.acked:
				continue
			case <-ctx.Done():
				return toStatus(ctx, ctx.Err())
			}
		}
		if err != nil {
			return toStatus(ctx, err)
		}
		if r.EOF {
			return nil
		}
		data.Data = r.Data
		if err := as.send(resp); err != nil {
			return err
		}
		as.delivered.Store(next + int64(len(r.Data)))
	}
}

func isCanceled(err error) bool {
	if errors.Is(err, context.Canceled) {
		return true
	}
	return status.Code(err) == codes.Canceled
}

// attachStream is an Attach stream's shared state: its sends (the data
// going out and the acks of written bytes come from two goroutines) and its
// offsets.
type attachStream struct {
	stream sockdv1.SocketService_AttachServer
	sendMu sync.Mutex

	// Receiving (TCP): where delivery started, whether delivered bytes are
	// retained for a client that resumes (it asked with recv_offset), and
	// the offset after the last byte handed to gRPC.
	recvFrom  int64
	retain    bool
	delivered atomic.Int64
	acked     chan struct{} // the client acknowledged bytes: retention has room

	// Sending (TCP): the client's stream offset of its first byte (nil:
	// it uses no offsets), and the written offset for the acker.
	sendFrom  *int64
	written   atomic.Int64
	wroteWake chan struct{}
}

func (as *attachStream) send(m *sockdv1.AttachResponse) error {
	as.sendMu.Lock()
	defer as.sendMu.Unlock()
	return as.stream.Send(m)
}

// wroteTo records the socket's write offset after a write (the coalescer's
// writer calls it) and wakes the acker.
func (as *attachStream) wroteTo(offset int64) {
	as.written.Store(offset)
	select {
	case as.wroteWake <- struct{}{}:
	default:
	}
}

// startAcker sends `written` messages as writes complete, on a goroutine of
// its own so that a client slow to read never holds up the writer. It
// returns a function that stops it.
func (as *attachStream) startAcker(ctx context.Context) (stop func()) {
	as.wroteWake = make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var last int64 = -1
		// One message, reused: Send has encoded it when it returns.
		report := &sockdv1.AttachResponse_Written{}
		msg := &sockdv1.AttachResponse{Msg: report}
		for {
			select {
			case <-as.wroteWake:
			case <-ctx.Done():
				return
			}
			if w := as.written.Load(); w != last {
				last = w
				report.Written = w
				if as.send(msg) != nil {
					return
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}
