package client

import (
	"context"
	"sync"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// streamPos is where this client stands in one socket's two byte streams
// (DESIGN.md, "Offsets"): the offset of the next byte it will receive and
// of the next byte it will send. Every Recv and Send on a TCP socket carries
// them, so that a retried call neither loses nor repeats a byte.
//
// The positions assume this client is the socket's one reader and one
// writer while it uses them, as a program is with its own socket: a byte
// another client sends in between is taken for a retry of this client's.
type streamPos struct {
	id     string
	name   string // the socket's name, another key of it
	stream bool   // TCP; a UDP socket has no offsets

	recvMu sync.Mutex // held through a Recv and its retries
	recv   int64

	sendMu sync.Mutex // held through a Send and its retries
	send   int64
}

// maxPositions bounds the sockets a client keeps positions for.
const maxPositions = 1 << 16

// positions are the streamPos of the sockets this client has used, by id
// and by name.
type positions struct {
	mu    sync.RWMutex
	byRef map[string]*streamPos
}

// position is the client's position in a socket's streams. The first time,
// it starts where the socket's counters stand (GetSocket): nothing before
// them is this client's to receive or to send again.
func (c *Client) position(ctx context.Context, ref string) (*streamPos, error) {
	c.positions.mu.RLock()
	p := c.positions.byRef[ref]
	c.positions.mu.RUnlock()
	if p != nil {
		return p, nil
	}
	s, err := c.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	return c.learn(s), nil
}

// learn records a socket that an answer showed, unless the client already
// stands somewhere in it: its own position is the truer one (the counters
// also count bytes whose answers were lost).
func (c *Client) learn(s *sockdv1.Socket) *streamPos {
	if s.GetId() == "" {
		return nil
	}
	c.positions.mu.Lock()
	defer c.positions.mu.Unlock()
	if c.positions.byRef == nil {
		c.positions.byRef = map[string]*streamPos{}
	}
	p := c.positions.byRef[s.GetId()]
	if p == nil && len(c.positions.byRef) >= maxPositions {
		// A client of that many sockets has closed most of them some other
		// way (a lease, the idle reaper): forget one. Should it be in use,
		// its next call starts from the socket's counters again.
		for k := range c.positions.byRef {
			delete(c.positions.byRef, k)
			break
		}
	}
	if p == nil {
		p = &streamPos{
			id: s.GetId(), stream: s.GetProtocol() != sockdv1.Protocol_PROTOCOL_UDP,
			recv: int64(s.GetBytesReceived()), send: int64(s.GetBytesSent()),
		}
		c.positions.byRef[p.id] = p
	}
	if s.GetName() != "" {
		p.name = s.GetName()
		c.positions.byRef[p.name] = p
	}
	return p
}

// forget drops what the client knew of a socket: it was closed, or sockd
// said the client's offsets do not fit its stream.
func (c *Client) forget(ref string) {
	c.positions.mu.Lock()
	defer c.positions.mu.Unlock()
	p := c.positions.byRef[ref]
	if p == nil {
		return
	}
	delete(c.positions.byRef, p.id)
	if p.name != "" && c.positions.byRef[p.name] == p {
		delete(c.positions.byRef, p.name)
	}
}
