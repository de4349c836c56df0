package sockmgr

import (
	"net/netip"
	"time"
)

// Protocol is the transport of a socket.
type Protocol uint8

const (
	TCP Protocol = iota + 1 // SOCK_STREAM
	UDP                     // SOCK_DGRAM
)

func (p Protocol) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return "unknown"
}

// Family is the address family of a socket.
type Family uint8

const (
	IPv4 Family = iota + 1 // AF_INET
	IPv6                   // AF_INET6
)

func (f Family) String() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return "unknown"
}

// State is where a socket stands in its life cycle:
//
//	CREATED ──bind──▶ BOUND ──listen──▶ LISTENING
//	   │                │
//	   └────connect─────┴──▶ CONNECTED
//	(any) ──close──▶ CLOSED (seen only in events)
//
// listen on an unbound socket and sendto on an unbound UDP socket bind
// implicitly, as the kernel does. Shutdown does not change the state; it is
// reported by the ReadShut / WriteShut flags.
type State uint8

const (
	StateCreated State = iota + 1
	StateBound
	StateListening
	StateConnected
	StateClosed
)

func (s State) String() string {
	switch s {
	case StateCreated:
		return "CREATED"
	case StateBound:
		return "BOUND"
	case StateListening:
		return "LISTENING"
	case StateConnected:
		return "CONNECTED"
	case StateClosed:
		return "CLOSED"
	}
	return "UNKNOWN"
}

// Counters are a socket's traffic totals since it was created.
type Counters struct {
	BytesSent         uint64
	BytesReceived     uint64
	DatagramsSent     uint64
	DatagramsReceived uint64
	Accepted          uint64 // connections accepted (listeners only)
}

// Info is a consistent snapshot of a socket, safe to keep and to read from any
// goroutine.
type Info struct {
	ID         string
	Name       string
	Labels     map[string]string // shared and never mutated: do not write to it
	Owner      string
	Protocol   Protocol
	Family     Family
	State      State
	LocalAddr  netip.AddrPort // valid once bound (explicitly or implicitly)
	RemoteAddr netip.AddrPort // valid once connected
	// Timeout is the socket's default for blocking calls: nil blocks until the
	// call's context ends, 0 is non-blocking, > 0 is a time limit per call.
	Timeout      *time.Duration
	FD           int    // the kernel descriptor, as fileno() reports it
	ParentID     string // the listener that accepted this socket
	Connecting   bool   // a non-blocking or timed-out connect is still in progress
	ReadShut     bool   // shutdown(SHUT_RD) was called
	WriteShut    bool   // shutdown(SHUT_WR) was called
	Counters     Counters
	CreateTime   time.Time
	LastActivity time.Time
	IdleTimeout  time.Duration // 0: none
	LeaseID      string
}
