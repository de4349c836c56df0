package capture

import (
	"maps"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Meta describes the socket a ring records. The export names the socket's
// interface by SocketID and describes it with the rest.
type Meta struct {
	SocketID string
	Name     string // the socket's optional name
	Protocol Protocol
	Family   Family
	// Local and Remote are the addresses known when capture starts (either
	// may be zero); the events Connected, Accepted and Bound update them.
	Local, Remote netip.AddrPort
	Labels        map[string]string
	// ParentID is the listening socket an accepted socket came from.
	ParentID string
}

// Status is a ring's state, as the Socket's CaptureStatus reports it.
type Status struct {
	Enabled   bool  // recording (false once stopped or released)
	RingBytes int64 // the ring's limit, as accounted (payload plus a fixed overhead per record)
	Bytes     int64 // payload bytes held now
	Records   int64 // records held now (data and events)
	// DroppedBytes and DroppedRecords count what was recorded and then
	// dropped (the ring or the budget was full), since capture started.
	DroppedBytes   int64
	DroppedRecords int64
	// Accounted is what the ring holds against its limit and the budget:
	// payloads with the allocator's rounding, and its queue's slots.
	Accounted int64
}

// Ring is one socket's capture: a bounded queue of records, the oldest
// dropped first when the ring or the shared budget is full. All methods are
// safe for concurrent use; recording never blocks on anything but the
// ring's own mutex, held for a few hundred nanoseconds.
//
// The hook methods (Sent, Received, Connected, Accepted, Bound,
// ShutdownRead, ShutdownWrite, PeerClosed, ResetSent, ResetReceived,
// Closed) take standard-library types only, so that sockmgr can declare
// them as an interface that *Ring satisfies without importing capture.
type Ring struct {
	proto  Protocol
	limit  int64
	budget *Budget
	on     atomic.Bool

	mu       sync.Mutex
	meta     Meta
	recs     []record // circular: recs[head] is the oldest, n of them
	head, n  int
	first    uint64 // Seq of recs[head]
	held     int64  // accounted bytes: payloads (+ payloadOverhead each) and the queue's slots
	payload  int64  // payload bytes held
	out, in  int64  // bytes sent and received since capture started
	lastAt   int64  // the latest record's time, in nanoseconds
	dropped  int64  // payload bytes dropped
	droppedN int64  // records dropped
	released bool
	waiters  []chan<- struct{}
}

// NewRing starts recording a socket. ringBytes is the ring's limit (0: the
// default; at least MinRingBytes); budget is shared with the other rings
// (nil: only the ring's own limit applies).
func NewRing(meta Meta, ringBytes int64, budget *Budget) *Ring {
	switch {
	case ringBytes <= 0:
		ringBytes = DefaultRingBytes
	case ringBytes < MinRingBytes:
		ringBytes = MinRingBytes
	}
	if meta.Protocol != UDP {
		meta.Protocol = TCP
	}
	if meta.Family != IPv6 {
		meta.Family = IPv4
	}
	meta.Labels = maps.Clone(meta.Labels)
	r := &Ring{proto: meta.Protocol, limit: ringBytes, budget: budget, meta: meta}
	r.on.Store(true)
	return r
}

// Sent records bytes (TCP) or a datagram to a peer (UDP) that the socket
// sent. The ring copies b: the caller may reuse it at once.
func (r *Ring) Sent(at time.Time, b []byte, to netip.AddrPort) { r.Data(Out, at, b, to) }

// Received records bytes (TCP) or a datagram from a peer (UDP) that the
// socket received.
func (r *Ring) Received(at time.Time, b []byte, from netip.AddrPort) { r.Data(In, at, b, from) }

// Connected records that connect(2) succeeded, with both addresses.
func (r *Ring) Connected(at time.Time, local, remote netip.AddrPort) {
	r.Event(KindConnected, at, local, remote)
}

// Accepted records that the socket was accepted, with both addresses.
func (r *Ring) Accepted(at time.Time, local, remote netip.AddrPort) {
	r.Event(KindAccepted, at, local, remote)
}

// Bound records the socket's local address once it is known.
func (r *Ring) Bound(at time.Time, local netip.AddrPort) {
	r.Event(KindBound, at, local, netip.AddrPort{})
}

// ShutdownRead records shutdown(SHUT_RD).
func (r *Ring) ShutdownRead(at time.Time) { r.Event(KindShutdownRead, at, noAddr, noAddr) }

// ShutdownWrite records shutdown(SHUT_WR): the socket sent its FIN.
func (r *Ring) ShutdownWrite(at time.Time) { r.Event(KindShutdownWrite, at, noAddr, noAddr) }

// PeerClosed records that a read returned end of file: the peer's FIN.
func (r *Ring) PeerClosed(at time.Time) { r.Event(KindPeerClosed, at, noAddr, noAddr) }

// ResetSent records an abortive close (SO_LINGER 0): the socket sent RST.
func (r *Ring) ResetSent(at time.Time) { r.Event(KindResetSent, at, noAddr, noAddr) }

// ResetReceived records ECONNRESET: the peer sent RST.
func (r *Ring) ResetReceived(at time.Time) { r.Event(KindResetReceived, at, noAddr, noAddr) }

// Closed records close(2).
func (r *Ring) Closed(at time.Time) { r.Event(KindClosed, at, noAddr, noAddr) }

var noAddr netip.AddrPort

// Data records bytes that moved in direction dir at time at (zero: now).
// peer is a UDP datagram's source or destination (ignored for TCP). An
// empty TCP write moves nothing and is not recorded; an empty datagram is.
// A TCP write larger than one record may be (three quarters of the ring's
// limit) keeps its last bytes, the ones cut counted as dropped; a datagram
// that large is dropped whole.
func (r *Ring) Data(dir Direction, at time.Time, b []byte, peer netip.AddrPort) {
	if !r.on.Load() || (dir != In && dir != Out) || (r.proto == TCP && len(b) == 0) {
		return
	}
	size := int64(len(b))
	var cut int64 // bytes cut from the front of an over-sized write
	if maxPayload := r.limit - r.limit/slotShare - payloadOverhead; size > maxPayload {
		if r.proto == UDP {
			cut = size
		} else {
			cut = size - maxPayload
		}
	}
	var data []byte
	if cut < size {
		// Copy before taking the lock: the caller reuses b, and the copy is
		// the one cost of recording that grows with the payload.
		src := b[cut:]
		data = make([]byte, len(src)) // with the copy below, the compiler skips zeroing
		copy(data, src)
	}
	r.mu.Lock()
	if r.released || !r.on.Load() {
		r.mu.Unlock()
		return
	}
	rec := record{at: r.stamp(at), out: r.out, in: r.in, data: data, peer: peer, dir: dir}
	if dir == Out {
		rec.out += cut
		r.out += size
	} else {
		rec.in += cut
		r.in += size
	}
	if cut > 0 {
		if cut == size {
			r.countDrop(cut, 1)
			r.mu.Unlock()
			return
		}
		r.countDrop(cut, 0)
	}
	r.push(rec)
	r.mu.Unlock()
}

// Event records a life-cycle event at time at (zero: now). Valid local and
// remote addresses update the socket's addresses (zero ones leave them).
func (r *Ring) Event(kind Kind, at time.Time, local, remote netip.AddrPort) {
	if !r.on.Load() || kind == KindData || kind > KindClosed {
		return
	}
	r.mu.Lock()
	if r.released || !r.on.Load() {
		r.mu.Unlock()
		return
	}
	if local.IsValid() {
		r.meta.Local = local
	}
	if remote.IsValid() {
		r.meta.Remote = remote
	}
	r.push(record{at: r.stamp(at), out: r.out, in: r.in, peer: remote, local: local, kind: kind})
	r.mu.Unlock()
}

// stamp turns at into the record's time: now when at is zero, and never
// before the previous record, so that a ring's records are in time order
// even when a reader and a writer took their times in the other order.
func (r *Ring) stamp(at time.Time) int64 {
	if at.IsZero() {
		at = time.Now()
	}
	ns := at.UnixNano()
	if ns < r.lastAt {
		ns = r.lastAt
	}
	r.lastAt = ns
	return ns
}

// The queue starts with minSlots slots and its slots may take at most a
// slotShare-th of the ring's limit, so that payloads always have the rest:
// a record of up to three quarters of the limit always fits an empty ring.
const (
	minSlots  = 16
	slotShare = 4
)

// push keeps rec, dropping the oldest records first while the ring or the
// budget is full; when the ring is empty and still cannot keep rec, rec
// itself is dropped (and counted). The queue grows (by doubling, its slots
// accounted like payload) while the ring's limit and the budget allow, and
// else the oldest record gives up its slot. r.mu is held.
func (r *Ring) push(rec record) {
	need := int64(len(rec.data)) + payloadOverhead
	for r.held+need > r.limit && r.n > 0 {
		r.dropOldest()
	}
	for !r.budget.reserve(need) {
		if r.n == 0 {
			r.countDrop(int64(len(rec.data)), 1)
			return
		}
		r.dropOldest()
	}
	for r.n == len(r.recs) && !r.grow(need) {
		if r.n == 0 {
			r.budget.release(need)
			r.countDrop(int64(len(rec.data)), 1)
			return
		}
		r.dropOldest() // its slot is free now: no need to grow
	}
	rec.reserved = need
	r.recs[(r.head+r.n)&(len(r.recs)-1)] = rec
	r.n++
	r.held += need
	r.payload += int64(len(rec.data))
	for _, c := range r.waiters {
		select {
		case c <- struct{}{}:
		default: // already woken: one wake-up covers any number of records
		}
	}
}

// grow doubles the queue (its length stays a power of two, so that an index
// wraps with a mask) if the new slots stay within their share of the limit,
// fit the limit beside pending bytes about to be held, and fit the budget.
// r.mu is held.
func (r *Ring) grow(pending int64) bool {
	size := 2 * len(r.recs)
	if size == 0 {
		size = minSlots
	}
	cost := int64(size-len(r.recs)) * slotBytes
	if int64(size)*slotBytes > r.limit/slotShare || r.held+pending+cost > r.limit || !r.budget.reserve(cost) {
		return false
	}
	recs := make([]record, size)
	for i := 0; i < r.n; i++ {
		recs[i] = r.recs[(r.head+i)&(len(r.recs)-1)]
	}
	r.recs, r.head = recs, 0
	r.held += cost
	return true
}

// countDrop counts dropped bytes and records, in the ring and in its
// budget's totals. r.mu is held.
func (r *Ring) countDrop(bytes, records int64) {
	r.dropped += bytes
	r.droppedN += records
	r.budget.countDrop(bytes, records)
}

// dropOldest drops the oldest record and counts it. r.mu is held.
func (r *Ring) dropOldest() {
	rec := &r.recs[r.head]
	r.budget.release(rec.reserved)
	r.held -= rec.reserved
	r.payload -= int64(len(rec.data))
	r.countDrop(int64(len(rec.data)), 1)
	*rec = record{}
	r.head = (r.head + 1) & (len(r.recs) - 1)
	r.n--
	r.first++
}

// Records returns up to max records (max <= 0: all) from Seq from on, the
// Seq to read next, and how many records before the first returned one
// were dropped since from (a reader that falls behind loses the oldest).
func (r *Ring) Records(from uint64, max int) (recs []Record, next uint64, missed uint64) {
	var buf []record
	buf, next, missed = r.read(from, max, nil)
	first := next - uint64(len(buf))
	recs = make([]Record, len(buf))
	for i := range buf {
		recs[i] = buf[i].export(first + uint64(i))
	}
	return recs, next, missed
}

// read appends to buf up to max records from Seq from on (max <= 0: all).
// The records share their payload with the ring, which never writes into a
// payload it has handed out.
func (r *Ring) read(from uint64, max int, buf []record) (out []record, next, missed uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if from < r.first {
		missed = r.first - from
		from = r.first
	}
	end := r.first + uint64(r.n)
	if from >= end {
		return buf, from, missed
	}
	count := int(end - from)
	if max > 0 && count > max {
		count = max
	}
	start := int(from - r.first)
	for i := 0; i < count; i++ {
		buf = append(buf, r.recs[(r.head+start+i)&(len(r.recs)-1)])
	}
	return buf, from + uint64(count), missed
}

// End is the Seq the next record will have.
func (r *Ring) End() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first + uint64(r.n)
}

// Meta is the socket's description, with its addresses as last recorded.
func (r *Ring) Meta() Meta {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.meta
	m.Labels = maps.Clone(m.Labels)
	return m
}

// Status reports the ring's counters.
func (r *Ring) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Status{
		Enabled:        r.on.Load() && !r.released,
		RingBytes:      r.limit,
		Bytes:          r.payload,
		Records:        int64(r.n),
		DroppedBytes:   r.dropped,
		DroppedRecords: r.droppedN,
		Accounted:      r.held,
	}
}

// Notify makes the ring wake c (without blocking: c should have room for
// one) whenever it keeps a new record, and when it is released. Several
// rings may wake one channel.
func (r *Ring) Notify(c chan<- struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waiters = append(r.waiters, c)
}

// StopNotify undoes Notify(c).
func (r *Ring) StopNotify(c chan<- struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, w := range r.waiters {
		if w == c {
			r.waiters = append(r.waiters[:i], r.waiters[i+1:]...)
			return
		}
	}
}

// Stop ends recording; the ring keeps what it holds for export until
// Release. Capture turned on again is a new ring.
func (r *Ring) Stop() {
	r.mu.Lock()
	r.on.Store(false)
	r.mu.Unlock()
}

// Release stops recording and frees what the ring holds, giving its bytes
// back to the budget. Idempotent.
func (r *Ring) Release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.released {
		return
	}
	r.on.Store(false)
	r.released = true
	for r.n > 0 {
		rec := &r.recs[r.head]
		r.budget.release(rec.reserved)
		*rec = record{}
		r.head = (r.head + 1) & (len(r.recs) - 1)
		r.n--
		r.first++
	}
	r.budget.release(int64(len(r.recs)) * slotBytes)
	r.recs, r.head, r.held, r.payload = nil, 0, 0, 0
	for _, c := range r.waiters {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// Released reports whether Release was called.
func (r *Ring) Released() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.released
}
