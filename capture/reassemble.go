package capture

import (
	"container/heap"
	"net/netip"
	"time"
)

// flowKey names a conversation by its two endpoints, in a fixed order (the
// smaller first) so that both directions find it.
type flowKey struct{ a, b netip.AddrPort }

func keyOf(src, dst netip.AddrPort) (flowKey, int) {
	if src.Compare(dst) <= 0 {
		return flowKey{src, dst}, 0
	}
	return flowKey{dst, src}, 1
}

// segmentIn is a decoded TCP segment.
type segmentIn struct {
	src, dst           netip.AddrPort
	seq                uint32
	syn, ack, fin, rst bool
	data               []byte
	at                 time.Time
}

// assembler collects a file's TCP conversations and UDP flows.
type assembler struct {
	tcpOpen map[flowKey]*tcpConv // the latest conversation of each key
	tcpAll  []*tcpConv
	udpOpen map[flowKey]*udpFlow
	udpAll  []*udpFlow
}

func newAssembler() *assembler {
	return &assembler{tcpOpen: map[flowKey]*tcpConv{}, udpOpen: map[flowKey]*udpFlow{}}
}

// sideMessage is a message before the client is known: which end of the key sent it.
type sideMessage struct {
	side int
	at   time.Time
	data []byte
}

// tcpConv is one TCP conversation being reassembled.
type tcpConv struct {
	key      flowKey
	stream   int
	ends     [2]halfStream // by side: 0 sent from key.a, 1 from key.b
	first    int           // the side of the first packet
	synFrom  int           // the side that sent a SYN without ACK, or -1
	synAckTo int           // the side a SYN-ACK went to, or -1
	messages []sideMessage
	missing  int64
}

// halfStream is one direction of a TCP conversation.
type halfStream struct {
	baseSet bool
	base    uint32 // the first sequence number seen (a SYN's, or any)
	next    uint32 // the next in-order sequence number
	nextOff int64  // its offset in the stream, which may pass 4 GiB
	pending pendingHeap
}

func (a *assembler) tcp(s segmentIn) {
	key, side := keyOf(s.src, s.dst)
	c := a.tcpOpen[key]
	// A new SYN on a known pair of ports opens a new conversation when its
	// sequence number differs from the one that direction started with —
	// how tshark 4.0 (Debian 12's) numbers tcp.stream, as TestReadMessyTCP
	// checks; it keeps a SYN with the same number in its stream even after
	// a FIN, which real stacks, with random initial numbers, do not send.
	if c != nil && s.syn && !s.ack && c.ends[side].baseSet && s.seq != c.ends[side].base {
		c = nil
	}
	if c == nil {
		c = &tcpConv{key: key, stream: len(a.tcpAll), first: side, synFrom: -1, synAckTo: -1}
		a.tcpOpen[key] = c
		a.tcpAll = append(a.tcpAll, c)
	}
	switch {
	case s.syn && !s.ack && c.synFrom < 0:
		c.synFrom = side
	case s.syn && s.ack && c.synAckTo < 0:
		c.synAckTo = 1 - side
	}
	h := &c.ends[side]
	seq := s.seq
	if !h.baseSet {
		h.baseSet, h.base, h.next = true, seq, seq
		if s.syn {
			h.next = seq + 1
		}
	}
	if s.syn {
		seq++ // data on a SYN (TCP Fast Open) starts after it
	}
	if len(s.data) > 0 && !s.rst { // an RST's payload is a diagnostic, not stream data
		c.deliver(side, seq, s.data, s.at)
	}
}

// deliver puts a segment's payload in place: at the stream's next offset
// it is a message (and may release segments that came early); before it,
// what it repeats is dropped; after it, it waits for the gap to fill.
func (c *tcpConv) deliver(side int, seq uint32, data []byte, at time.Time) {
	h := &c.ends[side]
	off := h.nextOff + int64(int32(seq-h.next))
	if off > h.nextOff {
		heap.Push(&h.pending, pendingSegment{off: off, data: data, at: at})
		return
	}
	c.emit(side, off, data, at)
	c.drain(side, at, false)
}

// emit appends the part of data (starting at stream offset off) that is
// new, and advances the stream.
func (c *tcpConv) emit(side int, off int64, data []byte, at time.Time) {
	h := &c.ends[side]
	if skip := h.nextOff - off; skip > 0 {
		if skip >= int64(len(data)) {
			return // a retransmission or duplicate of what was delivered
		}
		data = data[skip:]
	}
	c.add(side, data, at)
	h.nextOff += int64(len(data))
	h.next += uint32(len(data))
}

// drain releases the waiting segments that are now in order; at the end of
// the file (gaps true) it also skips the gaps that never filled, counting
// them as missing.
func (c *tcpConv) drain(side int, at time.Time, gaps bool) {
	h := &c.ends[side]
	for h.pending.Len() > 0 {
		p := h.pending[0]
		if p.off > h.nextOff {
			if !gaps {
				return
			}
			c.missing += p.off - h.nextOff
			h.next += uint32(p.off - h.nextOff)
			h.nextOff = p.off
			at = p.at
		}
		heap.Pop(&h.pending)
		if p.at.After(at) {
			at = p.at
		}
		c.emit(side, p.off, p.data, at)
	}
}

// add appends a message, joining it to the previous one when the same side
// sent both at the same time (one write cut into segments).
func (c *tcpConv) add(side int, data []byte, at time.Time) {
	if n := len(c.messages); n > 0 {
		last := &c.messages[n-1]
		if last.side == side && last.at.Equal(at) {
			// Full slice expression: the first join copies, so a message
			// never writes into the packet buffer it came from.
			last.data = append(last.data[:len(last.data):len(last.data)], data...)
			return
		}
	}
	c.messages = append(c.messages, sideMessage{side: side, at: at, data: data})
}

// udpFlow is one UDP flow: the datagrams between two endpoints.
type udpFlow struct {
	key      flowKey
	stream   int
	first    int
	messages []sideMessage
}

func (a *assembler) udp(src, dst netip.AddrPort, data []byte, at time.Time) {
	key, side := keyOf(src, dst)
	f := a.udpOpen[key]
	if f == nil {
		f = &udpFlow{key: key, stream: len(a.udpAll), first: side}
		a.udpOpen[key] = f
		a.udpAll = append(a.udpAll, f)
	}
	f.messages = append(f.messages, sideMessage{side: side, at: at, data: data})
}

func (a *assembler) conversations() []Conversation {
	out := make([]Conversation, 0, len(a.tcpAll)+len(a.udpAll))
	for _, c := range a.tcpAll {
		for side := range c.ends {
			c.drain(side, time.Time{}, true)
		}
		client := c.first
		switch {
		case c.synFrom >= 0:
			client = c.synFrom
		case c.synAckTo >= 0:
			client = c.synAckTo
		}
		out = append(out, conversationOf(TCP, c.stream, c.key, client, c.messages, c.synFrom >= 0, c.missing))
	}
	for _, f := range a.udpAll {
		out = append(out, conversationOf(UDP, f.stream, f.key, f.first, f.messages, false, 0))
	}
	return out
}

func conversationOf(p Protocol, stream int, key flowKey, client int, msgs []sideMessage, handshake bool, missing int64) Conversation {
	ends := [2]netip.AddrPort{key.a, key.b}
	c := Conversation{
		Protocol: p, Stream: stream,
		Client: ends[client], Server: ends[1-client],
		Handshake: handshake, MissingBytes: missing,
		Messages: make([]Message, len(msgs)),
	}
	for i, m := range msgs {
		c.Messages[i] = Message{FromClient: m.side == client, At: m.at, Data: m.data}
	}
	return c
}

// pendingSegment is a TCP segment that came before the bytes preceding it.
type pendingSegment struct {
	off  int64
	data []byte
	at   time.Time
}

// pendingHeap orders waiting segments by stream offset.
type pendingHeap []pendingSegment

func (h pendingHeap) Len() int           { return len(h) }
func (h pendingHeap) Less(i, j int) bool { return h[i].off < h[j].off }
func (h pendingHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *pendingHeap) Push(x any)        { *h = append(*h, x.(pendingSegment)) }
func (h *pendingHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
