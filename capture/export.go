package capture

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// ErrExporterClosed is returned by an exporter's methods after Close.
var ErrExporterClosed = errors.New("capture: exporter closed")

// exportBatch is how many records the exporter reads from a ring at once:
// enough to amortise the ring's lock, few enough to hold little memory.
const exportBatch = 256

// Exporter writes rings as one pcapng stream: a section header, an
// interface per ring (named by its socket id) and the rings' records as
// frames, merged in time order. WriteAvailable writes what the rings hold
// beyond what was written already (a cursor per ring: nothing is written
// twice or skipped; what a ring dropped before the exporter read it is
// marked), so calling it again, or Follow, streams a live capture. Rings
// can be added at any time: pcapng allows interfaces to be described
// between packets.
//
// WriteAvailable, Follow and Close must be called from one goroutine at a
// time; Add may be called from any goroutine, also while Follow runs.
type Exporter struct {
	w    io.Writer
	wake chan struct{}

	addMu   sync.Mutex
	pending []*Ring

	mu     sync.Mutex // held while writing
	ng     *pcapgo.NgWriter
	rings  []*exportRing
	known  map[*Ring]bool
	tuples map[[2]netip.AddrPort]bool // local, remote of the TCP rings that write frames
	framer *framer
	frames atomic.Int64
	err    error // sticky: the stream is broken after a write error
	closed bool
}

// exportRing is one ring's place in the export.
type exportRing struct {
	ring   *Ring
	iface  int
	next   uint64 // the Seq to read next
	conv   *conv
	buf    []record // read from the ring, not yet written
	pos    int
	missed uint64 // records dropped before buf[pos], unseen
	end    uint64 // the ring's end when this pass started
	// emitted is set at the ring's first frame; mirror then if the export
	// already holds the other end of the same connection.
	emitted, mirror bool
}

// mirrored reports whether another ring of the export is the other end of
// er's TCP connection (both ends are sockd's sockets), and else registers
// er's addresses. tshark tells conversations apart by addresses and ports
// only, not by interface, so writing both ends would show every segment
// twice, as retransmissions: the connection is written once, by the end
// whose first frame came first, and the other end's interface stays empty.
func (e *Exporter) mirrored(er *exportRing) bool {
	if er.conv.proto != TCP {
		return false
	}
	l, r := wireAddrs(er.conv.local, er.conv.remote, er.conv.family)
	if e.tuples[[2]netip.AddrPort{r, l}] {
		return true
	}
	e.tuples[[2]netip.AddrPort{l, r}] = true
	return false
}

// NewExporter returns an exporter writing to w. Nothing is written until a
// ring is added and written, or Close is called.
func NewExporter(w io.Writer) *Exporter {
	return &Exporter{w: w, wake: make(chan struct{}, 1), known: map[*Ring]bool{}, tuples: map[[2]netip.AddrPort]bool{}, framer: newFramer()}
}

// Add adds rings to the export; their interfaces are written with the
// next WriteAvailable. A ring added twice is exported once.
func (e *Exporter) Add(rings ...*Ring) {
	e.addMu.Lock()
	e.pending = append(e.pending, rings...)
	e.addMu.Unlock()
	e.poke()
}

func (e *Exporter) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Frames is how many frames the exporter has written.
func (e *Exporter) Frames() int64 { return e.frames.Load() }

// WriteAvailable writes every record the rings hold beyond their cursors
// (as of the call: records that arrive meanwhile wait for the next call),
// merged across rings in time order, and flushes.
func (e *Exporter) WriteAvailable() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrExporterClosed
	}
	if e.err != nil {
		return e.err
	}
	e.err = e.writeAvailable()
	return e.err
}

func (e *Exporter) writeAvailable() error {
	if err := e.addPending(); err != nil {
		return err
	}
	var q recordQueue
	for _, er := range e.rings {
		er.end = er.ring.End()
		if er.next < er.end && !er.conv.addressed() {
			er.conv.refresh(er.ring.Meta())
		}
		if er.fill() {
			q = append(q, er)
		}
	}
	heap.Init(&q)
	emit := func(er *exportRing) func(*frame) error {
		return func(fr *frame) error {
			if !er.emitted {
				er.emitted = true
				er.mirror = e.mirrored(er)
			}
			if er.mirror {
				return nil
			}
			return e.writeFrame(er.iface, fr)
		}
	}
	for len(q) > 0 {
		er := q[0]
		rec := &er.buf[er.pos]
		if err := er.conv.add(e.framer, rec, er.missed, emit(er)); err != nil {
			return err
		}
		er.missed = 0
		er.buf[er.pos] = record{} // let the payload go once written
		er.pos++
		if er.fill() {
			heap.Fix(&q, 0)
		} else {
			heap.Pop(&q)
		}
	}
	if e.ng == nil {
		return nil
	}
	return e.ng.Flush()
}

// fill makes sure buf[pos] holds the ring's next record below end, reading
// a batch when buf is used up; false when there is none.
func (er *exportRing) fill() bool {
	if er.pos < len(er.buf) {
		return true
	}
	er.buf, er.pos = er.buf[:0], 0
	if er.next >= er.end {
		return false
	}
	var missed uint64
	er.buf, er.next, missed = er.ring.read(er.next, int(min(er.end-er.next, exportBatch)), er.buf)
	er.missed += missed
	if er.next > er.end {
		// The ring dropped records past end while we were behind: the pass
		// ends at what it read.
		er.end = er.next
	}
	return len(er.buf) > 0
}

// addPending writes the interfaces of rings added since the last pass,
// starting the file with the first.
func (e *Exporter) addPending() error {
	e.addMu.Lock()
	pending := e.pending
	e.pending = nil
	e.addMu.Unlock()
	for _, r := range pending {
		if r == nil || e.known[r] {
			continue
		}
		e.known[r] = true
		meta := r.Meta()
		intf := interfaceOf(meta)
		var id int
		if e.ng == nil {
			ng, err := pcapgo.NewNgWriterInterface(e.w, intf, sectionInfo)
			if err != nil {
				return err
			}
			e.ng = ng
		} else {
			var err error
			if id, err = e.ng.AddInterface(intf); err != nil {
				return err
			}
		}
		r.Notify(e.wake)
		e.rings = append(e.rings, &exportRing{ring: r, iface: id, conv: newConv(meta)})
	}
	return nil
}

var sectionInfo = pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
	Application: "sockd",
	OS:          runtime.GOOS,
	Hardware:    runtime.GOARCH,
	Comment:     "sockd capture: payloads as the sockets moved them, in synthesised IP and TCP/UDP headers (docs/capture-format.md)",
}}

// interfaceOf describes a socket as a pcapng interface: its id as the name
// (what tshark shows as frame.interface_name), its protocol, name and
// addresses as the description, its labels as the comment. Raw IP frames
// (LINKTYPE_RAW) carry IPv4 and IPv6 alike.
func interfaceOf(m Meta) pcapgo.NgInterface {
	desc := []string{"sockd " + m.Protocol.String() + " socket"}
	if m.Name != "" {
		desc = append(desc, "name "+m.Name)
	}
	if m.Local.IsValid() {
		desc = append(desc, "local "+m.Local.String())
	}
	if m.Remote.IsValid() {
		desc = append(desc, "remote "+m.Remote.String())
	}
	if m.ParentID != "" {
		desc = append(desc, "accepted by "+m.ParentID)
	}
	var comment string
	if len(m.Labels) > 0 {
		var labels []string
		for _, k := range slices.Sorted(maps.Keys(m.Labels)) {
			labels = append(labels, k+"="+m.Labels[k])
		}
		comment = "labels " + strings.Join(labels, ",")
	}
	name := m.SocketID
	if name == "" {
		name = "sockd"
	}
	return pcapgo.NgInterface{
		Name:        clip(name),
		Description: clip(strings.Join(desc, ", ")),
		Comment:     clip(comment),
		LinkType:    layers.LinkTypeRaw,
	}
}

// clip keeps a pcapng option within its 16-bit length.
func clip(s string) string {
	const max = 60000
	if len(s) > max {
		return s[:max]
	}
	return s
}

var (
	inbound  = pcapgo.NgEpbFlags{Direction: pcapgo.NgEpbFlagDirectionInbound}
	outbound = pcapgo.NgEpbFlags{Direction: pcapgo.NgEpbFlagDirectionOutbound}
)

func (e *Exporter) writeFrame(iface int, fr *frame) error {
	opts := pcapgo.NgPacketOptions{Flags: &inbound}
	if fr.outbound {
		opts.Flags = &outbound
	}
	for _, c := range fr.comments {
		opts.Comments = append(opts.Comments, clip(c))
	}
	if fr.dropCount > 0 {
		n := fr.dropCount
		opts.DropCount = &n
	}
	ci := gopacket.CaptureInfo{
		Timestamp:      time.Unix(0, fr.at),
		CaptureLength:  len(fr.data),
		Length:         len(fr.data),
		InterfaceIndex: iface,
	}
	if err := e.ng.WritePacketWithOptions(ci, fr.data, opts); err != nil {
		return err
	}
	e.frames.Add(1)
	return nil
}

// Follow writes what the rings hold, then whatever they record next, as
// it comes, until ctx is done (then it returns nil) or a write fails.
func (e *Exporter) Follow(ctx context.Context) error {
	for {
		if err := e.WriteAvailable(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-e.wake:
		}
	}
}

// Close writes what the rings hold, then each interface's statistics (the
// records its ring dropped, as isb_ifdrop), flushes and stops following
// the rings. It does not close the underlying writer. An export with no
// ring is still a valid pcapng file: a section with one idle interface.
func (e *Exporter) Close() error {
	err := e.WriteAvailable()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrExporterClosed
	}
	e.closed = true
	for _, er := range e.rings {
		er.ring.StopNotify(e.wake)
	}
	if err != nil {
		return err
	}
	if e.ng == nil {
		ng, err := pcapgo.NewNgWriterInterface(e.w, interfaceOf(Meta{}), sectionInfo)
		if err != nil {
			return err
		}
		e.ng = ng
	}
	now := time.Now()
	for _, er := range e.rings {
		st := er.ring.Status()
		stats := pcapgo.NgInterfaceStatistics{
			LastUpdate:      now,
			PacketsReceived: pcapgo.NgNoValue64,
			PacketsDropped:  uint64(st.DroppedRecords),
		}
		if err := e.ng.WriteInterfaceStats(er.iface, stats); err != nil {
			return err
		}
	}
	return e.ng.Flush()
}

// WritePcapng writes what the rings hold as one pcapng file.
func WritePcapng(w io.Writer, rings ...*Ring) error {
	e := NewExporter(w)
	e.Add(rings...)
	if err := e.Close(); err != nil {
		return fmt.Errorf("capture: writing pcapng: %w", err)
	}
	return nil
}

// recordQueue orders the rings by the time of their next record (and by
// the order they were added, for equal times), so that frames come out in
// time order across rings while each ring's stay in its own order.
type recordQueue []*exportRing

func (q recordQueue) Len() int { return len(q) }
func (q recordQueue) Less(i, j int) bool {
	a, b := q[i].buf[q[i].pos].at, q[j].buf[q[j].pos].at
	if a != b {
		return a < b
	}
	return q[i].iface < q[j].iface
}
func (q recordQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *recordQueue) Push(x any)   { *q = append(*q, x.(*exportRing)) }
func (q *recordQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
