package service

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/relay"
	"github.com/sockd/sockd/sockmgr"
)

// The conversions between the API's proxies, relays and faults and package
// relay's, which mirror them field for field (their enums have the same
// values).

func proxyToProto(p relay.ProxyInfo) *sockdv1.Proxy {
	out := &sockdv1.Proxy{
		Id:               p.ID,
		Name:             p.Name,
		Protocol:         protocolToProto(p.Protocol),
		ListenAddress:    p.ListenAddress,
		UpstreamAddress:  p.UpstreamAddress,
		Enabled:          p.Enabled,
		ListenerId:       p.ListenerID,
		Connections:      int32(p.Connections),
		TotalConnections: p.TotalConnections,
		BytesUpstream:    p.BytesUpstream,
		BytesDownstream:  p.BytesDownstream,
		Owner:            p.Owner,
		UpstreamErrors:   p.UpstreamErrors,
	}
	if !p.CreateTime.IsZero() {
		out.CreateTime = timestamppb.New(p.CreateTime)
	}
	if p.Protocol == sockmgr.UDP && p.SessionIdleTimeout > 0 {
		out.SessionIdleTimeout = durationpb.New(p.SessionIdleTimeout)
	}
	for _, f := range p.Faults {
		out.Faults = append(out.Faults, faultToProto(f))
	}
	return out
}

func relayToProto(r relay.RelayInfo) *sockdv1.Relay {
	out := &sockdv1.Relay{
		Id:              r.ID,
		Name:            r.Name,
		A:               r.A,
		B:               r.B,
		ProxyId:         r.ProxyID,
		BytesUpstream:   r.BytesUpstream,
		BytesDownstream: r.BytesDownstream,
		UpstreamPath:    string(r.UpstreamPath),
		DownstreamPath:  string(r.DownstreamPath),
		Owner:           r.Owner,
		ActiveFaults:    r.ActiveFaults,
	}
	if !r.CreateTime.IsZero() {
		out.CreateTime = timestamppb.New(r.CreateTime)
	}
	for _, f := range r.Faults {
		out.Faults = append(out.Faults, faultToProto(f))
	}
	return out
}

func dur(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

func faultToProto(f relay.Fault) *sockdv1.Fault {
	out := &sockdv1.Fault{
		Name:        f.Name,
		Type:        sockdv1.FaultType(f.Type),
		Direction:   sockdv1.Direction(f.Direction),
		Probability: f.Probability,
		Applied:     f.Applied,
	}
	switch p := f.Params.(type) {
	case relay.LatencyParams:
		out.Params = &sockdv1.Fault_Latency{Latency: &sockdv1.LatencyParams{Latency: dur(p.Latency), Jitter: dur(p.Jitter)}}
	case relay.BandwidthParams:
		out.Params = &sockdv1.Fault_Bandwidth{Bandwidth: &sockdv1.BandwidthParams{Rate: p.Rate}}
	case relay.SlicerParams:
		out.Params = &sockdv1.Fault_Slicer{Slicer: &sockdv1.SlicerParams{AverageSize: p.AverageSize, SizeVariation: p.SizeVariation, Delay: dur(p.Delay)}}
	case relay.TimeoutParams:
		out.Params = &sockdv1.Fault_Timeout{Timeout: &sockdv1.TimeoutParams{Timeout: dur(p.Timeout)}}
	case relay.ResetPeerParams:
		out.Params = &sockdv1.Fault_ResetPeer{ResetPeer: &sockdv1.ResetPeerParams{Timeout: dur(p.Timeout)}}
	case relay.LimitDataParams:
		out.Params = &sockdv1.Fault_LimitData{LimitData: &sockdv1.LimitDataParams{Bytes: p.Bytes}}
	case relay.SlowCloseParams:
		out.Params = &sockdv1.Fault_SlowClose{SlowClose: &sockdv1.SlowCloseParams{Delay: dur(p.Delay)}}
	case relay.LossParams:
		out.Params = &sockdv1.Fault_Loss{Loss: &sockdv1.LossParams{Percent: p.Percent, Correlation: p.Correlation}}
	case relay.DuplicateParams:
		out.Params = &sockdv1.Fault_Duplicate{Duplicate: &sockdv1.DuplicateParams{Percent: p.Percent}}
	case relay.ReorderParams:
		out.Params = &sockdv1.Fault_Reorder{Reorder: &sockdv1.ReorderParams{Percent: p.Percent, Gap: p.Gap}}
	case relay.CorruptParams:
		out.Params = &sockdv1.Fault_Corrupt{Corrupt: &sockdv1.CorruptParams{Percent: p.Percent}}
	}
	return out
}

// faultFromProto converts a request's fault; field names it for errors
// ("fault", "faults[2]").
func faultFromProto(field string, f *sockdv1.Fault) (relay.Fault, error) {
	if f == nil {
		return relay.Fault{}, invalidField(field, ReasonInvalidArgument, "required: a fault")
	}
	if _, ok := sockdv1.FaultType_name[int32(f.GetType())]; !ok {
		return relay.Fault{}, invalidField(field+".type", ReasonInvalidArgument, "unknown fault type %d", f.GetType())
	}
	if _, ok := sockdv1.Direction_name[int32(f.GetDirection())]; !ok {
		return relay.Fault{}, invalidField(field+".direction", ReasonInvalidArgument, "unknown direction %d", f.GetDirection())
	}
	out := relay.Fault{
		Name:        f.GetName(),
		Type:        relay.FaultType(f.GetType()),
		Direction:   relay.Direction(f.GetDirection()),
		Probability: f.Probability,
	}
	d := func(name string, v *durationpb.Duration) (time.Duration, error) {
		if v == nil {
			return 0, nil
		}
		if err := v.CheckValid(); err != nil {
			return 0, invalidField(field+"."+name, ReasonInvalidArgument, "%v", err)
		}
		return v.AsDuration(), nil
	}
	var err error
	switch p := f.GetParams().(type) {
	case *sockdv1.Fault_Latency:
		var lp relay.LatencyParams
		if lp.Latency, err = d("latency.latency", p.Latency.GetLatency()); err != nil {
			return out, err
		}
		if lp.Jitter, err = d("latency.jitter", p.Latency.GetJitter()); err != nil {
			return out, err
		}
		out.Params = lp
	case *sockdv1.Fault_Bandwidth:
		out.Params = relay.BandwidthParams{Rate: p.Bandwidth.GetRate()}
	case *sockdv1.Fault_Slicer:
		sp := relay.SlicerParams{AverageSize: p.Slicer.GetAverageSize(), SizeVariation: p.Slicer.GetSizeVariation()}
		if sp.Delay, err = d("slicer.delay", p.Slicer.GetDelay()); err != nil {
			return out, err
		}
		out.Params = sp
	case *sockdv1.Fault_Timeout:
		var tp relay.TimeoutParams
		if tp.Timeout, err = d("timeout.timeout", p.Timeout.GetTimeout()); err != nil {
			return out, err
		}
		out.Params = tp
	case *sockdv1.Fault_ResetPeer:
		var rp relay.ResetPeerParams
		if rp.Timeout, err = d("reset_peer.timeout", p.ResetPeer.GetTimeout()); err != nil {
			return out, err
		}
		out.Params = rp
	case *sockdv1.Fault_LimitData:
		out.Params = relay.LimitDataParams{Bytes: p.LimitData.GetBytes()}
	case *sockdv1.Fault_SlowClose:
		var sp relay.SlowCloseParams
		if sp.Delay, err = d("slow_close.delay", p.SlowClose.GetDelay()); err != nil {
			return out, err
		}
		out.Params = sp
	case *sockdv1.Fault_Loss:
		out.Params = relay.LossParams{Percent: p.Loss.GetPercent(), Correlation: p.Loss.GetCorrelation()}
	case *sockdv1.Fault_Duplicate:
		out.Params = relay.DuplicateParams{Percent: p.Duplicate.GetPercent()}
	case *sockdv1.Fault_Reorder:
		out.Params = relay.ReorderParams{Percent: p.Reorder.GetPercent(), Gap: p.Reorder.GetGap()}
	case *sockdv1.Fault_Corrupt:
		out.Params = relay.CorruptParams{Percent: p.Corrupt.GetPercent()}
	}
	return out, nil
}

func faultsFromProto(field string, fs []*sockdv1.Fault) ([]relay.Fault, error) {
	out := make([]relay.Fault, 0, len(fs))
	for i, f := range fs {
		rf, err := faultFromProto(sprintf("%s[%d]", field, i), f)
		if err != nil {
			return nil, err
		}
		out = append(out, rf)
	}
	return out, nil
}
