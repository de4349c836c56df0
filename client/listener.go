package client

import (
	"context"
	"errors"
	"net"
	"sync"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// Listener is a listening remote TCP socket as a net.Listener: Accept
// returns the accepted remote sockets as Conns.
type Listener struct {
	c      *Client
	sock   *sockdv1.Socket
	ctx    context.Context
	cancel context.CancelFunc

	closeOnce sync.Once // a Close while another runs waits for it
}

var _ net.Listener = (*Listener)(nil)

// ListenTCP creates a TCP socket on the daemon listening on address
// ("127.0.0.1:0" lets the kernel pick the port; Addr reports it).
func (c *Client) ListenTCP(ctx context.Context, address string) (*Listener, error) {
	sock, err := c.Create(ctx, CreateOptions{Bind: address, Listen: true})
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "sockd", Err: err}
	}
	return c.Listener(sock), nil
}

// Listener wraps an existing listening socket. Closing it closes the socket.
func (c *Client) Listener(sock *sockdv1.Socket) *Listener {
	ctx, cancel := context.WithCancel(context.Background())
	return &Listener{c: c, sock: sock, ctx: ctx, cancel: cancel}
}

// Accept waits for a connection and attaches to it.
func (l *Listener) Accept() (net.Conn, error) {
	sock, err := l.c.Accept(l.ctx, l.sock.GetId(), nil, "")
	if err != nil {
		if l.ctx.Err() != nil {
			err = net.ErrClosed
		}
		return nil, &net.OpError{Op: "accept", Net: "sockd", Addr: l.Addr(), Err: err}
	}
	conn, err := l.c.Conn(l.ctx, sock.GetId())
	if err != nil {
		_, _ = l.c.CloseSocket(context.Background(), sock.GetId())
		return nil, err
	}
	return conn, nil
}

// Close stops Accept and closes the listening socket (accepted connections
// stay open).
//
// A second Close returns net.ErrClosed once the first has closed the
// socket, so that a program closing it from a signal handler and from a
// defer does not exit before sockd has closed it.
func (l *Listener) Close() error {
	var err error
	first := false
	l.closeOnce.Do(func() {
		first = true
		l.cancel()
		_, err = l.c.CloseSocket(context.Background(), l.sock.GetId())
		if errors.Is(err, ErrNotFound) {
			err = nil
		}
	})
	if !first {
		return &net.OpError{Op: "close", Net: "sockd", Addr: l.Addr(), Err: net.ErrClosed}
	}
	return err
}

// Addr is the listening address on the daemon's host.
func (l *Listener) Addr() net.Addr {
	return addrOf(sockdv1.Protocol_PROTOCOL_TCP, l.sock.GetLocalAddress())
}

// Socket is the remote listening socket.
func (l *Listener) Socket() *sockdv1.Socket { return l.sock }
