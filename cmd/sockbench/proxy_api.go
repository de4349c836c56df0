package main

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// The ProxyService and capture calls the cases make, in one place.
//
// TODO(bench): the client's own calls for ProxyService and SetCapture are
// being written (branch cli2, "client: ProxyService"); until they land these
// go over the client's connection with the generated stubs. Switch each to
// the client's call when it exists.

func createProxy(ctx context.Context, c *client.Client, req *sockdv1.CreateProxyRequest) (*sockdv1.Proxy, error) {
	p, err := sockdv1.NewProxyServiceClient(c.GRPCConn()).CreateProxy(ctx, req)
	return p, client.FromError(err)
}

func deleteProxy(ctx context.Context, c *client.Client, id string) error {
	_, err := sockdv1.NewProxyServiceClient(c.GRPCConn()).DeleteProxy(ctx, &sockdv1.DeleteProxyRequest{Id: id})
	return client.FromError(err)
}

func createRelay(ctx context.Context, c *client.Client, a, b string) (*sockdv1.Relay, error) {
	r, err := sockdv1.NewProxyServiceClient(c.GRPCConn()).CreateRelay(ctx, &sockdv1.CreateRelayRequest{A: a, B: b})
	return r, client.FromError(err)
}

func getRelay(ctx context.Context, c *client.Client, id string) (*sockdv1.Relay, error) {
	r, err := sockdv1.NewProxyServiceClient(c.GRPCConn()).GetRelay(ctx, &sockdv1.GetRelayRequest{Id: id})
	return r, client.FromError(err)
}

func deleteRelay(ctx context.Context, c *client.Client, id string) error {
	_, err := sockdv1.NewProxyServiceClient(c.GRPCConn()).DeleteRelay(ctx, &sockdv1.DeleteRelayRequest{Id: id, CloseSockets: true})
	return client.FromError(err)
}

func setCapture(ctx context.Context, c *client.Client, id string, on bool) error {
	_, err := c.API().SetCapture(ctx, &sockdv1.SetCaptureRequest{Id: id, Enabled: on})
	return client.FromError(err)
}

// latencyFault delays each chunk by d, client to upstream.
func latencyFault(d time.Duration) *sockdv1.Fault {
	return &sockdv1.Fault{Type: sockdv1.FaultType_FAULT_TYPE_LATENCY, Direction: sockdv1.Direction_DIRECTION_UPSTREAM,
		Params: &sockdv1.Fault_Latency{Latency: &sockdv1.LatencyParams{Latency: durationpb.New(d)}}}
}

// bandwidthFault shapes client to upstream to rate bytes per second.
func bandwidthFault(rate int64) *sockdv1.Fault {
	return &sockdv1.Fault{Type: sockdv1.FaultType_FAULT_TYPE_BANDWIDTH, Direction: sockdv1.Direction_DIRECTION_UPSTREAM,
		Params: &sockdv1.Fault_Bandwidth{Bandwidth: &sockdv1.BandwidthParams{Rate: rate}}}
}
