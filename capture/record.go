package capture

import (
	"net/netip"
	"time"
	"unsafe"
)

// Protocol is the transport of a recorded socket.
type Protocol uint8

const (
	TCP Protocol = iota + 1 // a byte stream: records are what each send and recv moved
	UDP                     // datagrams: one record per datagram, with its peer
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

// Family is the address family of a recorded socket. Frames use the family
// of their addresses; the socket's family is what a frame falls back to when
// an address is not known yet.
type Family uint8

const (
	IPv4 Family = iota + 1
	IPv6
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

// Direction is which way recorded bytes moved, seen from the socket.
type Direction uint8

const (
	In  Direction = iota + 1 // received by the socket (recv, recvfrom)
	Out                      // sent from the socket (send, sendto)
)

func (d Direction) String() string {
	switch d {
	case In:
		return "in"
	case Out:
		return "out"
	}
	return "unknown"
}

// Kind is what a record holds: data, or one of the life-cycle events that
// shape a conversation on the wire.
type Kind uint8

const (
	KindData          Kind = iota // bytes sent or received (TCP), or one datagram (UDP)
	KindConnected                 // connect(2) succeeded: the socket opened the connection (SYN from local)
	KindAccepted                  // the socket was accepted: the peer opened the connection (SYN from remote)
	KindBound                     // the local address became known (bind, or an implicit bind by sendto)
	KindShutdownRead              // shutdown(SHUT_RD): nothing on the wire, a note in the export
	KindShutdownWrite             // shutdown(SHUT_WR): FIN from local
	KindPeerClosed                // recv returned end of file: FIN from remote
	KindResetSent                 // an abortive close (SO_LINGER 0): RST from local
	KindResetReceived             // ECONNRESET: RST from remote
	KindClosed                    // close(2): FIN from local unless one was sent already
)

var kindNames = [...]string{
	KindData:          "data",
	KindConnected:     "connected",
	KindAccepted:      "accepted",
	KindBound:         "bound",
	KindShutdownRead:  "shutdown-read",
	KindShutdownWrite: "shutdown-write",
	KindPeerClosed:    "peer-closed",
	KindResetSent:     "reset-sent",
	KindResetReceived: "reset-received",
	KindClosed:        "closed",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Record is one entry of a ring, as Ring.Records returns it.
type Record struct {
	// Seq numbers the ring's records from 0 in the order they were
	// recorded; a gap in Seq is records dropped before they were read.
	Seq uint64
	// At is when it happened: the caller's time, never before the ring's
	// previous record (a ring's records are in time order).
	At   time.Time
	Kind Kind
	// Dir is the direction of data; zero for events.
	Dir Direction
	// Data is the bytes (KindData). It is shared with the ring: do not
	// modify it.
	Data []byte
	// Peer is a datagram's source (In) or destination (Out) for UDP, and
	// the remote address for KindConnected and KindAccepted.
	Peer netip.AddrPort
	// Local is the local address for KindConnected, KindAccepted and
	// KindBound.
	Local netip.AddrPort
	// OutOffset and InOffset are how many bytes the socket had sent and
	// received since capture started, before this record, dropped ones
	// included: a TCP record's bytes start at its direction's offset, and
	// the export derives sequence and acknowledgement numbers from them.
	OutOffset, InOffset int64
}

// record is a Record as the ring stores it: the time as nanoseconds and no
// sequence number (a record's place in the ring gives it).
type record struct {
	at       int64
	out, in  int64
	data     []byte
	peer     netip.AddrPort
	local    netip.AddrPort
	kind     Kind
	dir      Direction
	reserved int64 // bytes accounted for this record, in the ring and in the budget
}

// payloadOverhead is what a record's payload costs beyond its length in
// the ring's and the budget's accounting: the allocator's rounding of the
// copy, on average. The record itself lives in the ring's queue, whose slots
// are accounted when the queue grows (slotBytes each), so that many tiny
// records cannot hold much more memory than the limits say.
const payloadOverhead = 32

// slotBytes is what one slot of a ring's queue costs: a record.
const slotBytes = int64(unsafe.Sizeof(record{}))

func (r *record) export(seq uint64) Record {
	return Record{
		Seq:       seq,
		At:        time.Unix(0, r.at),
		Kind:      r.kind,
		Dir:       r.dir,
		Data:      r.data,
		Peer:      r.peer,
		Local:     r.local,
		OutOffset: r.out,
		InOffset:  r.in,
	}
}
