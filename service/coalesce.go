package service

import (
	"context"
	"sync"

	"google.golang.org/grpc/mem"

	"github.com/sockd/sockd/sockmgr"
)

// coalescer decouples receiving an Attach stream from writing to the
// socket. The receiver queues the messages' bytes as they arrive — views of
// gRPC's own receive buffers, not copies (codec.AttachIn) — and the writer
// sends everything queued with one writev(2) while the next messages arrive.
// So receiving and writing overlap, no byte is copied on the way, and the
// small messages that arrive during one write go out together in the next.
// Order is kept.
type coalescer struct {
	sock  *sockmgr.Socket
	limit int // queued bytes at which the receiver waits for the writer

	mu      sync.Mutex
	cond    *sync.Cond
	queue   mem.BufferSlice // received, not yet handed to the writer
	queued  int             // bytes in queue
	spare   mem.BufferSlice // the writer's emptied slice, for the next queue
	writing bool
	err     error // the writer's failure: everything stops
	stopped bool
	done    chan struct{}
}

func newCoalescer(ctx context.Context, sock *sockmgr.Socket, limit int) *coalescer {
	c := &coalescer{sock: sock, limit: limit, done: make(chan struct{})}
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
	c.queue = append(c.queue, data...)
	c.queued += data.Len()
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
	c.queue, c.queued = nil, 0
	c.mu.Unlock()
}

func (c *coalescer) write(ctx context.Context) {
	defer close(c.done)
	var vec [][]byte
	for {
		c.mu.Lock()
		for c.queued == 0 && !c.stopped {
			c.cond.Wait()
		}
		if c.stopped {
			c.mu.Unlock()
			return
		}
		out := c.queue
		c.queue, c.queued, c.spare = c.spare[:0], 0, nil
		c.writing = true
		c.cond.Broadcast()
		c.mu.Unlock()

		vec = vec[:0]
		for _, b := range out {
			vec = append(vec, b.ReadOnlyData())
		}
		_, err := c.sock.SendBuffers(ctx, vec, sockmgr.SendOptions{All: true, Timeout: &blocking})
		out.Free()
		clear(vec) // no references to freed buffers

		c.mu.Lock()
		c.writing = false
		clear(out)
		c.spare = out[:0]
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
