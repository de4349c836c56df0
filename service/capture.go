package service

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc/codes"

	"github.com/sockd/sockd/capture"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/relay"
	"github.com/sockd/sockd/sockmgr"
)

// PcapngContentType is the media type of ReadCapture's body.
const PcapngContentType = "application/x-pcapng"

// Defaults of capture.
const (
	// DefaultCaptureRetain is how long the ring of a closed socket is kept
	// for export: a connection a fault cut can still be read after it.
	DefaultCaptureRetain = 10 * time.Minute
	captureJanitorEvery  = 5 * time.Second
)

// CaptureConfig tunes Captures.
type CaptureConfig struct {
	Memory    int64         // all rings together (--capture-memory); 0: capture's default
	RingBytes int64         // a ring unless the request says (0: capture's default)
	Retain    time.Duration // a closed socket's ring is kept this long; 0: DefaultCaptureRetain
}

// Captures are the capture rings of a daemon's sockets: one per capturing
// socket, made by SetCapture (or capture at CreateSocket, or for every
// socket of a proxy created with capture), kept after the socket closes
// for CaptureConfig.Retain so that it can still be exported, and given
// back early when the shared budget runs short. Rings belong to the
// socket's owner.
type Captures struct {
	cfg    CaptureConfig
	budget *capture.Budget
	m      *sockmgr.Manager
	relays *relay.Manager // Retap after capture changes; may be nil

	mu      sync.Mutex
	byID    map[string]*captureEntry
	order   []*captureEntry // oldest first
	added   chan struct{}   // closed and replaced when a ring is added (followers add it)
	stop    chan struct{}
	stopped chan struct{}
}

type captureEntry struct {
	ring     *capture.Ring
	socketID string
	name     string
	owner    string
	group    *captureGroup // the proxy it was made for, if any
	closed   time.Time     // when the socket was seen gone (zero: open)
	stopped  bool          // capture turned off (the ring keeps what it has)
}

// captureGroup is the proxy a ring belongs to: set when the proxy was
// created with capture (its id is known once CreateProxy returns).
type captureGroup struct {
	mu       sync.Mutex
	proxyID  string
	name     string
	ringSize int64
}

func (g *captureGroup) id() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.proxyID
}

// NewCaptures returns the daemon's captures; Close stops its janitor.
func NewCaptures(m *sockmgr.Manager, relays *relay.Manager, cfg CaptureConfig) *Captures {
	if cfg.Retain <= 0 {
		cfg.Retain = DefaultCaptureRetain
	}
	c := &Captures{cfg: cfg, budget: capture.NewBudget(cfg.Memory), m: m, relays: relays,
		byID: map[string]*captureEntry{}, added: make(chan struct{}), stop: make(chan struct{}), stopped: make(chan struct{})}
	go c.janitor()
	return c
}

// SetRelays names the relays to Retap when a socket's capture changes (the
// relay manager is made after the captures, which its Config.Tap uses).
func (c *Captures) SetRelays(r *relay.Manager) { c.relays = r }

// Tap is the relay's view of a socket's capture (relay.Config.Tap).
func (c *Captures) Tap(s *sockmgr.Socket) relay.Tap {
	if h, ok := s.Capture().(*capture.Ring); ok {
		return h
	}
	return nil
}

// Close releases every ring.
func (c *Captures) Close() {
	close(c.stop)
	<-c.stopped
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.order {
		e.ring.Release()
	}
	c.byID, c.order = map[string]*captureEntry{}, nil
}

// Start turns capture on for a socket with a new ring (ringBytes 0: the
// default), replacing one it had. The ring begins with what a capture of
// the wire would have seen of the socket so far: its connection, when no
// byte has moved yet (so the export shows the handshake).
func (c *Captures) Start(s *sockmgr.Socket, ringBytes int64, group *captureGroup) {
	info := s.Info()
	meta := capture.Meta{SocketID: info.ID, Name: info.Name, Local: info.LocalAddr, Remote: info.RemoteAddr, Labels: info.Labels, ParentID: info.ParentID,
		Protocol: capture.TCP, Family: capture.IPv4}
	if info.Protocol == sockmgr.UDP {
		meta.Protocol = capture.UDP
	}
	if info.Family == sockmgr.IPv6 {
		meta.Family = capture.IPv6
	}
	if ringBytes <= 0 {
		ringBytes = c.cfg.RingBytes
	}
	ring := capture.NewRing(meta, ringBytes, c.budget)
	now := time.Now()
	untouched := info.Counters.BytesSent == 0 && info.Counters.BytesReceived == 0
	switch {
	case info.State == sockmgr.StateConnected && info.Protocol == sockmgr.TCP && untouched && info.ParentID != "":
		ring.Accepted(now, info.LocalAddr, info.RemoteAddr)
	case info.State == sockmgr.StateConnected && untouched:
		ring.Connected(now, info.LocalAddr, info.RemoteAddr)
	case info.State == sockmgr.StateBound:
		ring.Bound(now, info.LocalAddr)
	}
	e := &captureEntry{ring: ring, socketID: info.ID, name: info.Name, owner: info.Owner, group: group}
	c.mu.Lock()
	if old := c.byID[info.ID]; old != nil {
		old.ring.Release()
		c.order = slices.DeleteFunc(c.order, func(x *captureEntry) bool { return x == old })
	}
	c.byID[info.ID] = e
	c.order = append(c.order, e)
	close(c.added)
	c.added = make(chan struct{})
	c.mu.Unlock()
	s.SetCapture(ring)
	if c.relays != nil {
		c.relays.Retap(info.ID)
	}
}

// StopCapture turns a socket's capture off; its ring keeps what it holds.
func (c *Captures) StopCapture(s *sockmgr.Socket) {
	s.SetCapture(nil)
	if c.relays != nil {
		c.relays.Retap(s.ID())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.byID[s.ID()]; e != nil {
		e.ring.Stop()
		e.stopped = true
	}
}

// status is the socket's capture as the API reports it (nil: never on).
func (c *Captures) status(id string) *sockdv1.CaptureStatus {
	c.mu.Lock()
	e := c.byID[id]
	c.mu.Unlock()
	if e == nil {
		return nil
	}
	st := e.ring.Status()
	return &sockdv1.CaptureStatus{Enabled: st.Enabled, RingBytes: st.RingBytes, Bytes: st.Bytes, Records: st.Records,
		DroppedBytes: st.DroppedBytes, DroppedRecords: st.DroppedRecords}
}

// ringBytesOf is the ring size a socket captures with now (0: not on).
func (c *Captures) ringBytesOf(id string) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.byID[id]
	if e == nil || e.stopped {
		return 0, false
	}
	return e.ring.Status().RingBytes, true
}

// Used is what the rings hold against --capture-memory.
func (c *Captures) Used() int64 { return c.budget.Used() }

// selectRings finds the rings a ReadCapture names, for the caller: by socket
// (id or name; a closed socket's too, by id or the name it had), by proxy,
// or all of the caller's.
func (c *Captures) selectRings(scope sockmgr.Scope, ids []string, proxyRef string, proxyID string) ([]*captureEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*captureEntry
	add := func(e *captureEntry) {
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	for _, ref := range ids {
		var found *captureEntry
		if s, err := c.m.Get(scope, ref); err == nil {
			found = c.byID[s.ID()]
		} else if e := c.byID[ref]; e != nil && scope.Sees(e.owner) {
			found = e
		} else {
			for _, e := range c.order {
				if e.name == ref && e.name != "" && scope.Sees(e.owner) {
					found = e
				}
			}
		}
		if found == nil {
			return nil, withInfo(codes.NotFound, sprintf("no capture of socket %q: turn capture on for it first (SetCapture)", clipRef(ref)),
				ReasonSocketNotFound, map[string]string{"socketId": clipRef(ref)})
		}
		add(found)
	}
	if proxyRef != "" {
		n := len(out)
		for _, e := range c.order {
			if e.group != nil && scope.Sees(e.owner) {
				if g := e.group.id(); g == proxyID || (g != "" && g == proxyRef) || e.group.name == proxyRef {
					add(e)
				}
			}
		}
		if len(out) == n {
			return nil, withInfo(codes.NotFound, sprintf("no capture of proxy %q: create it with capture on", clipRef(proxyRef)),
				sockdv1.ErrorReason_PROXY_NOT_FOUND, map[string]string{"proxyId": clipRef(proxyRef)})
		}
	}
	if len(ids) == 0 && proxyRef == "" {
		for _, e := range c.order {
			if scope.Sees(e.owner) {
				add(e)
			}
		}
	}
	return out, nil
}

// groupMembers are the entries of a proxy's group made since, for a
// follower that adds the rings of new connections.
func (c *Captures) groupMembers(scope sockmgr.Scope, g *captureGroup) []*captureEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*captureEntry
	for _, e := range c.order {
		if e.group == g && scope.Sees(e.owner) {
			out = append(out, e)
		}
	}
	return out
}

// janitor forgets the rings of sockets closed longer than Retain ago, and,
// when the budget is nearly used up, the oldest rings of closed sockets
// first, so that open sockets keep recording.
func (c *Captures) janitor() {
	defer close(c.stopped)
	t := time.NewTicker(captureJanitorEvery)
	defer t.Stop()
	admin := sockmgr.Scope{Admin: true}
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		now := time.Now()
		c.mu.Lock()
		var keep []*captureEntry
		for _, e := range c.order {
			if e.closed.IsZero() {
				if _, err := c.m.Get(admin, e.socketID); errors.Is(err, sockmgr.ErrNotFound) {
					e.closed = now
				}
			}
			if !e.closed.IsZero() && now.Sub(e.closed) > c.cfg.Retain {
				e.ring.Release()
				delete(c.byID, e.socketID)
				continue
			}
			keep = append(keep, e)
		}
		c.order = keep
		for i := 0; i < len(c.order) && c.budget.Used() > c.budget.Limit()*9/10; {
			if e := c.order[i]; !e.closed.IsZero() {
				e.ring.Release()
				delete(c.byID, e.socketID)
				c.order = slices.Delete(c.order, i, i+1)
				continue
			}
			i++
		}
		c.mu.Unlock()
	}
}

func clipRef(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}

// bodyWriter sends what the exporter writes as HttpBody chunks.
type bodyWriter struct {
	send func(*httpbody.HttpBody) error
}

func (w bodyWriter) Write(p []byte) (int, error) {
	const chunk = 1 << 20
	for off := 0; off < len(p); off += chunk {
		end := min(off+chunk, len(p))
		if err := w.send(&httpbody.HttpBody{ContentType: PcapngContentType, Data: append([]byte(nil), p[off:end]...)}); err != nil {
			return off, err
		}
	}
	return len(p), nil
}

// SetCapture implements sockd.v1.SocketService.
func (s *Server) SetCapture(ctx context.Context, req *sockdv1.SetCaptureRequest) (*sockdv1.Socket, error) {
	sock, err := s.lookup(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	if s.cfg.Captures == nil {
		return nil, captureDisabled()
	}
	if req.GetRingBytes() < 0 {
		return nil, invalidField("ring_bytes", ReasonInvalidArgument, "must not be negative")
	}
	if req.GetEnabled() {
		s.cfg.Captures.Start(sock, req.GetRingBytes(), nil)
	} else {
		s.cfg.Captures.StopCapture(sock)
	}
	return s.socketProto(sock.Info()), nil
}

func captureDisabled() error {
	return withInfo(codes.FailedPrecondition, "capture is turned off on this sockd (--capture=false)", sockdv1.ErrorReason_CAPTURE_DISABLED, nil)
}

// ReadCapture implements sockd.v1.SocketService: the selected rings as one
// pcapng stream, in HttpBody chunks; with follow, frames as they are
// captured (and, for a proxy, its new connections) until the call ends.
func (s *Server) ReadCapture(req *sockdv1.ReadCaptureRequest, stream sockdv1.SocketService_ReadCaptureServer) error {
	ctx := stream.Context()
	caps := s.cfg.Captures
	if caps == nil {
		return captureDisabled()
	}
	for i, id := range req.GetIds() {
		if err := checkID(sprintf("ids[%d]", i), id); err != nil {
			return err
		}
	}
	proxyID := ""
	if ref := req.GetProxyId(); ref != "" {
		if err := checkID("proxy_id", ref); err != nil {
			return err
		}
		if s.cfg.Relays != nil {
			if p, err := s.cfg.Relays.Proxy(scopeOf(ctx), ref); err == nil {
				proxyID = p.ID
			}
		}
	}
	entries, err := caps.selectRings(scopeOf(ctx), req.GetIds(), req.GetProxyId(), proxyID)
	if err != nil {
		return err
	}
	exp := capture.NewExporter(bodyWriter{send: stream.Send})
	known := map[*captureEntry]bool{}
	addNew := func(es []*captureEntry) {
		for _, e := range es {
			if !known[e] {
				known[e] = true
				exp.Add(e.ring)
			}
		}
	}
	addNew(entries)
	if !req.GetFollow() {
		if err := exp.Close(); err != nil {
			return toStatus(ctx, err)
		}
		return nil
	}
	// Following: a proxy's new connections join as they come.
	var groups []*captureGroup
	if req.GetProxyId() != "" {
		for _, e := range entries {
			if e.group != nil && !slices.Contains(groups, e.group) {
				groups = append(groups, e.group)
			}
		}
	}
	followCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if len(groups) > 0 {
		wg.Go(func() {
			for {
				caps.mu.Lock()
				added := caps.added
				caps.mu.Unlock()
				for _, g := range groups {
					addNew(caps.groupMembers(scopeOf(ctx), g))
				}
				select {
				case <-followCtx.Done():
					return
				case <-added:
				}
			}
		})
	}
	err = exp.Follow(followCtx)
	cancel()
	wg.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return toStatus(ctx, err)
	}
	_ = exp.Close()
	if ctx.Err() != nil {
		return toStatus(ctx, ctx.Err())
	}
	return nil
}
