package client

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// FaultTarget is what a fault is on: a proxy (its present and future
// connections) or one relay (one connection), by id or name. Make one with
// OnProxy or OnRelay.
type FaultTarget struct {
	Proxy string
	Relay string
}

// OnProxy targets a proxy's faults.
func OnProxy(id string) FaultTarget { return FaultTarget{Proxy: id} }

// OnRelay targets a relay's own faults.
func OnRelay(id string) FaultTarget { return FaultTarget{Relay: id} }

// AddFault adds a fault; the answer has its name (by default
// "<type>_<direction>", as latency_downstream). It is not made again when
// its answer is lost: a second add of the same name is FAULT_EXISTS.
func (c *Client) AddFault(ctx context.Context, t FaultTarget, f *sockdv1.Fault) (*sockdv1.Fault, error) {
	got, err := c.ProxyAPI().AddFault(ctx, &sockdv1.AddFaultRequest{ProxyId: t.Proxy, RelayId: t.Relay, Fault: f})
	return got, FromError(err)
}

// UpdateFault changes a live fault, named by f.Name: the fields that paths
// name take f's values ("probability"; "latency" for all of a type's
// params, or one, as "latency.jitter": the proto's field names). With no
// paths, f's probability and params replace the fault's.
func (c *Client) UpdateFault(ctx context.Context, t FaultTarget, f *sockdv1.Fault, paths ...string) (*sockdv1.Fault, error) {
	req := &sockdv1.UpdateFaultRequest{ProxyId: t.Proxy, RelayId: t.Relay, Fault: f}
	if len(paths) > 0 {
		req.UpdateMask = &fieldmaskpb.FieldMask{Paths: paths}
	}
	return idempotent(c, ctx, func(ctx context.Context, _ bool) (*sockdv1.Fault, error) {
		return c.ProxyAPI().UpdateFault(ctx, req)
	})
}

// RemoveFault removes a fault by name; the relays it applied to go back to
// the fast path. (When an answer was lost and the call is made again, the
// fault is gone: the answer then holds only its name.)
func (c *Client) RemoveFault(ctx context.Context, t FaultTarget, name string) (*sockdv1.Fault, error) {
	return idempotent(c, ctx, func(ctx context.Context, retried bool) (*sockdv1.Fault, error) {
		f, err := c.ProxyAPI().RemoveFault(ctx, &sockdv1.RemoveFaultRequest{ProxyId: t.Proxy, RelayId: t.Relay, Name: name})
		if retried && status.Code(err) == codes.NotFound {
			return &sockdv1.Fault{Name: name}, nil // the lost answer's remove did it
		}
		return f, err
	})
}

// ListFaults returns the faults of a proxy or a relay, in the order they
// were added.
func (c *Client) ListFaults(ctx context.Context, t FaultTarget) ([]*sockdv1.Fault, error) {
	resp, err := idempotent(c, ctx, func(ctx context.Context, _ bool) (*sockdv1.ListFaultsResponse, error) {
		return c.ProxyAPI().ListFaults(ctx, &sockdv1.ListFaultsRequest{ProxyId: t.Proxy, RelayId: t.Relay})
	})
	if err != nil {
		return nil, err
	}
	return resp.GetFaults(), nil
}

// Faults of each type, downstream (server to client) with probability 1
// and the default name; set the fields of the answer to change that:
//
//	f := client.LatencyFault(100*time.Millisecond, 10*time.Millisecond)
//	f.Direction = sockdv1.Direction_DIRECTION_UPSTREAM
//	f.Probability = proto.Float64(0.5)

// LatencyFault delays each chunk (TCP) or datagram (UDP) by latency ±
// jitter.
func LatencyFault(latency, jitter time.Duration) *sockdv1.Fault {
	return &sockdv1.Fault{Type: sockdv1.FaultType_FAULT_TYPE_LATENCY, Params: &sockdv1.Fault_Latency{
		Latency: &sockdv1.LatencyParams{Latency: durationpb.New(latency), Jitter: durationpb.New(jitter)}}}
}

// BandwidthFault shapes the data to bytesPerSecond.
func BandwidthFault(bytesPerSecond int64) *sockdv1.Fault {
	return &sockdv1.Fault{Type: sockdv1.FaultType_FAULT_TYPE_BANDWIDTH, Params: &sockdv1.Fault_Bandwidth{
		Bandwidth: &sockdv1.BandwidthParams{Rate: bytesPerSecond}}}
}

// SlicerFault cuts TCP data into writes of averageSize ± sizeVariation
// bytes, delay apart.
func SlicerFault(averageSize, sizeVariation int64, delay time.Duration) *sockdv1.Fault {
	return &sockdv1.Fault{Type: sockdv1.FaultType_FAULT_TYPE_SLICER, Params: &sockdv1.Fault_Slicer{
		Slicer: &sockdv1.SlicerParams{AverageSize: averageSize, SizeVariation: sizeVariation, Delay: durationpb.New(delay)}}}
}

// TimeoutFault stops moving data and closes the connection after timeout
// (0: never); on UDP it drops everything.
func TimeoutFault(timeout time.Duration) *sockdv1.Fault {
	return &sockdv1.Fault{Type: sockdv1.FaultType_FAULT_TYPE_TIMEOUT, Params: &sockdv1.Fault_Timeout{
		Timeout: &sockdv1.TimeoutParams{Timeout: durationpb.New(timeout)}}}
}

// ResetPeerFault resets both sides of a TCP connection (a real RST) after
// timeout (0: at once).
func ResetPeerFault(timeout time.Duration) *sockdv1.Fault {
	return &sockdv1.Fault{Type: sockdv1.FaultType_FAULT_TYPE_RESET_PEER, Params: &sockdv1.Fault_ResetPeer{
		ResetPeer: &sockdv1.ResetPeerParams{Timeout: durationpb.New(timeout)}}}
}

// LimitDataFault closes a TCP connection after n bytes.
func LimitDataFault(n int64) *sockdv1.Fault {
	return &sockdv1.Fault{Type: sockdv1.FaultType_FAULT_TYPE_LIMIT_DATA, Params: &sockdv1.Fault_LimitData{
		LimitData: &sockdv1.LimitDataParams{Bytes: n}}}
}

// SlowCloseFault passes a TCP close on delay late.
func SlowCloseFault(delay time.Duration) *sockdv1.Fault {
	return &sockdv1.Fault{Type: sockdv1.FaultType_FAULT_TYPE_SLOW_CLOSE, Params: &sockdv1.Fault_SlowClose{
		SlowClose: &sockdv1.SlowCloseParams{Delay: durationpb.New(delay)}}}
}

// BlackholeFault stops reading, so that the kernel's buffers fill and the
// sender blocks (TCP); on UDP it drops everything.
func BlackholeFault() *sockdv1.Fault {
	return &sockdv1.Fault{Type: sockdv1.FaultType_FAULT_TYPE_BLACKHOLE}
}

// LossFault drops percent of the datagrams, in bursts with correlation
// (percent, as netem).
func LossFault(percent, correlation float64) *sockdv1.Fault {
	return &sockdv1.Fault{Type: sockdv1.FaultType_FAULT_TYPE_LOSS, Params: &sockdv1.Fault_Loss{
		Loss: &sockdv1.LossParams{Percent: percent, Correlation: correlation}}}
}

// DuplicateFault sends percent of the datagrams twice.
func DuplicateFault(percent float64) *sockdv1.Fault {
	return &sockdv1.Fault{Type: sockdv1.FaultType_FAULT_TYPE_DUPLICATE, Params: &sockdv1.Fault_Duplicate{
		Duplicate: &sockdv1.DuplicateParams{Percent: percent}}}
}

// ReorderFault holds percent of the datagrams back past the next gap ones
// (0: 1).
func ReorderFault(percent float64, gap int32) *sockdv1.Fault {
	return &sockdv1.Fault{Type: sockdv1.FaultType_FAULT_TYPE_REORDER, Params: &sockdv1.Fault_Reorder{
		Reorder: &sockdv1.ReorderParams{Percent: percent, Gap: gap}}}
}

// CorruptFault flips one byte of percent of the datagrams.
func CorruptFault(percent float64) *sockdv1.Fault {
	return &sockdv1.Fault{Type: sockdv1.FaultType_FAULT_TYPE_CORRUPT, Params: &sockdv1.Fault_Corrupt{
		Corrupt: &sockdv1.CorruptParams{Percent: percent}}}
}
