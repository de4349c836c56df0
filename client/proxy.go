package client

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// The calls of sockd.v1.ProxyService: proxies, relays and their faults
// (faults.go). As with sockets, calls that may be made twice with the same
// effect (reads, updates to a value, deletes) are made again when their
// answer is lost on the way; the ones that create something are not, for a
// second CreateProxy would make another proxy.

// ProxyAPI is the generated ProxyService client, for calls and fields this
// package does not wrap. It shares the Client's connection.
func (c *Client) ProxyAPI() sockdv1.ProxyServiceClient {
	return sockdv1.NewProxyServiceClient(c.conn)
}

// ProxyOptions describe a new proxy.
type ProxyOptions struct {
	Name     string // optional, unique per owner among proxies
	UDP      bool   // a UDP proxy (one upstream socket per client address) instead of TCP
	Listen   string // where to listen, "host:port" (port 0: the kernel picks; Proxy.listen_address says which)
	Upstream string // where to relay each connection, "host:port"
	Disabled bool   // start with the listener closed (EnableProxy opens it)
	Faults   []*sockdv1.Fault
	// Capture makes every socket of the proxy record from its start, in a
	// ring of CaptureRingBytes (0: the daemon's default).
	Capture          bool
	CaptureRingBytes int64
	// SessionIdleTimeout closes a UDP session idle this long (nil: the
	// daemon's default, 60s).
	SessionIdleTimeout *time.Duration
	LeaseID            string // put the proxy's sockets under this lease
}

// CreateProxy makes a proxy: it listens at once (unless Disabled) and
// relays every connection it accepts to the upstream.
func (c *Client) CreateProxy(ctx context.Context, o ProxyOptions) (*sockdv1.Proxy, error) {
	req := &sockdv1.CreateProxyRequest{
		Name: o.Name, ListenAddress: o.Listen, UpstreamAddress: o.Upstream, Disabled: o.Disabled,
		Faults: o.Faults, SessionIdleTimeout: durationOrNil(o.SessionIdleTimeout), LeaseId: o.LeaseID,
	}
	if o.UDP {
		req.Protocol = sockdv1.Protocol_PROTOCOL_UDP
	}
	if o.Capture {
		req.Capture = &sockdv1.CaptureSettings{Enabled: true, RingBytes: o.CaptureRingBytes}
	}
	p, err := c.ProxyAPI().CreateProxy(ctx, req)
	return p, FromError(err)
}

// GetProxy returns a proxy, by id or name, with its faults and counters.
func (c *Client) GetProxy(ctx context.Context, id string) (*sockdv1.Proxy, error) {
	return idempotent(c, ctx, func(ctx context.Context, _ bool) (*sockdv1.Proxy, error) {
		return c.ProxyAPI().GetProxy(ctx, &sockdv1.GetProxyRequest{Id: id})
	})
}

// ListProxies returns every proxy of the caller, in creation order,
// following the pages.
func (c *Client) ListProxies(ctx context.Context) ([]*sockdv1.Proxy, error) {
	api := c.ProxyAPI()
	var all []*sockdv1.Proxy
	for token := ""; ; {
		resp, err := idempotent(c, ctx, func(ctx context.Context, _ bool) (*sockdv1.ListProxiesResponse, error) {
			return api.ListProxies(ctx, &sockdv1.ListProxiesRequest{PageSize: 1000, PageToken: token})
		})
		if err != nil {
			return nil, err
		}
		all = append(all, resp.GetProxies()...)
		if token = resp.GetNextPageToken(); token == "" {
			return all, nil
		}
	}
}

// EnableProxy opens (true) or closes (false) a proxy's listener. Disabling
// refuses new connections and resets the open ones; enabling binds the same
// address again.
func (c *Client) EnableProxy(ctx context.Context, id string, enabled bool) (*sockdv1.Proxy, error) {
	return c.updateProxy(ctx, &sockdv1.Proxy{Id: id, Enabled: enabled}, "enabled")
}

// SetProxyUpstream points a proxy's future connections at a new upstream
// ("host:port"); open connections keep theirs.
func (c *Client) SetProxyUpstream(ctx context.Context, id, upstream string) (*sockdv1.Proxy, error) {
	return c.updateProxy(ctx, &sockdv1.Proxy{Id: id, UpstreamAddress: upstream}, "upstream_address")
}

func (c *Client) updateProxy(ctx context.Context, p *sockdv1.Proxy, paths ...string) (*sockdv1.Proxy, error) {
	return idempotent(c, ctx, func(ctx context.Context, _ bool) (*sockdv1.Proxy, error) {
		return c.ProxyAPI().UpdateProxy(ctx, &sockdv1.UpdateProxyRequest{Proxy: p, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
	})
}

// DeleteProxy closes a proxy's listener and every connection, and returns
// its last snapshot. (When an answer was lost and the delete is made again,
// sockd no longer knows the proxy: the snapshot then holds only its id.)
func (c *Client) DeleteProxy(ctx context.Context, id string) (*sockdv1.Proxy, error) {
	return idempotent(c, ctx, func(ctx context.Context, retried bool) (*sockdv1.Proxy, error) {
		p, err := c.ProxyAPI().DeleteProxy(ctx, &sockdv1.DeleteProxyRequest{Id: id})
		if retried && status.Code(err) == codes.NotFound {
			return &sockdv1.Proxy{Id: id}, nil // the lost answer's delete did it
		}
		return p, err
	})
}

// RelayOptions describe a relay between two connected sockets of the
// caller.
type RelayOptions struct {
	Name   string // optional, unique per owner among relays
	A      string // the downstream (client's) socket, by id or name
	B      string // the upstream socket, by id or name
	Faults []*sockdv1.Fault
}

// CreateRelay relays two connected sockets, both ways, with no client in
// the path; the sockets stay ordinary sockets (inspectable, closable).
func (c *Client) CreateRelay(ctx context.Context, o RelayOptions) (*sockdv1.Relay, error) {
	r, err := c.ProxyAPI().CreateRelay(ctx, &sockdv1.CreateRelayRequest{Name: o.Name, A: o.A, B: o.B, Faults: o.Faults})
	return r, FromError(err)
}

// GetRelay returns a relay, by id or name, with its faults, counters and
// paths.
func (c *Client) GetRelay(ctx context.Context, id string) (*sockdv1.Relay, error) {
	return idempotent(c, ctx, func(ctx context.Context, _ bool) (*sockdv1.Relay, error) {
		return c.ProxyAPI().GetRelay(ctx, &sockdv1.GetRelayRequest{Id: id})
	})
}

// ListRelays returns the caller's relays — those of one proxy (id or name)
// if proxy is not empty — following the pages.
func (c *Client) ListRelays(ctx context.Context, proxy string) ([]*sockdv1.Relay, error) {
	api := c.ProxyAPI()
	var all []*sockdv1.Relay
	for token := ""; ; {
		resp, err := idempotent(c, ctx, func(ctx context.Context, _ bool) (*sockdv1.ListRelaysResponse, error) {
			return api.ListRelays(ctx, &sockdv1.ListRelaysRequest{ProxyId: proxy, PageSize: 1000, PageToken: token})
		})
		if err != nil {
			return nil, err
		}
		all = append(all, resp.GetRelays()...)
		if token = resp.GetNextPageToken(); token == "" {
			return all, nil
		}
	}
}

// DeleteRelay stops a relay. Its sockets stay open, every byte in them
// kept, unless closeSockets.
func (c *Client) DeleteRelay(ctx context.Context, id string, closeSockets bool) (*sockdv1.Relay, error) {
	return idempotent(c, ctx, func(ctx context.Context, retried bool) (*sockdv1.Relay, error) {
		r, err := c.ProxyAPI().DeleteRelay(ctx, &sockdv1.DeleteRelayRequest{Id: id, CloseSockets: closeSockets})
		if retried && status.Code(err) == codes.NotFound {
			return &sockdv1.Relay{Id: id}, nil // the lost answer's delete did it
		}
		return r, err
	})
}
