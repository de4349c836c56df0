package client

import (
	"context"
	"net"
	"time"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// PacketConn is a remote UDP socket as a net.PacketConn, over one Attach
// stream: datagram boundaries are kept both ways. If the stream's
// connection to sockd fails it is opened again; datagrams on the way may
// be lost then, as UDP allows.
type PacketConn struct {
	s *session
}

var _ net.PacketConn = (*PacketConn)(nil)

// ListenUDP creates a UDP socket on the daemon bound to address.
func (c *Client) ListenUDP(ctx context.Context, address string) (*PacketConn, error) {
	sock, err := c.Create(ctx, CreateOptions{UDP: true, Bind: address})
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "sockd", Err: err}
	}
	pc, err := c.PacketConn(ctx, sock.GetId())
	if err != nil {
		_, _ = c.CloseSocket(context.Background(), sock.GetId())
		return nil, err
	}
	return pc, nil
}

// PacketConn attaches to an existing bound UDP socket. Closing it closes the
// socket.
func (c *Client) PacketConn(ctx context.Context, id string) (*PacketConn, error) {
	s, err := c.attach(ctx, id, nil)
	if err != nil {
		return nil, &net.OpError{Op: "attach", Net: "sockd", Err: err}
	}
	return &PacketConn{s: s}, nil
}

// Socket is the remote socket as it was when attached.
func (p *PacketConn) Socket() *sockdv1.Socket { return p.s.sock }

// ReadFrom reads one datagram into b (the excess of a longer one is lost, as
// with a local UDP socket) and returns its source.
func (p *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	release, err := p.s.turn("read", p.s.readTurn, p.s.rd)
	if err != nil {
		return 0, nil, err
	}
	defer release()
	for {
		m, err := p.s.receive("read")
		if err != nil {
			return 0, nil, err
		}
		if d := m.GetDatagram(); d != nil {
			return copy(b, d.GetData()), addrOf(sockdv1.Protocol_PROTOCOL_UDP, d.GetAddress()), nil
		}
	}
}

// Read reads one datagram into b, as on a connected UDP socket.
func (p *PacketConn) Read(b []byte) (int, error) {
	n, _, err := p.ReadFrom(b)
	return n, err
}

// WriteTo sends b as one datagram to addr.
func (p *PacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if addr == nil {
		return 0, p.s.opError("write", &net.AddrError{Err: "no address"})
	}
	return p.send(b, addr.String())
}

// Write sends b as one datagram to the socket's connected peer.
func (p *PacketConn) Write(b []byte) (int, error) { return p.send(b, "") }

func (p *PacketConn) send(b []byte, to string) (int, error) {
	if len(b) > maxDatagram {
		return 0, p.s.opError("write", &net.AddrError{Err: "datagram too large", Addr: to})
	}
	release, err := p.s.turn("write", p.s.writeTurn, p.s.wd)
	if err != nil {
		return 0, err
	}
	defer release()
	data, pooled := newChunk(len(b))
	copy(data, b)
	if err := p.s.queue("write", outItem{data: data, pooled: pooled, to: to}); err != nil {
		return 0, err
	}
	return len(b), nil
}

// maxDatagram is the largest UDP payload.
const maxDatagram = 65535

// Close closes the remote socket.
func (p *PacketConn) Close() error { return p.s.close() }

// Detach ends the PacketConn and leaves the remote socket open.
func (p *PacketConn) Detach() error { return p.s.detach() }

// LocalAddr is the socket's bound address on the daemon's host.
func (p *PacketConn) LocalAddr() net.Addr {
	return addrOf(sockdv1.Protocol_PROTOCOL_UDP, p.s.sock.GetLocalAddress())
}

// RemoteAddr is the connected peer's address, if the socket is connected.
func (p *PacketConn) RemoteAddr() net.Addr {
	return addrOf(sockdv1.Protocol_PROTOCOL_UDP, p.s.sock.GetRemoteAddress())
}

func (p *PacketConn) SetDeadline(t time.Time) error      { return p.s.setDeadline(t) }
func (p *PacketConn) SetReadDeadline(t time.Time) error  { p.s.rd.set(t); return nil }
func (p *PacketConn) SetWriteDeadline(t time.Time) error { p.s.wd.set(t); return nil }
