package service

import (
	"context"
	"sync"

	"google.golang.org/grpc/mem"

	"github.com/sockd/sockd/codec"
	"github.com/sockd/sockd/sockmgr"
)

// coalescer decouples receiving an Attach stream from writing to the
// socket. The receiver queues the messages' bytes as they arrive — views of
// gRPC's own receive buffers, not copies (codec.AttachIn) — and the writer
// sends everything queued with one writev(2) while the next messages arrive.
// So receiving and writing overlap, no byte is copied on the way, and the
// small messages that arrive during one write go out together in the next.
// Order is kept.
//
// On a connected UDP socket (datagrams) each message stays one datagram and
// the writer sends all queued ones with one sendmmsg(2).
type coalescer struct {
	sock      *sockmgr.Socket
	limit     int  // queued bytes at which the receiver waits for the writer
	datagrams bool // keep message boundaries (UDP)

	mu      sync.Mutex
	cond    *sync.Cond
	queue   mem.BufferSlice   // received, not yet handed to the writer
	dgrams  []mem.BufferSlice // the same, one entry per datagram (datagrams mode)
	queued  int               // bytes queued
	spare   mem.BufferSlice   // the writer's emptied slice, for the next queue
	writing bool
	err     error // the writer's failure: everything stops
	stopped bool
	done    chan struct{}
	// onWritten, if set, is told the socket's write offset after each
	// write (set before the first add).
	onWritten func(offset int64)
	// offset, if set, is the client's stream offset of the next byte to
	// write (set before the first add): each write says where its bytes
	// start, and sockmgr skips what was written already (by a stream the
	// client had before this one, still writing).
	offset *int64
}

func newCoalescer(ctx context.Context, sock *sockmgr.Socket, limit int, datagrams bool) *coalescer {
	c := &coalescer{sock: sock, limit: limit, datagrams: datagrams, done: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	go c.write(ctx)
	stop := context.AfterFunc(ctx, c.stop)
	go func() { <-c.done; stop() }()
	return c
}

// add queues bytes (taking over the references), waiting while too much is
// queued already.
func (c *coalescer) add(data mem.BufferSlice) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.err == nil && !c.stopped && c.queued >= c.limit {
		c.cond.Wait()
	}
	if c.err != nil || c.stopped {
		data.Free()
		return c.failure()
	}
	if c.datagrams {
		// data's backing array is the receiver's, reused for the next
		// message: keep a copy of the (small) slice of references.
		c.dgrams = append(c.dgrams, append(mem.BufferSlice(nil), data...))
	} else {
		c.queue = append(c.queue, data...)
	}
	c.queued += data.Len() + 1 // an empty datagram counts too
	c.cond.Broadcast()
	return nil
}

// flush waits until everything queued is written.
func (c *coalescer) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.err == nil && !c.stopped && (c.queued > 0 || c.writing) {
		c.cond.Wait()
	}
	if c.queued > 0 || c.writing {
		return c.failure()
	}
	return c.err
}

func (c *coalescer) failure() error {
	if c.err != nil {
		return c.err
	}
	return context.Canceled
}

func (c *coalescer) stop() {
	c.mu.Lock()
	c.stopped = true
	c.cond.Broadcast()
	c.mu.Unlock()
}

// close stops the writer and releases what it did not write.
func (c *coalescer) close() {
	c.stop()
	<-c.done
	c.mu.Lock()
	c.queue.Free()
	for _, d := range c.dgrams {
		d.Free()
	}
	c.queue, c.dgrams, c.queued = nil, nil, 0
	c.mu.Unlock()
}

func (c *coalescer) write(ctx context.Context) {
	defer close(c.done)
	var vec [][]byte
	var spareDgrams []mem.BufferSlice
	for {
		c.mu.Lock()
		for c.queued == 0 && !c.stopped {
			c.cond.Wait()
		}
		if c.stopped {
			c.mu.Unlock()
			return
		}
		out, dgrams := c.queue, c.dgrams
		c.queue, c.dgrams, c.queued, c.spare = c.spare[:0], spareDgrams[:0], 0, nil
		c.writing = true
		c.cond.Broadcast()
		c.mu.Unlock()

		vec = vec[:0]
		var err error
		if c.datagrams {
			var copies []*[]byte
			for _, d := range dgrams {
				switch len(d) {
				case 0:
					vec = append(vec, nil)
				case 1:
					vec = append(vec, d[0].ReadOnlyData())
				default: // a datagram across buffers: make it contiguous
					b := codec.BufferPool().Get(d.Len())
					d.CopyTo(*b)
					copies = append(copies, b)
					vec = append(vec, *b)
				}
			}
			_, err = c.sock.SendDatagrams(ctx, vec, sockmgr.SendOptions{Timeout: &blocking})
			for _, b := range copies {
				codec.BufferPool().Put(b)
			}
			for _, d := range dgrams {
				d.Free()
			}
		} else {
			for _, b := range out {
				vec = append(vec, b.ReadOnlyData())
			}
			err = c.writePieces(ctx, vec)
			out.Free()
		}
		clear(vec) // no references to freed buffers

		c.mu.Lock()
		c.writing = false
		clear(out)
		c.spare = out[:0]
		clear(dgrams)
		spareDgrams = dgrams[:0]
		if err != nil {
			c.err = toStatus(ctx, err)
		}
		c.cond.Broadcast()
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// writePiece is the most bytes of a batch handed to the kernel before the
// client hears how far the socket's write offset has got: a batch can be
// megabytes into a peer that reads at its own pace, and a client that waits
// for the report of the whole batch stops sending meanwhile.
const writePiece = 512 << 10

// writePieces writes vec in order, in pieces of at most writePiece bytes
// (at least one buffer), and reports the write offset after each.
func (c *coalescer) writePieces(ctx context.Context, vec [][]byte) error {
	for len(vec) > 0 {
		n, size := 0, 0
		for n < len(vec) && (n == 0 || size+len(vec[n]) <= writePiece) {
			size += len(vec[n])
			n++
		}
		opts := sockmgr.SendOptions{All: true, Timeout: &blocking, Offset: c.offset}
		if _, err := c.sock.SendBuffers(ctx, vec[:n], opts); err != nil {
			return err
		}
		if c.offset != nil {
			*c.offset += int64(size)
		}
		if c.onWritten != nil {
			c.onWritten(int64(c.sock.BytesSent()))
		}
		vec = vec[n:]
	}
	return nil
}
