package capture_test

import (
	"bytes"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockd/sockd/capture"
)

var peer = netip.MustParseAddrPort("127.0.0.1:9")

// captureHook is the interface sockmgr declares for its data path (it may
// not import capture): *capture.Ring satisfies it as it is, with no
// adapter, because every method takes standard-library types only.
type captureHook interface {
	Sent(at time.Time, b []byte, to netip.AddrPort)
	Received(at time.Time, b []byte, from netip.AddrPort)
	Connected(at time.Time, local, remote netip.AddrPort)
	Accepted(at time.Time, local, remote netip.AddrPort)
	Bound(at time.Time, local netip.AddrPort)
	ShutdownRead(at time.Time)
	ShutdownWrite(at time.Time)
	PeerClosed(at time.Time)
	ResetSent(at time.Time)
	ResetReceived(at time.Time)
	Closed(at time.Time)
}

var _ captureHook = (*capture.Ring)(nil)

func tcpRing(ringBytes int64, budget *capture.Budget) *capture.Ring {
	return capture.NewRing(capture.Meta{SocketID: "s", Protocol: capture.TCP}, ringBytes, budget)
}

func TestRingCopiesTheCallersBytes(t *testing.T) {
	r := tcpRing(0, nil)
	buf := []byte("first")
	r.Sent(time.Now(), buf, peer)
	copy(buf, "XXXXX")
	recs, next, missed := r.Records(0, 0)
	if len(recs) != 1 || string(recs[0].Data) != "first" || next != 1 || missed != 0 {
		t.Fatalf("records %+v next %d missed %d: want the bytes as they were when recorded", recs, next, missed)
	}
}

func TestRingRecordsInOrderWithOffsets(t *testing.T) {
	r := tcpRing(0, nil)
	t0 := time.Unix(1000, 0)
	r.Connected(t0, netip.MustParseAddrPort("127.0.0.1:1000"), peer)
	r.Sent(t0.Add(time.Second), []byte("abc"), netip.AddrPort{})
	r.Sent(t0.Add(time.Second), nil, netip.AddrPort{}) // an empty TCP write moves nothing
	r.Received(t0.Add(500*time.Millisecond), []byte("de"), netip.AddrPort{})
	r.Sent(t0.Add(3*time.Second), []byte("f"), netip.AddrPort{})
	r.ShutdownWrite(t0.Add(4 * time.Second))
	recs, _, _ := r.Records(0, 0)
	type row struct {
		kind    capture.Kind
		dir     capture.Direction
		out, in int64
		at      time.Duration
	}
	want := []row{
		{capture.KindConnected, 0, 0, 0, 0},
		{capture.KindData, capture.Out, 0, 0, time.Second},
		// Received said it happened before the send it followed: the ring
		// keeps its records in time order.
		{capture.KindData, capture.In, 3, 0, time.Second},
		{capture.KindData, capture.Out, 3, 2, 3 * time.Second},
		{capture.KindShutdownWrite, 0, 4, 2, 4 * time.Second},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d: %+v", len(recs), len(want), recs)
	}
	for i, w := range want {
		g := recs[i]
		if g.Seq != uint64(i) || g.Kind != w.kind || g.Dir != w.dir || g.OutOffset != w.out || g.InOffset != w.in || g.At.Sub(t0) != w.at {
			t.Errorf("record %d: %+v, want %+v", i, g, w)
		}
	}
	if got := r.Meta().Remote; got != peer {
		t.Errorf("remote %v after Connected, want %v", got, peer)
	}
}

func TestRingDropsOldestWhenFull(t *testing.T) {
	r := tcpRing(capture.MinRingBytes, nil)
	chunk := make([]byte, 1000)
	for i := 0; i < 200; i++ {
		chunk[0] = byte(i)
		r.Sent(time.Time{}, chunk, netip.AddrPort{})
	}
	st := r.Status()
	if st.Bytes+st.DroppedBytes != 200*1000 || st.Records+st.DroppedRecords != 200 {
		t.Fatalf("status %+v: held and dropped do not add up to the 200 records of 1000 bytes", st)
	}
	if st.Accounted > st.RingBytes || st.Accounted < st.Bytes+st.Records*32 || st.DroppedRecords == 0 {
		t.Fatalf("status %+v: the ring holds more than its limit, or dropped nothing", st)
	}
	recs, next, missed := r.Records(0, 0)
	if missed != uint64(st.DroppedRecords) || next != 200 || int64(len(recs)) != st.Records {
		t.Fatalf("read %d records, next %d, missed %d; status %+v", len(recs), next, missed, st)
	}
	// The newest survive, with their offsets: the first held record says
	// how many bytes came before it.
	first := recs[0]
	if int(first.Data[0]) != int(missed) || first.OutOffset != int64(missed)*1000 {
		t.Errorf("first held record %d at offset %d, want record %d at %d", first.Data[0], first.OutOffset, missed, missed*1000)
	}
	// A reader past the end reads nothing and misses nothing.
	if recs, next2, missed2 := r.Records(next, 0); len(recs) != 0 || next2 != next || missed2 != 0 {
		t.Errorf("reading at the end: %d records, next %d, missed %d", len(recs), next2, missed2)
	}
}

func TestRingOversizedWrites(t *testing.T) {
	r := tcpRing(capture.MinRingBytes, nil)
	big := make([]byte, 3*capture.MinRingBytes)
	for i := range big {
		big[i] = byte(i)
	}
	r.Sent(time.Time{}, big, netip.AddrPort{})
	recs, _, _ := r.Records(0, 0)
	st := r.Status()
	if len(recs) != 1 || !bytes.HasSuffix(big, recs[0].Data) || recs[0].OutOffset+int64(len(recs[0].Data)) != int64(len(big)) {
		t.Fatalf("a TCP write larger than the ring: want its last bytes at their offset, got %d records", len(recs))
	}
	if st.DroppedBytes+st.Bytes != int64(len(big)) || st.DroppedRecords != 0 {
		t.Errorf("status %+v: the cut bytes are dropped bytes, the record is kept", st)
	}

	u := capture.NewRing(capture.Meta{SocketID: "u", Protocol: capture.UDP}, capture.MinRingBytes, nil)
	u.Sent(time.Time{}, make([]byte, capture.MinRingBytes), peer)
	u.Sent(time.Time{}, nil, peer) // an empty datagram is a datagram
	recs, _, _ = u.Records(0, 0)
	st = u.Status()
	if len(recs) != 1 || len(recs[0].Data) != 0 || st.DroppedRecords != 1 || st.DroppedBytes != capture.MinRingBytes {
		t.Errorf("UDP: %d records, status %+v; want the over-sized datagram dropped whole, the empty one kept", len(recs), st)
	}
}

func TestRingBudget(t *testing.T) {
	budget := capture.NewBudget(capture.MinRingBytes)
	a, b := tcpRing(capture.MinRingBytes, budget), tcpRing(capture.MinRingBytes, budget)
	chunk := make([]byte, 4000)
	for i := 0; i < 100; i++ {
		a.Sent(time.Time{}, chunk, netip.AddrPort{})
	}
	if used := budget.Used(); used > budget.Limit() || used < budget.Limit()-5000 {
		t.Fatalf("budget used %d of %d after filling one ring", used, budget.Limit())
	}
	// The budget is full: b takes nothing, and counts what it could not keep.
	b.Sent(time.Time{}, chunk, netip.AddrPort{})
	if st := b.Status(); st.Records != 0 || st.DroppedRecords != 1 || st.DroppedBytes != 4000 {
		t.Fatalf("second ring %+v: want its record dropped by the full budget", st)
	}
	// a keeps recording within what it holds: it drops its own oldest.
	before := a.Status()
	a.Sent(time.Time{}, chunk, netip.AddrPort{})
	if st := a.Status(); st.DroppedRecords != before.DroppedRecords+1 || st.Records != before.Records {
		t.Fatalf("first ring %+v after %+v: want one of its own dropped for the new one", st, before)
	}
	a.Release()
	a.Release()
	if used := budget.Used(); used != 0 {
		t.Fatalf("budget used %d after the only holder released", used)
	}
	b.Sent(time.Time{}, chunk, netip.AddrPort{})
	if st := b.Status(); st.Records != 1 {
		t.Errorf("second ring %+v: want it to record once the budget has room", st)
	}
	if st := a.Status(); st.Enabled || st.Records != 0 {
		t.Errorf("released ring %+v: want it off and empty", st)
	}
	a.Sent(time.Time{}, chunk, netip.AddrPort{})
	if a.Status().Records != 0 || budget.Used() != b.Status().Accounted {
		t.Errorf("a released ring records nothing")
	}
	b.Release()
}

func TestRingStop(t *testing.T) {
	r := tcpRing(0, nil)
	r.Sent(time.Time{}, []byte("kept"), netip.AddrPort{})
	r.Stop()
	r.Sent(time.Time{}, []byte("ignored"), netip.AddrPort{})
	r.Closed(time.Time{})
	st := r.Status()
	if st.Enabled || st.Records != 1 || st.Bytes != 4 {
		t.Fatalf("stopped ring %+v: want it off, keeping what it held", st)
	}
}

func TestRingNotify(t *testing.T) {
	r := tcpRing(0, nil)
	c := make(chan struct{}, 1)
	r.Notify(c)
	r.Sent(time.Time{}, []byte("x"), netip.AddrPort{})
	r.Sent(time.Time{}, []byte("y"), netip.AddrPort{}) // never blocks on a full channel
	select {
	case <-c:
	default:
		t.Fatal("no wake-up after a record")
	}
	r.StopNotify(c)
	r.Sent(time.Time{}, []byte("z"), netip.AddrPort{})
	select {
	case <-c:
		t.Fatal("woken after StopNotify")
	default:
	}
}

// TestBudgetHoldsUnderLoad: 1,000 capturing rings pushing data at once (a
// reader and a writer each, as a socket's two directions) never hold more
// than the budget, measured all along by the budget's own account, and at
// the end by the rings' statuses and by the heap.
func TestBudgetHoldsUnderLoad(t *testing.T) {
	t.Run("mixed", func(t *testing.T) { budgetUnderLoad(t, 100, func(i, dir int) int { return 1 + (i*7+dir*13)%3000 }) })
	t.Run("tiny", func(t *testing.T) { budgetUnderLoad(t, 1000, func(i, dir int) int { return 1 + (i+dir)%16 }) })
}

// budgetUnderLoad pushes writes records of size(ring, direction) bytes
// into each direction of 1,000 rings at once.
func budgetUnderLoad(t *testing.T, writes int, size func(i, dir int) int) {
	const rings, limit = 1000, 8 << 20
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	budget := capture.NewBudget(limit)
	all := make([]*capture.Ring, rings)
	for i := range all {
		all[i] = capture.NewRing(capture.Meta{SocketID: "r", Protocol: capture.TCP}, capture.MinRingBytes, budget)
	}
	var maxUsed atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if u := budget.Used(); u > maxUsed.Load() {
				maxUsed.Store(u)
			}
			select {
			case <-stop:
				return
			default:
				runtime.Gosched()
			}
		}
	}()
	var wg sync.WaitGroup
	for i, r := range all {
		for dir := 0; dir < 2; dir++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, size(i, dir))
				for j := 0; j < writes; j++ {
					if dir == 0 {
						r.Sent(time.Time{}, buf, netip.AddrPort{})
					} else {
						r.Received(time.Time{}, buf, netip.AddrPort{})
					}
				}
			}()
		}
	}
	wg.Wait()
	close(stop)
	<-sampled

	var held, heldRecords, dropped, accounted int64
	for _, r := range all {
		st := r.Status()
		held += st.Bytes
		heldRecords += st.Records
		dropped += st.DroppedRecords
		accounted += st.Accounted
	}
	if accounted != budget.Used() {
		t.Errorf("rings account %d bytes, the budget %d", accounted, budget.Used())
	}
	if maxUsed.Load() > limit || budget.Used() > limit {
		t.Errorf("budget used up to %d, now %d: over its limit %d", maxUsed.Load(), budget.Used(), limit)
	}
	if dropped == 0 {
		t.Errorf("nothing dropped: the test did not fill the budget")
	}
	if _, records := budget.Dropped(); records != dropped {
		t.Errorf("budget counts %d records dropped, the rings %d", records, dropped)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if growth > limit*3/2 {
		t.Errorf("the heap grew by %d bytes with %d accounted (limit %d)", growth, accounted, limit)
	}
	t.Logf("%d rings: at most %d of %d bytes accounted, %d held in %d records, %d records dropped; heap grew %d",
		rings, maxUsed.Load(), limit, held, heldRecords, dropped, growth)
	for _, r := range all {
		r.Release()
	}
	if budget.Used() != 0 {
		t.Errorf("budget used %d after every ring released", budget.Used())
	}
}

// TestBudgetHoldsWithRealSockets is the same over real loopback TCP: 500
// connections, both ends capturing (1,000 rings), every one moving 256 KiB
// at once; the budget's account never passes its limit, and every ring ends
// with the last bytes of its own stream.
func TestBudgetHoldsWithRealSockets(t *testing.T) {
	const conns, perConn, limit = 500, 256 << 10, 16 << 20
	budget := capture.NewBudget(limit)
	var maxUsed atomic.Int64
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if u := budget.Used(); u > maxUsed.Load() {
				maxUsed.Store(u)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Microsecond):
			}
		}
	}()
	pairs := make([][2]*recordingConn, conns)
	for i := range pairs {
		c, s := tcpPair(t, "tcp4", capture.MinRingBytes, budget)
		pairs[i] = [2]*recordingConn{c, s}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*conns)
	for _, p := range pairs {
		wg.Add(2)
		go func() {
			defer wg.Done()
			chunk := make([]byte, 8<<10)
			for off := 0; off < perConn; off += len(chunk) {
				chunk[0] = byte(off >> 13)
				if _, err := p[0].Write(chunk); err != nil {
					errs <- err
					return
				}
			}
			errs <- p[0].CloseWrite()
		}()
		go func() {
			defer wg.Done()
			buf := make([]byte, 16<<10)
			var n int
			for {
				m, err := p[1].Read(buf)
				n += m
				if err != nil {
					if n != perConn {
						errs <- err
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if maxUsed.Load() > limit {
		t.Errorf("budget used up to %d, over its limit %d", maxUsed.Load(), limit)
	}
	var held, dropped int64
	for _, p := range pairs {
		for _, c := range p {
			st := c.ring.Status()
			held += st.Bytes
			dropped += st.DroppedBytes
			recs, _, _ := c.ring.Records(0, 0)
			for i := 1; i < len(recs); i++ {
				prev := recs[i-1]
				if recs[i].Kind == capture.KindData && prev.Kind == capture.KindData && prev.Dir == recs[i].Dir &&
					offsetOf(recs[i]) != offsetOf(prev)+int64(len(prev.Data)) {
					t.Fatalf("ring %s: records %d and %d are not contiguous", c.ring.Meta().SocketID, prev.Seq, recs[i].Seq)
				}
			}
		}
	}
	if total := int64(2 * conns * perConn); held+dropped != total {
		t.Errorf("rings hold %d and dropped %d bytes: %d, not the %d that moved", held, dropped, held+dropped, total)
	}
	t.Logf("%d rings over real sockets: at most %d of %d bytes accounted; %d bytes held, %d dropped", 2*conns, maxUsed.Load(), limit, held, dropped)
}

func offsetOf(r capture.Record) int64 {
	if r.Dir == capture.Out {
		return r.OutOffset
	}
	return r.InOffset
}
