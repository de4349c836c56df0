package capture

import (
	"fmt"
	"hash/fnv"
	"net/netip"
)

// frame is one synthesised packet on its way into the file.
type frame struct {
	at        int64 // nanoseconds
	outbound  bool  // sent by the socket (pcapng's outbound direction flag)
	data      []byte
	comments  []string
	dropCount uint64 // records dropped since the previous frame of the interface
}

// conv turns one ring's records, in order, into frames: a TCP connection
// as it would have looked on the wire, or a UDP socket's datagrams. Every
// sequence and acknowledgement number is derived from the stream offsets
// the ring stored with each record, so that what the export skipped
// (records dropped from the ring) shows as a jump in sequence numbers at
// the right place instead of shifting everything after it.
type conv struct {
	proto  Protocol
	family Family
	// local and remote are the socket's addresses as recorded so far.
	local, remote netip.AddrPort

	// TCP state.
	isnL, isnR      uint32 // initial sequence numbers of the socket and its peer
	baseOut, baseIn int64  // stream offsets at the handshake: seq = isn + 1 + off - base
	started         bool   // a handshake or a first frame was written
	finL, finR, rst bool
	idL, idR        uint16 // IPv4 identification, per direction

	// Drop detection: the offsets where the next record should start.
	nextOut, nextIn int64

	notes             []string // comments for the next frame
	notesOut, notesIn []string // comments for the next frame in one direction
	dropCount         uint64   // records dropped before the next frame
}

func newConv(meta Meta) *conv {
	c := &conv{proto: meta.Protocol, family: meta.Family, local: meta.Local, remote: meta.Remote}
	// Initial sequence numbers derived from the socket id: the same ring
	// exports the same numbers every time, and two sockets differ.
	h := fnv.New32a()
	h.Write([]byte(meta.SocketID))
	c.isnL = h.Sum32()
	h.Write([]byte("/peer"))
	c.isnR = h.Sum32()
	return c
}

// addressed reports whether both addresses are known.
func (c *conv) addressed() bool { return c.local.IsValid() && c.remote.IsValid() }

// refresh takes addresses that were learned after the conversation's
// records were (capture turned on before connect, and the Connected event
// since dropped from the ring).
func (c *conv) refresh(meta Meta) {
	if !c.local.IsValid() {
		c.local = meta.Local
	}
	if !c.remote.IsValid() {
		c.remote = meta.Remote
	}
}

func (c *conv) note(format string, args ...any) {
	c.notes = append(c.notes, "sockd: "+fmt.Sprintf(format, args...))
}

// add turns rec into frames, passed to emit in order. missed is how many
// records the ring dropped just before rec without the export seeing them.
func (c *conv) add(f *framer, rec *record, missed uint64, emit func(*frame) error) error {
	c.dropCount += missed
	c.noteGap(rec, missed)
	switch rec.kind {
	case KindConnected, KindAccepted, KindBound:
		if rec.local.IsValid() {
			c.local = rec.local
		}
		if rec.peer.IsValid() && rec.kind != KindBound {
			c.remote = rec.peer
		}
	}
	if c.proto == UDP {
		return c.addUDP(f, rec, emit)
	}
	return c.addTCP(f, rec, emit)
}

// noteGap notes what records dropped before rec carried: how many records
// (on the next frame), and the bytes of each direction — the offsets rec
// starts at, against where the previous record ended — on the next frame
// of that direction, the one whose sequence number jumps.
func (c *conv) noteGap(rec *record, missed uint64) {
	if missed > 0 {
		c.note("%s dropped here (the capture ring was full)", plural(int64(missed), "record"))
	}
	if gap := rec.out - c.nextOut; gap > 0 {
		c.notesOut = append(c.notesOut, fmt.Sprintf("sockd: %s sent by the socket dropped here", plural(gap, "byte")))
	}
	if gap := rec.in - c.nextIn; gap > 0 {
		c.notesIn = append(c.notesIn, fmt.Sprintf("sockd: %s received by the socket dropped here", plural(gap, "byte")))
	}
	c.nextOut, c.nextIn = rec.out, rec.in
	if rec.kind == KindData {
		if rec.dir == Out {
			c.nextOut += int64(len(rec.data))
		} else {
			c.nextIn += int64(len(rec.data))
		}
	}
}

func plural(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// put serialises nothing itself: it wraps a packet with the pending notes
// and hands it on. pkt is only valid until the next packet is made, which
// emit must respect (the exporter writes it at once).
func (c *conv) put(emit func(*frame) error, at int64, outbound bool, pkt []byte) error {
	fr := frame{at: at, outbound: outbound, data: pkt, comments: c.notes, dropCount: c.dropCount}
	c.notes, c.dropCount = nil, 0
	if outbound {
		fr.comments, c.notesOut = append(fr.comments, c.notesOut...), nil
	} else {
		fr.comments, c.notesIn = append(fr.comments, c.notesIn...), nil
	}
	return emit(&fr)
}

// addUDP writes a datagram as one frame; events only update addresses or
// leave a note on the next frame.
func (c *conv) addUDP(f *framer, rec *record, emit func(*frame) error) error {
	switch rec.kind {
	case KindData:
	case KindConnected:
		c.note("connected to %s", rec.peer)
		return nil
	case KindShutdownRead, KindShutdownWrite, KindClosed:
		c.note("%s", rec.kind)
		return nil
	default:
		return nil
	}
	peer := rec.peer
	if !peer.IsValid() {
		peer = c.remote
	}
	local, peer := wireAddrs(c.local, peer, c.family)
	payload := rec.data
	limit := maxUDPv6
	if local.Addr().Is4() {
		limit = maxUDPv4
	}
	if len(payload) > limit {
		c.note("a datagram of %d bytes, cut to the %d that one IP packet holds", len(payload), limit)
		payload = payload[:limit]
	}
	src, dst, id := local, peer, &c.idL
	if rec.dir == In {
		src, dst, id = peer, local, &c.idR
	}
	*id++
	pkt, err := f.datagram(src, dst, *id, payload)
	if err != nil {
		return err
	}
	return c.put(emit, rec.at, rec.dir == Out, pkt)
}

// Sequence numbers. lseq is the local side's sequence number at stream
// offset off; lnext what its peer acknowledges once it has received off
// bytes (its FIN takes one more). The same for the remote side.
func (c *conv) lseq(off int64) uint32  { return c.isnL + 1 + uint32(off-c.baseOut) }
func (c *conv) rseq(off int64) uint32  { return c.isnR + 1 + uint32(off-c.baseIn) }
func (c *conv) lnext(off int64) uint32 { return c.lseq(off) + b2u(c.finL) }
func (c *conv) rnext(off int64) uint32 { return c.rseq(off) + b2u(c.finR) }

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// segment writes one TCP segment, from the local side when outbound.
func (c *conv) segment(f *framer, emit func(*frame) error, at int64, outbound bool, seq, ack uint32, flags tcpFlags, payload []byte) error {
	local, remote := wireAddrs(c.local, c.remote, c.family)
	src, dst, id := local, remote, &c.idL
	if !outbound {
		src, dst, id = remote, local, &c.idR
	}
	*id++
	pkt, err := f.tcpSegment(src, dst, seq, ack, flags, *id, payload)
	if err != nil {
		return err
	}
	return c.put(emit, at, outbound, pkt)
}

// addTCP writes a record as the segments it stands for. Every data record
// is followed by the receiver's ACK of it, as a receiving kernel sends one,
// so that no segment is ever far beyond what was acknowledged.
func (c *conv) addTCP(f *framer, rec *record, emit func(*frame) error) error {
	at := rec.at
	switch rec.kind {
	case KindConnected, KindAccepted:
		if c.started {
			return nil
		}
		c.started = true
		c.baseOut, c.baseIn = rec.out, rec.in
		local := rec.kind == KindConnected // who sends the SYN
		isnA, isnB := c.isnL, c.isnR
		if !local {
			isnA, isnB = c.isnR, c.isnL
		}
		if err := c.segment(f, emit, at, local, isnA, 0, flagSYN, nil); err != nil {
			return err
		}
		if err := c.segment(f, emit, at, !local, isnB, isnA+1, flagSYN|flagACK, nil); err != nil {
			return err
		}
		return c.segment(f, emit, at, local, isnA+1, isnB+1, flagACK, nil)

	case KindData:
		if !c.started {
			c.startMidStream(rec)
		}
		out := rec.dir == Out
		off, ack := rec.in, c.lnext(rec.out) // an In record: remote's bytes, acknowledging ours
		seqAt := c.rseq
		if out {
			off, ack = rec.out, c.rnext(rec.in)
			seqAt = c.lseq
		}
		data := rec.data
		for len(data) > 0 {
			n := min(len(data), maxSegment)
			flags := flagACK
			if n == len(data) {
				flags |= flagPSH
			}
			if err := c.segment(f, emit, at, out, seqAt(off), ack, flags, data[:n]); err != nil {
				return err
			}
			off += int64(n)
			data = data[n:]
		}
		if out {
			return c.segment(f, emit, at, false, c.rnext(rec.in), c.lnext(off), flagACK, nil)
		}
		return c.segment(f, emit, at, true, c.lnext(rec.out), c.rnext(off), flagACK, nil)

	case KindShutdownWrite, KindClosed:
		if c.finL || c.rst {
			return nil
		}
		if !c.started {
			if rec.kind == KindClosed && rec.out == 0 && rec.in == 0 {
				return nil // closed before it ever connected: nothing was on the wire
			}
			c.startMidStream(rec)
		}
		if err := c.segment(f, emit, at, true, c.lseq(rec.out), c.rnext(rec.in), flagFIN|flagACK, nil); err != nil {
			return err
		}
		c.finL = true
		return c.segment(f, emit, at, false, c.rnext(rec.in), c.lnext(rec.out), flagACK, nil)

	case KindPeerClosed:
		if c.finR || c.rst {
			return nil
		}
		if !c.started {
			c.startMidStream(rec)
		}
		if err := c.segment(f, emit, at, false, c.rseq(rec.in), c.lnext(rec.out), flagFIN|flagACK, nil); err != nil {
			return err
		}
		c.finR = true
		return c.segment(f, emit, at, true, c.lnext(rec.out), c.rnext(rec.in), flagACK, nil)

	case KindResetSent, KindResetReceived:
		if c.rst {
			return nil
		}
		if !c.started {
			c.startMidStream(rec)
		}
		c.rst = true
		if rec.kind == KindResetSent {
			return c.segment(f, emit, at, true, c.lnext(rec.out), c.rnext(rec.in), flagRST|flagACK, nil)
		}
		return c.segment(f, emit, at, false, c.rnext(rec.in), c.lnext(rec.out), flagRST|flagACK, nil)

	case KindShutdownRead:
		c.note("shutdown(SHUT_RD)")
	}
	return nil
}

// startMidStream begins a conversation whose handshake the ring does not
// hold: capture was turned on after connect, or the handshake was dropped
// from a full ring. The first frame says so; tshark takes its sequence
// numbers as the base, as it does for any capture that starts late.
func (c *conv) startMidStream(rec *record) {
	c.started = true
	if rec.out == 0 && rec.in == 0 {
		c.note("capture started on a connected socket: no handshake")
	} else {
		c.note("no handshake: the full ring dropped it, or capture started on a connected socket")
	}
}
