package relay

import (
	"math"
	"strings"
	"time"

	"github.com/sockd/sockd/sockmgr"
)

// Bounds of fault parameters: generous, but enough to keep a typo (a
// latency in nanoseconds read as hours) from parking a connection forever.
const (
	MaxFaultDuration = time.Hour
	MaxReorderGap    = 1000
)

// zeroParams is the type's parameters when none are given.
func zeroParams(t FaultType) Params {
	switch t {
	case FaultLatency:
		return LatencyParams{}
	case FaultBandwidth:
		return BandwidthParams{}
	case FaultSlicer:
		return SlicerParams{}
	case FaultTimeout:
		return TimeoutParams{}
	case FaultResetPeer:
		return ResetPeerParams{}
	case FaultLimitData:
		return LimitDataParams{}
	case FaultSlowClose:
		return SlowCloseParams{}
	case FaultBlackhole:
		return BlackholeParams{}
	case FaultLoss:
		return LossParams{}
	case FaultDuplicate:
		return DuplicateParams{}
	case FaultReorder:
		return ReorderParams{}
	case FaultCorrupt:
		return CorruptParams{}
	}
	return nil
}

// DefaultFaultName is the name a fault gets when it has none:
// "<type>_<direction>", as toxiproxy names toxics.
func DefaultFaultName(t FaultType, d Direction) string {
	if d == DirectionUnspecified {
		d = Downstream
	}
	return t.String() + "_" + d.String()
}

// normalizeFault checks a fault for a target of protocol proto and fills in
// its defaults (type from params, direction, name, params). field prefixes
// the field names in errors ("fault", "faults[2]").
func normalizeFault(f Fault, proto sockmgr.Protocol, field string) (Fault, error) {
	if f.Params != nil {
		pt := f.Params.FaultType()
		if f.Type == FaultUnspecified {
			f.Type = pt
		} else if f.Type != pt {
			return f, invalid(field+".type", "type %s does not match the %s parameters", f.Type, pt)
		}
	}
	if f.Type == FaultUnspecified || int(f.Type) >= len(faultTypeNames) {
		return f, invalid(field+".type", "a fault type is required")
	}
	tcp, udp := f.Type.Protocols()
	if proto == sockmgr.UDP && !udp || proto != sockmgr.UDP && !tcp {
		return f, invalid(field+".type", "%s does not apply to %s", f.Type, proto)
	}
	switch f.Direction {
	case DirectionUnspecified:
		f.Direction = Downstream
	case Upstream, Downstream:
	default:
		return f, invalid(field+".direction", "direction must be UPSTREAM or DOWNSTREAM")
	}
	if f.Name == "" {
		f.Name = DefaultFaultName(f.Type, f.Direction)
	} else if err := sockmgr.ValidateName(f.Name); err != nil {
		return f, invalid(field+".name", "%v", err)
	}
	if f.Probability != nil {
		p := *f.Probability
		if math.IsNaN(p) || p < 0 || p > 1 {
			return f, invalid(field+".probability", "probability must be from 0 to 1")
		}
		f.Probability = &p
	}
	if f.Params == nil {
		f.Params = zeroParams(f.Type)
	}
	f.Applied = 0
	return f, checkParams(f.Params, field+"."+f.Type.String())
}

func checkDuration(d time.Duration, field string) error {
	if d < 0 || d > MaxFaultDuration {
		return invalid(field, "must be from 0 to %v", MaxFaultDuration)
	}
	return nil
}

func checkPercent(p float64, field string) error {
	if math.IsNaN(p) || p < 0 || p > 100 {
		return invalid(field, "must be a percentage from 0 to 100")
	}
	return nil
}

// checkParams validates a type's parameters; field is the params' path
// ("fault.latency").
func checkParams(p Params, field string) error {
	switch p := p.(type) {
	case LatencyParams:
		if err := checkDuration(p.Latency, field+".latency"); err != nil {
			return err
		}
		return checkDuration(p.Jitter, field+".jitter")
	case BandwidthParams:
		if p.Rate <= 0 {
			return invalid(field+".rate", "the rate (bytes per second) must be positive")
		}
	case SlicerParams:
		if p.AverageSize <= 0 {
			return invalid(field+".average_size", "must be positive")
		}
		if p.SizeVariation < 0 || p.SizeVariation >= p.AverageSize {
			return invalid(field+".size_variation", "must be from 0 to less than average_size")
		}
		return checkDuration(p.Delay, field+".delay")
	case TimeoutParams:
		return checkDuration(p.Timeout, field+".timeout")
	case ResetPeerParams:
		return checkDuration(p.Timeout, field+".timeout")
	case LimitDataParams:
		if p.Bytes <= 0 {
			return invalid(field+".bytes", "must be positive")
		}
	case SlowCloseParams:
		return checkDuration(p.Delay, field+".delay")
	case BlackholeParams:
	case LossParams:
		if err := checkPercent(p.Percent, field+".percent"); err != nil {
			return err
		}
		if err := checkPercent(p.Correlation, field+".correlation"); err != nil {
			return err
		}
		if p.Correlation == 100 && p.Percent > 0 && p.Percent < 100 {
			return invalid(field+".correlation", "must be below 100 (at 100 the first datagram's fate would be every datagram's)")
		}
	case DuplicateParams:
		return checkPercent(p.Percent, field+".percent")
	case ReorderParams:
		if err := checkPercent(p.Percent, field+".percent"); err != nil {
			return err
		}
		if p.Gap < 0 || p.Gap > MaxReorderGap {
			return invalid(field+".gap", "must be from 0 (meaning 1) to %d", MaxReorderGap)
		}
	case CorruptParams:
		return checkPercent(p.Percent, field+".percent")
	default:
		return invalid(field, "unknown parameters")
	}
	return nil
}

// paramFields are the settable fields of each type's params, by their proto
// names, for update masks ("latency.jitter").
var paramFields = map[FaultType][]string{
	FaultLatency:   {"latency", "jitter"},
	FaultBandwidth: {"rate"},
	FaultSlicer:    {"average_size", "size_variation", "delay"},
	FaultTimeout:   {"timeout"},
	FaultResetPeer: {"timeout"},
	FaultLimitData: {"bytes"},
	FaultSlowClose: {"delay"},
	FaultBlackhole: {},
	FaultLoss:      {"percent", "correlation"},
	FaultDuplicate: {"percent"},
	FaultReorder:   {"percent", "gap"},
	FaultCorrupt:   {"percent"},
}

// setParamField copies one field from src to dst (both of the same type).
func setParamField(dst, src Params, name string) Params {
	switch d := dst.(type) {
	case LatencyParams:
		s := src.(LatencyParams)
		if name == "latency" {
			d.Latency = s.Latency
		} else {
			d.Jitter = s.Jitter
		}
		return d
	case BandwidthParams:
		d.Rate = src.(BandwidthParams).Rate
		return d
	case SlicerParams:
		s := src.(SlicerParams)
		switch name {
		case "average_size":
			d.AverageSize = s.AverageSize
		case "size_variation":
			d.SizeVariation = s.SizeVariation
		default:
			d.Delay = s.Delay
		}
		return d
	case TimeoutParams:
		return src
	case ResetPeerParams:
		return src
	case LimitDataParams:
		return src
	case SlowCloseParams:
		return src
	case LossParams:
		s := src.(LossParams)
		if name == "percent" {
			d.Percent = s.Percent
		} else {
			d.Correlation = s.Correlation
		}
		return d
	case DuplicateParams:
		return src
	case ReorderParams:
		s := src.(ReorderParams)
		if name == "percent" {
			d.Percent = s.Percent
		} else {
			d.Gap = s.Gap
		}
		return d
	case CorruptParams:
		return src
	}
	return dst
}

// updateFault applies an update to a fault: the fields named by paths
// ("probability", "<type>" for all its params, "<type>.<field>"), or with no
// paths the probability and all the params. Name, type and direction cannot
// change (naming them with the same value is allowed).
func updateFault(old, upd Fault, paths []string, field string) (Fault, error) {
	if upd.Params != nil && upd.Params.FaultType() != old.Type {
		return old, invalid(field+"."+upd.Params.FaultType().String(), "the fault is %s; its type cannot change", old.Type)
	}
	if upd.Type != FaultUnspecified && upd.Type != old.Type {
		return old, invalid(field+".type", "the fault is %s; its type cannot change", old.Type)
	}
	params := upd.Params
	if params == nil {
		params = zeroParams(old.Type)
	}
	nf := old
	if len(paths) == 0 {
		nf.Probability = upd.Probability
		nf.Params = params
	}
	prefix := old.Type.String()
	for _, path := range paths {
		path = strings.TrimPrefix(path, "fault.")
		switch {
		case path == "probability":
			nf.Probability = upd.Probability
		case path == "name":
			if upd.Name != "" && upd.Name != old.Name {
				return old, invalid(field+".name", "a fault's name cannot change (remove it and add it again)")
			}
		case path == "type":
		case path == "direction":
			if upd.Direction != DirectionUnspecified && upd.Direction != old.Direction {
				return old, invalid(field+".direction", "a fault's direction cannot change")
			}
		case path == prefix:
			nf.Params = params
		case strings.HasPrefix(path, prefix+"."):
			name := strings.TrimPrefix(path, prefix+".")
			known := false
			for _, f := range paramFields[old.Type] {
				known = known || f == name
			}
			if !known {
				return old, invalid("update_mask", "%q is not a field of %s", path, prefix)
			}
			nf.Params = setParamField(nf.Params, params, name)
		default:
			return old, invalid("update_mask", "%q is not an updatable field of a %s fault (probability, %s, %s.<field>)", path, prefix, prefix, prefix)
		}
	}
	if nf.Probability != nil {
		p := *nf.Probability
		if math.IsNaN(p) || p < 0 || p > 1 {
			return old, invalid(field+".probability", "probability must be from 0 to 1")
		}
		nf.Probability = &p
	}
	if err := checkParams(nf.Params, field+"."+prefix); err != nil {
		return old, err
	}
	return nf, nil
}
