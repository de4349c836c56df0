package relay

import (
	"net/netip"
	"time"

	"github.com/sockd/sockd/sockmgr"
)

// Direction is which way through a relay a fault applies, as in toxiproxy.
// The values are those of sockd.v1.Direction.
type Direction uint8

const (
	// DirectionUnspecified is treated as Downstream.
	DirectionUnspecified Direction = 0
	// Upstream is client to upstream server: a relay's a to b.
	Upstream Direction = 1
	// Downstream is upstream server to client: a relay's b to a.
	Downstream Direction = 2
)

func (d Direction) String() string {
	switch d {
	case Upstream:
		return "upstream"
	case Downstream:
		return "downstream"
	}
	return "unspecified"
}

// FaultType is what a fault does. The values are those of sockd.v1.FaultType.
type FaultType uint8

const (
	FaultUnspecified FaultType = 0
	FaultLatency     FaultType = 1  // TCP, UDP: delay by latency ± jitter
	FaultBandwidth   FaultType = 2  // TCP, UDP: shape to a rate
	FaultSlicer      FaultType = 3  // TCP: cut into small writes
	FaultTimeout     FaultType = 4  // TCP: drop data, close after timeout; UDP: drop all
	FaultResetPeer   FaultType = 5  // TCP: RST both sides after timeout
	FaultLimitData   FaultType = 6  // TCP: close after N bytes
	FaultSlowClose   FaultType = 7  // TCP: pass the close on late
	FaultBlackhole   FaultType = 8  // TCP: stop reading (backpressure); UDP: drop all
	FaultLoss        FaultType = 9  // UDP: drop datagrams
	FaultDuplicate   FaultType = 10 // UDP: send datagrams twice
	FaultReorder     FaultType = 11 // UDP: hold datagrams back past the next gap ones
	FaultCorrupt     FaultType = 12 // UDP: flip one byte
)

var faultTypeNames = [...]string{
	FaultUnspecified: "unspecified",
	FaultLatency:     "latency",
	FaultBandwidth:   "bandwidth",
	FaultSlicer:      "slicer",
	FaultTimeout:     "timeout",
	FaultResetPeer:   "reset_peer",
	FaultLimitData:   "limit_data",
	FaultSlowClose:   "slow_close",
	FaultBlackhole:   "blackhole",
	FaultLoss:        "loss",
	FaultDuplicate:   "duplicate",
	FaultReorder:     "reorder",
	FaultCorrupt:     "corrupt",
}

// String is the type's lower-case name, as toxiproxy spells its toxics
// ("latency", "reset_peer", ...); it is also the default fault name's stem
// and the params' field-mask prefix.
func (t FaultType) String() string {
	if int(t) < len(faultTypeNames) {
		return faultTypeNames[t]
	}
	return "unknown"
}

// FaultTypes lists every valid fault type, in enum order.
func FaultTypes() []FaultType {
	ts := make([]FaultType, 0, len(faultTypeNames)-1)
	for t := FaultLatency; int(t) < len(faultTypeNames); t++ {
		ts = append(ts, t)
	}
	return ts
}

// ParseFaultType reads a type's name as String writes it.
func ParseFaultType(name string) (FaultType, bool) {
	for t := FaultLatency; int(t) < len(faultTypeNames); t++ {
		if faultTypeNames[t] == name {
			return t, true
		}
	}
	return FaultUnspecified, false
}

// Protocols reports which protocols a fault type applies to.
func (t FaultType) Protocols() (tcp, udp bool) {
	switch t {
	case FaultLatency, FaultBandwidth, FaultTimeout, FaultBlackhole:
		return true, true
	case FaultSlicer, FaultResetPeer, FaultLimitData, FaultSlowClose:
		return true, false
	case FaultLoss, FaultDuplicate, FaultReorder, FaultCorrupt:
		return false, true
	}
	return false, false
}

// Params are a fault's parameters: one of the *Params types below, as the
// proto's oneof. Each names its type, so a Fault's Type may be left unset.
type Params interface {
	FaultType() FaultType
}

// LatencyParams delay each chunk (TCP) or datagram (UDP) by Latency ±
// Jitter (uniform).
type LatencyParams struct {
	Latency time.Duration
	Jitter  time.Duration
}

// BandwidthParams shape data to Rate bytes per second.
type BandwidthParams struct {
	Rate int64
}

// SlicerParams cut data into writes of AverageSize ± SizeVariation bytes,
// Delay apart.
type SlicerParams struct {
	AverageSize   int64
	SizeVariation int64
	Delay         time.Duration
}

// TimeoutParams stop moving data; after Timeout (0: never) the connection
// is closed.
type TimeoutParams struct {
	Timeout time.Duration
}

// ResetPeerParams reset both sides of the connection after Timeout (0: at
// once).
type ResetPeerParams struct {
	Timeout time.Duration
}

// LimitDataParams close the connection once Bytes bytes have passed.
type LimitDataParams struct {
	Bytes int64
}

// SlowCloseParams hold the close (EOF) back for Delay.
type SlowCloseParams struct {
	Delay time.Duration
}

// BlackholeParams has no parameters; it exists so that every type has one.
type BlackholeParams struct{}

// LossParams drop Percent of datagrams; Correlation (percent) is the
// correlation of each datagram's fate with the previous one's, so that
// losses come in bursts (see docs/relay.md for how it keeps the rate).
type LossParams struct {
	Percent     float64
	Correlation float64
}

// DuplicateParams send Percent of datagrams twice.
type DuplicateParams struct {
	Percent float64
}

// ReorderParams hold Percent of datagrams back until Gap (default 1) later
// ones have passed.
type ReorderParams struct {
	Percent float64
	Gap     int32
}

// CorruptParams flip one byte of Percent of datagrams.
type CorruptParams struct {
	Percent float64
}

func (LatencyParams) FaultType() FaultType   { return FaultLatency }
func (BandwidthParams) FaultType() FaultType { return FaultBandwidth }
func (SlicerParams) FaultType() FaultType    { return FaultSlicer }
func (TimeoutParams) FaultType() FaultType   { return FaultTimeout }
func (ResetPeerParams) FaultType() FaultType { return FaultResetPeer }
func (LimitDataParams) FaultType() FaultType { return FaultLimitData }
func (SlowCloseParams) FaultType() FaultType { return FaultSlowClose }
func (BlackholeParams) FaultType() FaultType { return FaultBlackhole }
func (LossParams) FaultType() FaultType      { return FaultLoss }
func (DuplicateParams) FaultType() FaultType { return FaultDuplicate }
func (ReorderParams) FaultType() FaultType   { return FaultReorder }
func (CorruptParams) FaultType() FaultType   { return FaultCorrupt }

// Fault is one fault on a proxy or a relay, as sockd.v1.Fault.
type Fault struct {
	// Name is unique on its proxy or relay; default "<type>_<direction>"
	// (latency_downstream), as toxiproxy names toxics.
	Name string
	// Type is what it does; it may be left unset when Params says.
	Type FaultType
	// Direction is which way it applies; unset means Downstream.
	Direction Direction
	// Probability (0 to 1) that it applies to a given connection or UDP
	// session, rolled once per connection and direction; nil means 1.
	Probability *float64
	// Params are the type's parameters (nil: the type's zero parameters).
	Params Params
	// Applied is output only: connections or sessions it was rolled on and
	// applied to.
	Applied uint64
}

// Prob is the fault's probability, 1 when unset.
func (f Fault) Prob() float64 {
	if f.Probability == nil {
		return 1
	}
	return *f.Probability
}

// Path is how a direction of a relay moves bytes now.
type Path string

const (
	// PathSplice: TCP with no fault that needs user space; bytes move in
	// the kernel with splice(2) (bandwidth and limit_data keep it).
	PathSplice Path = "splice"
	// PathDirect: UDP with no fault; datagrams move in batches
	// (recvmmsg/sendmmsg) without a queue.
	PathDirect Path = "direct"
	// PathUser: through sockd's user-space path, for faults.
	PathUser Path = "user"
	// PathDone: this direction has ended (EOF passed on, or the relay ended).
	PathDone Path = "done"
)

// ProxyInfo is a snapshot of a proxy, as sockd.v1.Proxy.
type ProxyInfo struct {
	Seq      uint64 // creation order (unique, increasing): a position for paging
	ID       string
	Name     string
	Protocol sockmgr.Protocol
	// ListenAddress is where it listens; after creation the bound address
	// (port 0 resolved).
	ListenAddress   string
	UpstreamAddress string
	Enabled         bool
	Faults          []Fault
	// ListenerID is the listening socket's id (TCP) or the bound socket's
	// (UDP); empty while disabled.
	ListenerID string
	// Connections open now (TCP) or sessions (UDP).
	Connections int
	// TotalConnections accepted (TCP) or sessions made (UDP).
	TotalConnections uint64
	BytesUpstream    uint64 // client to upstream, over every connection
	BytesDownstream  uint64 // upstream to client
	UpstreamErrors   uint64 // upstream connects (or UDP sessions) that failed
	Owner            string
	CreateTime       time.Time
	// SessionIdleTimeout closes a UDP session idle this long.
	SessionIdleTimeout time.Duration
	LeaseID            string
}

// RelayInfo is a snapshot of a relay, as sockd.v1.Relay.
type RelayInfo struct {
	Seq      uint64 // creation order (unique, increasing): a position for paging
	ID       string
	Name     string
	Protocol sockmgr.Protocol
	// A is the downstream (client's) socket; for a UDP proxy's session it
	// is the proxy's shared bound socket and ClientAddr says which client.
	A string
	// B is the upstream socket.
	B string
	// ClientAddr is the client of a UDP proxy's session (zero otherwise).
	ClientAddr netip.AddrPort
	ProxyID    string
	// Faults are this relay's own (a proxy's faults are on its proxy).
	Faults          []Fault
	BytesUpstream   uint64 // a to b
	BytesDownstream uint64 // b to a
	// DatagramsUpstream and DatagramsDownstream count UDP datagrams passed.
	DatagramsUpstream   uint64
	DatagramsDownstream uint64
	UpstreamPath        Path
	DownstreamPath      Path
	Owner               string
	CreateTime          time.Time
	// ActiveFaults names the faults (its own and its proxy's) rolled to
	// apply to this connection, in the order they apply.
	ActiveFaults []string
	// Ended is set in the snapshot of a relay_ended event: why it ended.
	Ended string
}

// FaultInfo is the subject of fault events: a fault and where it is set.
type FaultInfo struct {
	ProxyID string // set for a proxy's fault
	RelayID string // set for a relay's fault
	Fault   Fault
}

// Target names where a fault is set: a proxy or a relay (exactly one, by id
// or name).
type Target struct {
	Proxy string
	Relay string
}

// Event kinds published on sockmgr's feed (sockmgr.Manager.Publish). The
// subject is a ProxyInfo, a RelayInfo or a FaultInfo.
const (
	EventProxyCreated sockmgr.EventKind = "proxy_created"
	EventProxyUpdated sockmgr.EventKind = "proxy_updated" // detail: what changed
	EventProxyDeleted sockmgr.EventKind = "proxy_deleted"
	EventRelayCreated sockmgr.EventKind = "relay_created"
	EventRelayEnded   sockmgr.EventKind = "relay_ended" // detail: why (RelayInfo.Ended)
	EventFaultAdded   sockmgr.EventKind = "fault_added"
	EventFaultUpdated sockmgr.EventKind = "fault_updated"
	EventFaultRemoved sockmgr.EventKind = "fault_removed"
	// EventUpstreamError: a proxy's connect to its upstream failed (detail:
	// the error); the subject is the proxy.
	EventUpstreamError sockmgr.EventKind = "proxy_upstream_error"
)

// Stats are the relay manager's totals for metrics. Counters only grow;
// Proxies and Relays are counted when Stats is called.
type Stats struct {
	Proxies int // open now
	Relays  int // open now (TCP connections and UDP sessions included)
	// Bytes moved by every relay that ever was, by direction
	// (sockd_relay_bytes_total{direction}).
	Bytes map[Direction]uint64
	// Datagrams moved by UDP relays, by direction.
	Datagrams map[Direction]uint64
	// FaultsApplied counts, by type, the connections and sessions a fault
	// was rolled on and applied to (sockd_faults_applied_total{type}).
	FaultsApplied map[FaultType]uint64
	// RelaysCreated and RelaysEnded since the start; RelaysEndedBy by reason
	// ("eof", "reset", "closed", "deleted", "fault", "idle", "proxy", "shutdown").
	RelaysCreated uint64
	RelaysEndedBy map[string]uint64
	// ProxyConnections accepted (TCP) or sessions made (UDP) by proxies, and
	// UpstreamErrors, the ones whose upstream could not be reached.
	ProxyConnections uint64
	UpstreamErrors   uint64
}
