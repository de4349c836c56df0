package service

import (
	"context"
	"slices"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/relay"
	"github.com/sockd/sockd/sockmgr"
)

// ProxyServer implements sockd.v1.ProxyService over a relay.Manager: it
// validates requests, calls the manager and maps its errors (status.go's
// table). Proxies, relays and faults belong to their creator like sockets.
type ProxyServer struct {
	sockdv1.UnimplementedProxyServiceServer
	r        *relay.Manager
	captures *Captures // nil: capture is off on this daemon
}

var _ sockdv1.ProxyServiceServer = (*ProxyServer)(nil)

// NewProxyServer returns the ProxyService over r; captures (nil: off) record
// the sockets of proxies created with capture.
func NewProxyServer(r *relay.Manager, captures *Captures) *ProxyServer {
	return &ProxyServer{r: r, captures: captures}
}

// target is a fault request's proxy or relay: exactly one.
func target(proxyID, relayID string) (relay.Target, error) {
	switch {
	case proxyID != "" && relayID != "":
		return relay.Target{}, invalidField("relay_id", ReasonInvalidArgument, "name a proxy or a relay, not both")
	case proxyID != "":
		return relay.Target{Proxy: proxyID}, checkID("proxy_id", proxyID)
	case relayID != "":
		return relay.Target{Relay: relayID}, checkID("relay_id", relayID)
	}
	return relay.Target{}, invalidField("proxy_id", ReasonInvalidArgument, "required: the proxy (or relay_id: the relay) the fault is on")
}

// CreateProxy implements sockd.v1.ProxyService.
func (s *ProxyServer) CreateProxy(ctx context.Context, req *sockdv1.CreateProxyRequest) (*sockdv1.Proxy, error) {
	proto, err := protocolFrom("protocol", req.GetProtocol())
	if err != nil {
		return nil, err
	}
	if err := checkAddress("listen_address", req.GetListenAddress()); err != nil {
		return nil, err
	}
	if err := checkAddress("upstream_address", req.GetUpstreamAddress()); err != nil {
		return nil, err
	}
	if req.GetName() != "" {
		if err := sockmgr.ValidateName(req.GetName()); err != nil {
			return nil, invalidField("name", ReasonInvalidArgument, "%v", err)
		}
	}
	if req.GetLeaseId() != "" {
		if err := checkID("lease_id", req.GetLeaseId()); err != nil {
			return nil, err
		}
	}
	idle, err := timeoutFrom("session_idle_timeout", req.GetSessionIdleTimeout())
	if err != nil {
		return nil, err
	}
	faults, err := faultsFromProto("faults", req.GetFaults())
	if err != nil {
		return nil, err
	}
	opts := relay.ProxyOptions{
		Name: req.GetName(), Protocol: proto, ListenAddress: req.GetListenAddress(), UpstreamAddress: req.GetUpstreamAddress(),
		Disabled: req.GetDisabled(), Faults: faults, LeaseID: req.GetLeaseId(),
	}
	if idle != nil {
		opts.SessionIdleTimeout = *idle
	}
	var group *captureGroup
	if c := req.GetCapture(); c.GetEnabled() {
		if s.captures == nil {
			return nil, captureDisabled()
		}
		if c.GetRingBytes() < 0 {
			return nil, invalidField("capture.ring_bytes", ReasonInvalidArgument, "must not be negative")
		}
		// Every socket the proxy makes records, before a byte moves.
		group = &captureGroup{name: req.GetName(), ringSize: c.GetRingBytes()}
		opts.OnSocket = func(sock *sockmgr.Socket) { s.captures.Start(sock, group.ringSize, group) }
	}
	p, err := s.r.CreateProxy(ctx, PrincipalFrom(ctx).Name, opts)
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	if group != nil {
		group.mu.Lock()
		group.proxyID = p.ID
		group.mu.Unlock()
	}
	return proxyToProto(p), nil
}

// GetProxy implements sockd.v1.ProxyService.
func (s *ProxyServer) GetProxy(ctx context.Context, req *sockdv1.GetProxyRequest) (*sockdv1.Proxy, error) {
	if err := checkID("id", req.GetId()); err != nil {
		return nil, err
	}
	p, err := s.r.Proxy(scopeOf(ctx), req.GetId())
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return proxyToProto(p), nil
}

// ListProxies implements sockd.v1.ProxyService.
func (s *ProxyServer) ListProxies(ctx context.Context, req *sockdv1.ListProxiesRequest) (*sockdv1.ListProxiesResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	listing := listingDigest("ListProxies")
	after, err := decodePageToken(req.GetPageToken(), listing)
	if err != nil {
		return nil, err
	}
	ps, more := s.r.ListProxies(scopeOf(ctx), relay.ListOptions{AfterSeq: after, Limit: size})
	resp := &sockdv1.ListProxiesResponse{Proxies: make([]*sockdv1.Proxy, 0, len(ps))}
	for _, p := range ps {
		resp.Proxies = append(resp.Proxies, proxyToProto(p))
	}
	if more {
		resp.NextPageToken = encodePageToken(ps[len(ps)-1].Seq, listing)
	}
	return resp, nil
}

// UpdateProxy implements sockd.v1.ProxyService: the fields the mask names
// (over REST, the fields in the body) change; a mask naming anything else
// is refused.
func (s *ProxyServer) UpdateProxy(ctx context.Context, req *sockdv1.UpdateProxyRequest) (*sockdv1.Proxy, error) {
	p := req.GetProxy()
	if err := checkID("proxy.id", p.GetId()); err != nil {
		return nil, err
	}
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		return nil, invalidField("update_mask", ReasonInvalidArgument, "name the fields to change: enabled, upstream_address")
	}
	var u relay.ProxyUpdate
	for _, path := range paths {
		switch path {
		case "enabled":
			u.Enabled = new(p.GetEnabled())
		case "upstream_address", "upstreamAddress":
			if err := checkAddress("proxy.upstream_address", p.GetUpstreamAddress()); err != nil {
				return nil, err
			}
			u.UpstreamAddress = new(p.GetUpstreamAddress())
		case "id":
			// The path names the proxy; it does not change.
		default:
			return nil, invalidField("update_mask", ReasonInvalidArgument, "%q cannot be changed (only enabled and upstream_address)", path)
		}
	}
	info, err := s.r.UpdateProxy(ctx, scopeOf(ctx), p.GetId(), u)
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return proxyToProto(info), nil
}

// DeleteProxy implements sockd.v1.ProxyService.
func (s *ProxyServer) DeleteProxy(ctx context.Context, req *sockdv1.DeleteProxyRequest) (*sockdv1.Proxy, error) {
	if err := checkID("id", req.GetId()); err != nil {
		return nil, err
	}
	p, err := s.r.DeleteProxy(ctx, scopeOf(ctx), req.GetId())
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return proxyToProto(p), nil
}

// CreateRelay implements sockd.v1.ProxyService.
func (s *ProxyServer) CreateRelay(ctx context.Context, req *sockdv1.CreateRelayRequest) (*sockdv1.Relay, error) {
	if err := checkID("a", req.GetA()); err != nil {
		return nil, err
	}
	if err := checkID("b", req.GetB()); err != nil {
		return nil, err
	}
	if req.GetName() != "" {
		if err := sockmgr.ValidateName(req.GetName()); err != nil {
			return nil, invalidField("name", ReasonInvalidArgument, "%v", err)
		}
	}
	faults, err := faultsFromProto("faults", req.GetFaults())
	if err != nil {
		return nil, err
	}
	r, err := s.r.CreateRelay(ctx, scopeOf(ctx), relay.RelayOptions{Name: req.GetName(), A: req.GetA(), B: req.GetB(), Faults: faults})
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return relayToProto(r), nil
}

// GetRelay implements sockd.v1.ProxyService.
func (s *ProxyServer) GetRelay(ctx context.Context, req *sockdv1.GetRelayRequest) (*sockdv1.Relay, error) {
	if err := checkID("id", req.GetId()); err != nil {
		return nil, err
	}
	r, err := s.r.Relay(scopeOf(ctx), req.GetId())
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return relayToProto(r), nil
}

// ListRelays implements sockd.v1.ProxyService.
func (s *ProxyServer) ListRelays(ctx context.Context, req *sockdv1.ListRelaysRequest) (*sockdv1.ListRelaysResponse, error) {
	if req.GetProxyId() != "" {
		if err := checkID("proxy_id", req.GetProxyId()); err != nil {
			return nil, err
		}
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	listing := listingDigest("ListRelays", req.GetProxyId())
	after, err := decodePageToken(req.GetPageToken(), listing)
	if err != nil {
		return nil, err
	}
	rs, more, err := s.r.ListRelays(scopeOf(ctx), relay.RelayFilter{Proxy: req.GetProxyId(), ListOptions: relay.ListOptions{AfterSeq: after, Limit: size}})
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	resp := &sockdv1.ListRelaysResponse{Relays: make([]*sockdv1.Relay, 0, len(rs))}
	for _, r := range rs {
		resp.Relays = append(resp.Relays, relayToProto(r))
	}
	if more {
		resp.NextPageToken = encodePageToken(rs[len(rs)-1].Seq, listing)
	}
	return resp, nil
}

// DeleteRelay implements sockd.v1.ProxyService.
func (s *ProxyServer) DeleteRelay(ctx context.Context, req *sockdv1.DeleteRelayRequest) (*sockdv1.Relay, error) {
	if err := checkID("id", req.GetId()); err != nil {
		return nil, err
	}
	r, err := s.r.DeleteRelay(ctx, scopeOf(ctx), req.GetId(), req.GetCloseSockets())
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return relayToProto(r), nil
}

// AddFault implements sockd.v1.ProxyService.
func (s *ProxyServer) AddFault(ctx context.Context, req *sockdv1.AddFaultRequest) (*sockdv1.Fault, error) {
	t, err := target(req.GetProxyId(), req.GetRelayId())
	if err != nil {
		return nil, err
	}
	f, err := faultFromProto("fault", req.GetFault())
	if err != nil {
		return nil, err
	}
	got, err := s.r.AddFault(scopeOf(ctx), t, f)
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return faultToProto(got), nil
}

// UpdateFault implements sockd.v1.ProxyService.
func (s *ProxyServer) UpdateFault(ctx context.Context, req *sockdv1.UpdateFaultRequest) (*sockdv1.Fault, error) {
	t, err := target(req.GetProxyId(), req.GetRelayId())
	if err != nil {
		return nil, err
	}
	f, err := faultFromProto("fault", req.GetFault())
	if err != nil {
		return nil, err
	}
	if f.Name == "" {
		return nil, invalidField("fault.name", ReasonInvalidArgument, "required: the fault's name")
	}
	// The name is the fault's key (a REST path segment), not a change.
	paths := slices.DeleteFunc(slices.Clone(req.GetUpdateMask().GetPaths()), func(p string) bool { return p == "name" })
	got, err := s.r.UpdateFault(scopeOf(ctx), t, f, paths)
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return faultToProto(got), nil
}

// RemoveFault implements sockd.v1.ProxyService.
func (s *ProxyServer) RemoveFault(ctx context.Context, req *sockdv1.RemoveFaultRequest) (*sockdv1.Fault, error) {
	t, err := target(req.GetProxyId(), req.GetRelayId())
	if err != nil {
		return nil, err
	}
	if req.GetName() == "" {
		return nil, invalidField("name", ReasonInvalidArgument, "required: the fault's name")
	}
	got, err := s.r.RemoveFault(scopeOf(ctx), t, req.GetName())
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return faultToProto(got), nil
}

// ListFaults implements sockd.v1.ProxyService.
func (s *ProxyServer) ListFaults(ctx context.Context, req *sockdv1.ListFaultsRequest) (*sockdv1.ListFaultsResponse, error) {
	t, err := target(req.GetProxyId(), req.GetRelayId())
	if err != nil {
		return nil, err
	}
	fs, err := s.r.ListFaults(scopeOf(ctx), t)
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	resp := &sockdv1.ListFaultsResponse{Faults: make([]*sockdv1.Fault, 0, len(fs))}
	for _, f := range fs {
		resp.Faults = append(resp.Faults, faultToProto(f))
	}
	return resp, nil
}
