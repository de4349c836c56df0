package service

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// GatewayListener is the gRPC server's listener for the daemon's own REST
// gateway: a connection exists only when the gateway, in the same process,
// dials it (a Unix socketpair, so the kernel buffers it like any socket),
// and no remote peer can produce one. Calls on its connections are the only
// ones whose gateway-only metadata (the HTTP client's address, a client
// certificate the HTTPS server verified) is believed: viaGateway recognises
// them by the address type, which only this file can make.
type GatewayListener struct {
	conns  chan net.Conn
	done   chan struct{}
	closed sync.Once
}

// NewGatewayListener returns an open listener.
func NewGatewayListener() *GatewayListener {
	return &GatewayListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// gatewayAddr is the address of both ends of a gateway connection.
type gatewayAddr struct{}

// GatewayNetwork is the Network() of a gateway connection's addresses (as a
// call's peer shows in logs).
const GatewayNetwork = "sockd-gateway"

func (gatewayAddr) Network() string { return GatewayNetwork }
func (gatewayAddr) String() string  { return "gateway" }

// gatewayConn is one end of a socketpair, addressed as the gateway.
type gatewayConn struct{ net.Conn }

func (gatewayConn) LocalAddr() net.Addr  { return gatewayAddr{} }
func (gatewayConn) RemoteAddr() net.Addr { return gatewayAddr{} }

// Accept implements net.Listener.
func (l *GatewayListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (l *GatewayListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

// Addr implements net.Listener.
func (l *GatewayListener) Addr() net.Addr { return gatewayAddr{} }

// Dial makes a connection to the listener (for grpc.WithContextDialer).
func (l *GatewayListener) Dial(ctx context.Context) (net.Conn, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socketpair", err)
	}
	ends := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "gateway")
		c, err := net.FileConn(f) // dups fd
		f.Close()
		if err != nil {
			for _, e := range ends[:i] {
				e.Close()
			}
			if i == 0 {
				unix.Close(fds[1])
			}
			return nil, err
		}
		ends[i] = gatewayConn{c}
	}
	select {
	case l.conns <- ends[1]:
		return ends[0], nil
	case <-l.done:
	case <-ctx.Done():
	}
	ends[0].Close()
	ends[1].Close()
	return nil, errors.Join(net.ErrClosed, ctx.Err())
}
