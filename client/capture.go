package client

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"sync"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// SetCapture turns a socket's capture on (in a ring of ringBytes; 0: the
// daemon's default) or off. Turning it off keeps what the ring holds, and
// is made again when its answer is lost; turning it on is not, for a second
// start begins a new ring.
func (c *Client) SetCapture(ctx context.Context, id string, enabled bool, ringBytes int64) (*sockdv1.Socket, error) {
	req := &sockdv1.SetCaptureRequest{Id: id, Enabled: enabled, RingBytes: ringBytes}
	if enabled {
		s, err := c.api.SetCapture(ctx, req)
		return s, FromError(err)
	}
	return idempotent(c, ctx, func(ctx context.Context, _ bool) (*sockdv1.Socket, error) {
		return c.api.SetCapture(ctx, req)
	})
}

// ReadCaptureOptions select what ReadCapture exports.
type ReadCaptureOptions struct {
	IDs    []string // sockets, by id or name
	Proxy  string   // every socket of this proxy (id or name): both legs of each connection
	Follow bool     // after what the rings hold, stream frames as they are captured
}

// ReadCapture exports the rings of the selected sockets (with neither IDs
// nor Proxy: every capture of the caller's) as one pcapng stream, which
// Wireshark, tshark and package capture/textdump read. Without Follow it
// ends with what the rings held; with it, it goes on until ctx ends or the
// reader is closed.
//
// The stream delivers whole pcapng blocks only: one that ends early (a
// followed capture cancelled, a connection lost) ends at a block boundary,
// so what was read is a valid file. sockd's answer to the selection (an
// unknown socket is SOCKET_NOT_FOUND, capture turned off CAPTURE_DISABLED)
// is the first Read's error. The call is not made again when it breaks:
// read it again from the start.
func (c *Client) ReadCapture(ctx context.Context, o ReadCaptureOptions) (io.ReadCloser, error) {
	sctx, cancel := context.WithCancel(ctx)
	stream, err := c.api.ReadCapture(sctx, &sockdv1.ReadCaptureRequest{Ids: o.IDs, ProxyId: o.Proxy, Follow: o.Follow})
	if err != nil {
		cancel()
		return nil, FromError(err)
	}
	return &captureReader{ctx: ctx, stream: stream, cancel: cancel}, nil
}

// captureReader reads a ReadCapture stream, holding back the bytes of a
// block until the whole block has come.
type captureReader struct {
	ctx    context.Context // the caller's
	stream grpc.ServerStreamingClient[httpbody.HttpBody]
	cancel context.CancelFunc

	mu     sync.Mutex
	blocks pcapngBlocks
	ready  []byte // whole blocks, not yet read
	err    error  // how the stream ended; returned once ready is empty
	closed bool
}

func (r *captureReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.ready) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.closed {
			return 0, errReadCaptureClosed
		}
		msg, err := r.stream.Recv()
		switch {
		case err == io.EOF:
			// The export is complete: anything still held back is
			// sockd's, whole or not, for the reader to judge.
			r.ready, r.err = r.blocks.rest(), io.EOF
		case err != nil:
			// Cut short: a partial block is dropped.
			r.err = finalError(r.ctx, err)
			r.cancel()
		default:
			r.ready = r.blocks.add(msg.GetData())
		}
	}
	n := copy(p, r.ready)
	r.ready = r.ready[n:]
	return n, nil
}

// errReadCaptureClosed is a Read after Close.
var errReadCaptureClosed = errors.New("client: read of a closed capture stream")

// Close ends the stream (a followed capture stops).
func (r *captureReader) Close() error {
	r.cancel()
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	return nil
}

// pcapngBlocks cuts a pcapng byte stream into whole blocks. Every block
// says its length in its second word, in the byte order its section's
// header declares (the byte-order magic in the header's third word). A
// stream that is not pcapng passes through as it comes.
type pcapngBlocks struct {
	held   []byte // the start of a block whose end has not come
	order  binary.ByteOrder
	opaque bool // not pcapng as far as can be told: no cutting
}

const (
	pcapngSectionHeader = 0x0A0D0D0A
	pcapngByteOrder     = 0x1A2B3C4D
)

// add takes the next bytes of the stream and returns the whole blocks that
// are there now.
func (b *pcapngBlocks) add(data []byte) []byte {
	if b.opaque {
		return data
	}
	b.held = append(b.held, data...)
	end := 0
	for {
		n, ok := b.blockLen(b.held[end:])
		if !ok || end+n > len(b.held) {
			break
		}
		end += n
	}
	if b.opaque {
		out := b.held
		b.held = nil
		return out
	}
	out := b.held[:end:end]
	b.held = append([]byte(nil), b.held[end:]...)
	return out
}

// blockLen is the length of the block that p starts with, if p holds enough
// to say (false with opaque set: the bytes are no pcapng block).
func (b *pcapngBlocks) blockLen(p []byte) (int, bool) {
	if len(p) < 4 {
		return 0, false
	}
	if binary.LittleEndian.Uint32(p) == pcapngSectionHeader {
		// A section header (the same bytes in either order) sets the
		// byte order of what follows.
		if len(p) < 12 {
			return 0, false
		}
		switch {
		case binary.LittleEndian.Uint32(p[8:]) == pcapngByteOrder:
			b.order = binary.LittleEndian
		case binary.BigEndian.Uint32(p[8:]) == pcapngByteOrder:
			b.order = binary.BigEndian
		default:
			b.opaque = true
			return 0, false
		}
	} else if b.order == nil {
		b.opaque = true // not a section header first: not pcapng
		return 0, false
	}
	if len(p) < 8 {
		return 0, false
	}
	n := b.order.Uint32(p[4:])
	if n < 12 || n%4 != 0 || n > 1<<30 {
		b.opaque = true
		return 0, false
	}
	return int(n), true
}

// rest is what is held back at the end of the stream.
func (b *pcapngBlocks) rest() []byte {
	out := b.held
	b.held = nil
	return out
}
