package client

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// limits are what the client sizes its calls by, from ServerInfo.limits.
type limits struct {
	maxCall    int   // data in one Send, Recv, datagram or Attach message
	maxMessage int   // the largest request message sockd receives
	retain     int64 // stream bytes sockd retains for a retry; 0: it keeps no offsets
	readAhead  int64 // Attach bytes sockd reads ahead of its writes to the socket
}

// defaultLimits are sockd's defaults, for a sockd that cannot say (one
// older than GetServerInfo): 4 MiB per call, requests up to twice that.
// (A sockd that does not report its Attach read-ahead reads 2 MiB ahead.)
var defaultLimits = limits{maxCall: 4 << 20, maxMessage: 2*(4<<20) + 64<<10, readAhead: 2 << 20}

// maxReceive is the largest answer the client accepts: room for sockd's
// highest per-call limit (64 MiB) and a page of a list.
const maxReceive = 64<<20 + 1<<20

// serverInfo is what GetServerInfo said, once per connection.
type serverInfo struct {
	pb     *sockdv1.ServerInfo
	limits limits
}

// ServerInfo returns sockd's version, the limits it enforces, its address
// policy and the features that are on. It asks once per Client and
// remembers the answer.
func (c *Client) ServerInfo(ctx context.Context) (*sockdv1.ServerInfo, error) {
	info, err := c.serverInfo(ctx)
	if err != nil {
		return nil, err
	}
	return info.pb, nil
}

func (c *Client) serverInfo(ctx context.Context) (*serverInfo, error) {
	if info := c.info.Load(); info != nil {
		return info, nil
	}
	c.infoMu.Lock()
	defer c.infoMu.Unlock()
	if info := c.info.Load(); info != nil {
		return info, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pb, err := idempotent(c, ctx, func(ctx context.Context, _ bool) (*sockdv1.ServerInfo, error) {
		return c.api.GetServerInfo(ctx, &sockdv1.GetServerInfoRequest{})
	})
	switch {
	case status.Code(err) == codes.Unimplemented:
		// A sockd from before GetServerInfo: its defaults, and no offsets.
		pb = &sockdv1.ServerInfo{Limits: &sockdv1.ServerLimits{
			MaxCallBytes: int64(defaultLimits.maxCall), MaxMessageBytes: int64(defaultLimits.maxMessage),
		}}
	case err != nil:
		return nil, err
	}
	info := &serverInfo{pb: pb, limits: limitsOf(pb.GetLimits())}
	c.info.Store(info)
	return info, nil
}

// limitsOf reads ServerLimits, with the defaults for what it leaves unset.
func limitsOf(l *sockdv1.ServerLimits) limits {
	out := defaultLimits
	if n := l.GetMaxCallBytes(); n > 0 {
		out.maxCall = int(n)
		out.maxMessage = 2*out.maxCall + 64<<10 // sockd's own rule, if it does not say
	}
	if n := l.GetMaxMessageBytes(); n > 0 {
		out.maxMessage = int(n)
	}
	out.retain = max(l.GetRetainBytes(), 0)
	if n := l.GetAttachReadAheadBytes(); n > 0 {
		out.readAhead = n
	}
	return out
}

// limits are the server's limits, or the defaults when it cannot be asked
// now (the call that needs them then fails or succeeds on its own).
func (c *Client) limits(ctx context.Context) limits {
	info, err := c.serverInfo(ctx)
	if err != nil {
		return defaultLimits
	}
	return info.limits
}

// callOptions size a call's request by the server's limit.
func (l limits) callOptions() []grpc.CallOption {
	return []grpc.CallOption{grpc.MaxCallSendMsgSize(l.maxMessage)}
}

// offsets reports whether sockd keeps stream offsets (DESIGN.md, "Offsets").
func (l limits) offsets() bool { return l.retain > 0 }
