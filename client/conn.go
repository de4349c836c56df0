package client

import (
	"context"
	"net"
	"time"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// maxChunk is the most one Attach message carries.
const maxChunk = 64 << 10

// Conn is a connected remote TCP socket as a net.Conn. Reads and writes go
// over one Attach stream; deadlines work as for a local connection; Close
// closes the remote socket after the data already written.
type Conn struct {
	s    *session
	rbuf []byte // the rest of the last message; guarded by the read turn
}

var _ net.Conn = (*Conn)(nil)

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
func (c *Client) Conn(ctx context.Context, id string) (*Conn, error) {
	s, err := c.attach(ctx, id)
	if err != nil {
		return nil, &net.OpError{Op: "attach", Net: "sockd", Err: err}
	}
	return &Conn{s: s}, nil
}

// Socket is the remote socket as it was when the Conn was attached.
func (c *Conn) Socket() *sockdv1.Socket { return c.s.sock }

// Read reads what the peer sent; io.EOF once it has closed.
func (c *Conn) Read(p []byte) (int, error) {
	release, err := c.s.turn("read", c.s.readTurn, c.s.rd)
	if err != nil {
		return 0, err
	}
	defer release()
	if len(p) == 0 {
		return 0, nil
	}
	for len(c.rbuf) == 0 {
		m, err := c.s.receive("read")
		if err != nil {
			return 0, err
		}
		c.rbuf = m.GetData()
	}
	n := copy(p, c.rbuf)
	c.rbuf = c.rbuf[n:]
	return n, nil
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
		chunk := append([]byte(nil), p[:min(len(p), maxChunk)]...)
		if err := c.s.send("write", &sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Data{Data: chunk}}); err != nil {
			return n, err
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	return n, nil
}

// CloseWrite shuts down the writing side (the peer reads EOF) after what was
// written so far.
func (c *Conn) CloseWrite() error { return c.s.closeWrite() }

// Close closes the remote socket after the data already written.
func (c *Conn) Close() error { return c.s.close() }

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
