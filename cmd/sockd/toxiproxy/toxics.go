package toxiproxy

import (
	"math"
	"net/http"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// A toxic's attributes in toxiproxy's JSON and units, one struct per type.
// The struct names are toxiproxy's own (toxics/*.go), so a body that does
// not decode gets toxiproxy's words ("json: cannot unmarshal string into
// Go struct field LatencyToxic.attributes.latency of type int64").
// Each converts to and from sockd's fault parameters.
type attributes interface {
	// fromFault sets the attributes from a fault's parameters.
	fromFault(*sockdv1.Fault)
	// toFault sets a fault's parameters from the attributes, or says which
	// attribute is out of range.
	toFault(*sockdv1.Fault) *apiError
}

// LatencyToxic delays data: latency ± jitter, in milliseconds.
type LatencyToxic struct {
	Latency int64 `json:"latency"`
	Jitter  int64 `json:"jitter"`
}

// BandwidthToxic shapes data to rate KB/s (1 KB = 1000 bytes, as
// toxiproxy sleeps len/rate milliseconds per chunk).
type BandwidthToxic struct {
	Rate int64 `json:"rate"`
}

// SlicerToxic cuts data into slices of average_size ± size_variation
// bytes, delay microseconds apart.
type SlicerToxic struct {
	AverageSize   int64 `json:"average_size"`
	SizeVariation int64 `json:"size_variation"`
	Delay         int64 `json:"delay"`
}

// TimeoutToxic stops data and closes after timeout ms (0: never).
type TimeoutToxic struct {
	Timeout int64 `json:"timeout"`
}

// ResetToxic resets the connection after timeout ms.
type ResetToxic struct {
	Timeout int64 `json:"timeout"`
}

// LimitDataToxic closes after bytes bytes.
type LimitDataToxic struct {
	Bytes int64 `json:"bytes"`
}

// SlowCloseToxic delays the close by delay ms.
type SlowCloseToxic struct {
	Delay int64 `json:"delay"`
}

// BlackholeToxic (sockd's) stops reading: the sender blocks. No attributes.
type BlackholeToxic struct{}

// LossToxic (sockd's, UDP) drops percent of the datagrams, in bursts with
// correlation (percent).
type LossToxic struct {
	Percent     float64 `json:"percent"`
	Correlation float64 `json:"correlation"`
}

// DuplicateToxic (sockd's, UDP) sends percent of the datagrams twice.
type DuplicateToxic struct {
	Percent float64 `json:"percent"`
}

// ReorderToxic (sockd's, UDP) holds percent of the datagrams back past the
// next gap ones.
type ReorderToxic struct {
	Percent float64 `json:"percent"`
	Gap     int32   `json:"gap"`
}

// CorruptToxic (sockd's, UDP) flips a byte of percent of the datagrams.
type CorruptToxic struct {
	Percent float64 `json:"percent"`
}

// toxicType is one toxic type: its toxiproxy name, sockd's fault type, and
// a maker of its (zero) attributes.
type toxicType struct {
	name  string
	fault sockdv1.FaultType
	attrs func() attributes
}

// toxicTypes are toxiproxy's seven types and sockd's five more. toxiproxy's
// hidden "noop" has no sockd fault to stand for it (see docs/toxiproxy.md).
var toxicTypes = []toxicType{
	{"latency", sockdv1.FaultType_FAULT_TYPE_LATENCY, func() attributes { return &LatencyToxic{} }},
	{"bandwidth", sockdv1.FaultType_FAULT_TYPE_BANDWIDTH, func() attributes { return &BandwidthToxic{} }},
	{"slicer", sockdv1.FaultType_FAULT_TYPE_SLICER, func() attributes { return &SlicerToxic{} }},
	{"timeout", sockdv1.FaultType_FAULT_TYPE_TIMEOUT, func() attributes { return &TimeoutToxic{} }},
	{"reset_peer", sockdv1.FaultType_FAULT_TYPE_RESET_PEER, func() attributes { return &ResetToxic{} }},
	{"limit_data", sockdv1.FaultType_FAULT_TYPE_LIMIT_DATA, func() attributes { return &LimitDataToxic{} }},
	{"slow_close", sockdv1.FaultType_FAULT_TYPE_SLOW_CLOSE, func() attributes { return &SlowCloseToxic{} }},
	{"blackhole", sockdv1.FaultType_FAULT_TYPE_BLACKHOLE, func() attributes { return &BlackholeToxic{} }},
	{"loss", sockdv1.FaultType_FAULT_TYPE_LOSS, func() attributes { return &LossToxic{} }},
	{"duplicate", sockdv1.FaultType_FAULT_TYPE_DUPLICATE, func() attributes { return &DuplicateToxic{} }},
	{"reorder", sockdv1.FaultType_FAULT_TYPE_REORDER, func() attributes { return &ReorderToxic{} }},
	{"corrupt", sockdv1.FaultType_FAULT_TYPE_CORRUPT, func() attributes { return &CorruptToxic{} }},
}

// toxicTypeNamed finds a type by its toxiproxy name (case-sensitive, as
// toxiproxy's registry).
func toxicTypeNamed(name string) (toxicType, bool) {
	for _, t := range toxicTypes {
		if t.name == name {
			return t, true
		}
	}
	return toxicType{}, false
}

// toxicTypeOf finds the type of a sockd fault.
func toxicTypeOf(f sockdv1.FaultType) (toxicType, bool) {
	for _, t := range toxicTypes {
		if t.fault == f {
			return t, true
		}
	}
	return toxicType{}, false
}

// hasParams reports whether a type's fault has a params message (all but
// BLACKHOLE), which an update names in its mask.
func (t toxicType) hasParams() bool { return t.fault != sockdv1.FaultType_FAULT_TYPE_BLACKHOLE }

// maxMillis is the longest duration sockd's faults take (relay's
// MaxFaultDuration, an hour), in milliseconds.
const maxMillis = int64(time.Hour / time.Millisecond)

func attrRange(name, format string, args ...any) *apiError {
	e := newError(http.StatusBadRequest, format, args...)
	e.Message = "bad request body: attributes." + name + ": " + e.Message
	return e
}

// millis converts a toxiproxy duration in ms, checking sockd's range.
func millis(name string, ms int64) (*durationpb.Duration, *apiError) {
	if ms < 0 || ms > maxMillis {
		return nil, attrRange(name, "must be from 0 to %d (ms)", maxMillis)
	}
	if ms == 0 {
		return nil, nil
	}
	return durationpb.New(time.Duration(ms) * time.Millisecond), nil
}

// positive checks a count that sockd requires above zero.
func positive(name string, v int64, unit string) *apiError {
	if v <= 0 {
		return attrRange(name, "must be positive (%s); sockd has no zero %s", unit, name)
	}
	return nil
}

func percent(name string, p float64) *apiError {
	if math.IsNaN(p) || p < 0 || p > 100 {
		return attrRange(name, "must be a percentage from 0 to 100")
	}
	return nil
}

func ms(d *durationpb.Duration) int64 { return d.AsDuration().Milliseconds() }

func (a *LatencyToxic) fromFault(f *sockdv1.Fault) {
	a.Latency, a.Jitter = ms(f.GetLatency().GetLatency()), ms(f.GetLatency().GetJitter())
}

func (a *LatencyToxic) toFault(f *sockdv1.Fault) *apiError {
	lat, err := millis("latency", a.Latency)
	if err != nil {
		return err
	}
	jit, err := millis("jitter", a.Jitter)
	if err != nil {
		return err
	}
	f.Params = &sockdv1.Fault_Latency{Latency: &sockdv1.LatencyParams{Latency: lat, Jitter: jit}}
	return nil
}

func (a *BandwidthToxic) fromFault(f *sockdv1.Fault) { a.Rate = f.GetBandwidth().GetRate() / 1000 }

func (a *BandwidthToxic) toFault(f *sockdv1.Fault) *apiError {
	if err := positive("rate", a.Rate, "KB/s"); err != nil {
		return err
	}
	if a.Rate > math.MaxInt64/1000 {
		return attrRange("rate", "must be at most %d (KB/s)", int64(math.MaxInt64/1000))
	}
	f.Params = &sockdv1.Fault_Bandwidth{Bandwidth: &sockdv1.BandwidthParams{Rate: a.Rate * 1000}}
	return nil
}

func (a *SlicerToxic) fromFault(f *sockdv1.Fault) {
	s := f.GetSlicer()
	a.AverageSize, a.SizeVariation, a.Delay = s.GetAverageSize(), s.GetSizeVariation(), s.GetDelay().AsDuration().Microseconds()
}

func (a *SlicerToxic) toFault(f *sockdv1.Fault) *apiError {
	if err := positive("average_size", a.AverageSize, "bytes"); err != nil {
		return err
	}
	if a.SizeVariation < 0 || a.SizeVariation >= a.AverageSize {
		return attrRange("size_variation", "must be from 0 to less than average_size (bytes)")
	}
	if a.Delay < 0 || a.Delay > maxMillis*1000 {
		return attrRange("delay", "must be from 0 to %d (µs)", maxMillis*1000)
	}
	var delay *durationpb.Duration
	if a.Delay > 0 {
		delay = durationpb.New(time.Duration(a.Delay) * time.Microsecond)
	}
	f.Params = &sockdv1.Fault_Slicer{Slicer: &sockdv1.SlicerParams{AverageSize: a.AverageSize, SizeVariation: a.SizeVariation, Delay: delay}}
	return nil
}

func (a *TimeoutToxic) fromFault(f *sockdv1.Fault) { a.Timeout = ms(f.GetTimeout().GetTimeout()) }

func (a *TimeoutToxic) toFault(f *sockdv1.Fault) *apiError {
	d, err := millis("timeout", a.Timeout)
	if err != nil {
		return err
	}
	f.Params = &sockdv1.Fault_Timeout{Timeout: &sockdv1.TimeoutParams{Timeout: d}}
	return nil
}

func (a *ResetToxic) fromFault(f *sockdv1.Fault) { a.Timeout = ms(f.GetResetPeer().GetTimeout()) }

func (a *ResetToxic) toFault(f *sockdv1.Fault) *apiError {
	d, err := millis("timeout", a.Timeout)
	if err != nil {
		return err
	}
	f.Params = &sockdv1.Fault_ResetPeer{ResetPeer: &sockdv1.ResetPeerParams{Timeout: d}}
	return nil
}

func (a *LimitDataToxic) fromFault(f *sockdv1.Fault) { a.Bytes = f.GetLimitData().GetBytes() }

func (a *LimitDataToxic) toFault(f *sockdv1.Fault) *apiError {
	if err := positive("bytes", a.Bytes, "bytes"); err != nil {
		return err
	}
	f.Params = &sockdv1.Fault_LimitData{LimitData: &sockdv1.LimitDataParams{Bytes: a.Bytes}}
	return nil
}

func (a *SlowCloseToxic) fromFault(f *sockdv1.Fault) { a.Delay = ms(f.GetSlowClose().GetDelay()) }

func (a *SlowCloseToxic) toFault(f *sockdv1.Fault) *apiError {
	d, err := millis("delay", a.Delay)
	if err != nil {
		return err
	}
	f.Params = &sockdv1.Fault_SlowClose{SlowClose: &sockdv1.SlowCloseParams{Delay: d}}
	return nil
}

func (a *BlackholeToxic) fromFault(*sockdv1.Fault) {}

func (a *BlackholeToxic) toFault(f *sockdv1.Fault) *apiError {
	f.Params = nil
	return nil
}

func (a *LossToxic) fromFault(f *sockdv1.Fault) {
	a.Percent, a.Correlation = f.GetLoss().GetPercent(), f.GetLoss().GetCorrelation()
}

func (a *LossToxic) toFault(f *sockdv1.Fault) *apiError {
	if err := percent("percent", a.Percent); err != nil {
		return err
	}
	if err := percent("correlation", a.Correlation); err != nil {
		return err
	}
	f.Params = &sockdv1.Fault_Loss{Loss: &sockdv1.LossParams{Percent: a.Percent, Correlation: a.Correlation}}
	return nil
}

func (a *DuplicateToxic) fromFault(f *sockdv1.Fault) { a.Percent = f.GetDuplicate().GetPercent() }

func (a *DuplicateToxic) toFault(f *sockdv1.Fault) *apiError {
	if err := percent("percent", a.Percent); err != nil {
		return err
	}
	f.Params = &sockdv1.Fault_Duplicate{Duplicate: &sockdv1.DuplicateParams{Percent: a.Percent}}
	return nil
}

func (a *ReorderToxic) fromFault(f *sockdv1.Fault) {
	a.Percent, a.Gap = f.GetReorder().GetPercent(), f.GetReorder().GetGap()
}

func (a *ReorderToxic) toFault(f *sockdv1.Fault) *apiError {
	if err := percent("percent", a.Percent); err != nil {
		return err
	}
	if a.Gap < 0 {
		return attrRange("gap", "must not be negative")
	}
	f.Params = &sockdv1.Fault_Reorder{Reorder: &sockdv1.ReorderParams{Percent: a.Percent, Gap: a.Gap}}
	return nil
}

func (a *CorruptToxic) fromFault(f *sockdv1.Fault) { a.Percent = f.GetCorrupt().GetPercent() }

func (a *CorruptToxic) toFault(f *sockdv1.Fault) *apiError {
	if err := percent("percent", a.Percent); err != nil {
		return err
	}
	f.Params = &sockdv1.Fault_Corrupt{Corrupt: &sockdv1.CorruptParams{Percent: a.Percent}}
	return nil
}
