package client

import (
	"context"
	"io"
	"net"
	"time"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// Conn is a connected remote TCP socket as a net.Conn. Reads and writes go
// over one Attach stream, which is resumed where it broke if its connection
// to sockd fails (with a sockd that keeps offsets); deadlines work as for a
// local connection; Close closes the remote socket after the data already
// written, Detach leaves it open.
type Conn struct {
	s    *session
	rbuf []byte // the rest of the last message; guarded by the read turn
}

var (
	_ net.Conn      = (*Conn)(nil)
	_ io.ReaderFrom = (*Conn)(nil)
	_ io.WriterTo   = (*Conn)(nil)
)

// DialTCP creates a TCP socket on the daemon, connects it to address (a
// host:port as the daemon sees it) and returns it as a net.Conn.
func (c *Client) DialTCP(ctx context.Context, address string) (*Conn, error) {
	sock, err := c.Create(ctx, CreateOptions{Connect: address})
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "sockd", Err: err}
	}
	conn, err := c.Conn(ctx, sock.GetId())
	if err != nil {
		_, _ = c.CloseSocket(context.Background(), sock.GetId())
		return nil, err
	}
	return conn, nil
}

// Conn attaches to an existing connected TCP socket. Closing the Conn closes
// the socket.
func (c *Client) Conn(ctx context.Context, id string, opts ...AttachOption) (*Conn, error) {
	s, err := c.attach(ctx, id, opts)
	if err != nil {
		return nil, &net.OpError{Op: "attach", Net: "sockd", Err: err}
	}
	return &Conn{s: s}, nil
}

// Socket is the remote socket as it was when the Conn was attached.
func (c *Conn) Socket() *sockdv1.Socket { return c.s.sock }

// Read reads what the peer sent; io.EOF once it has closed. The bytes of
// earlier Reads count as taken: a stream resumed by another process after
// this one died (FromRecvOffset) can start after them.
func (c *Conn) Read(p []byte) (int, error) {
	release, err := c.s.turn("read", c.s.readTurn, c.s.rd)
	if err != nil {
		return 0, err
	}
	defer release()
	if len(p) == 0 {
		return 0, nil
	}
	if err := c.fill(); err != nil {
		return 0, err
	}
	n := copy(p, c.rbuf)
	c.rbuf = c.rbuf[n:]
	c.s.consumed.Add(int64(n))
	return n, nil
}

// fill makes rbuf hold bytes, acknowledging what was returned before. The
// caller holds the read turn.
func (c *Conn) fill() error {
	c.s.took(c.s.consumed.Load(), len(c.rbuf) == 0 && c.s.in.empty())
	for len(c.rbuf) == 0 {
		m, err := c.s.receive("read")
		if err != nil {
			return err
		}
		c.rbuf = m.GetData()
	}
	return nil
}

// WriteTo writes what the peer sends to w until the peer closes (io.Copy
// uses it): bytes count as taken once w has them.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	release, err := c.s.turn("read", c.s.readTurn, c.s.rd)
	if err != nil {
		return 0, err
	}
	defer release()
	var total int64
	for {
		if err := c.fill(); err != nil {
			if err == io.EOF {
				err = nil
			}
			return total, err
		}
		n, err := w.Write(c.rbuf)
		c.rbuf = c.rbuf[n:]
		c.s.consumed.Add(int64(n))
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
}

// Write sends p to the peer. It returns once p is queued for sockd; at the
// write deadline it returns how much was queued and a timeout error.
func (c *Conn) Write(p []byte) (int, error) {
	release, err := c.s.turn("write", c.s.writeTurn, c.s.wd)
	if err != nil {
		return 0, err
	}
	defer release()
	n := 0
	for len(p) > 0 {
		size := min(len(p), c.s.chunk)
		chunk, pooled := newChunk(size)
		copy(chunk, p)
		if err := c.s.queue("write", outItem{data: chunk, pooled: pooled}); err != nil {
			return n, err
		}
		n += size
		p = p[size:]
	}
	return n, nil
}

// ReadFrom sends what r yields until its end (io.Copy uses it), reading
// straight into the buffers that are sent.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	release, err := c.s.turn("write", c.s.writeTurn, c.s.wd)
	if err != nil {
		return 0, err
	}
	defer release()
	var total int64
	for {
		chunk, pooled := newChunk(c.s.rchunk)
		n, rerr := r.Read(chunk)
		if n > 0 && n <= len(chunk)/4 {
			// A short read: keep its bytes, not a whole buffer.
			small, smallPooled := newChunk(n)
			copy(small, chunk[:n])
			recycle(outItem{data: chunk, pooled: pooled})
			chunk, pooled = small, smallPooled
		}
		if n > 0 {
			if err := c.s.queue("write", outItem{data: chunk[:n], pooled: pooled}); err != nil {
				return total, err
			}
			total += int64(n)
		} else {
			recycle(outItem{data: chunk, pooled: pooled})
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// CloseWrite shuts down the writing side (the peer reads EOF) after what was
// written so far.
func (c *Conn) CloseWrite() error { return c.s.closeWrite() }

// Close closes the remote socket after the data already written.
func (c *Conn) Close() error { return c.s.close() }

// Detach ends the Conn and leaves the remote socket open, once the data
// already written is in it (as a cancelled Attach does).
func (c *Conn) Detach() error { return c.s.detach() }

// Offsets are where the Conn stands in the socket's two byte streams: the
// receive offset after the bytes Read (or WriteTo) returned, and the send
// offset up to which sockd has written what Write took. (With a sockd that
// keeps no offsets, both are 0.)
func (c *Conn) Offsets() (received, written int64) { return c.s.offsets() }

// LocalAddr is the remote socket's local address (on the daemon's host).
func (c *Conn) LocalAddr() net.Addr {
	return addrOf(c.s.sock.GetProtocol(), c.s.sock.GetLocalAddress())
}

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr {
	return addrOf(c.s.sock.GetProtocol(), c.s.sock.GetRemoteAddress())
}

func (c *Conn) SetDeadline(t time.Time) error      { return c.s.setDeadline(t) }
func (c *Conn) SetReadDeadline(t time.Time) error  { c.s.rd.set(t); return nil }
func (c *Conn) SetWriteDeadline(t time.Time) error { c.s.wd.set(t); return nil }
