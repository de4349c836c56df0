package service

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/sockmgr"
)

func leaseToProto(l sockmgr.LeaseInfo) *sockdv1.Lease {
	out := &sockdv1.Lease{Id: l.ID, Ttl: durationpb.New(l.TTL), SocketCount: int32(l.Sockets), Owner: l.Owner}
	if !l.Expires.IsZero() {
		out.ExpireTime = timestamppb.New(l.Expires)
	}
	return out
}

// CreateLease implements sockd.v1.SocketService.
func (s *Server) CreateLease(ctx context.Context, req *sockdv1.CreateLeaseRequest) (*sockdv1.Lease, error) {
	ttl, err := timeoutFrom("ttl", req.GetTtl())
	if err != nil {
		return nil, err
	}
	if ttl == nil {
		return nil, invalidField("ttl", ReasonInvalidArgument, "required: how long the lease lives without renewal (1s to 24h)")
	}
	l, err := s.m.CreateLease(PrincipalFrom(ctx).Name, *ttl)
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return leaseToProto(l), nil
}

// KeepAliveLease implements sockd.v1.SocketService: the lease cannot lapse
// while this stream is open; its TTL starts when the stream ends (the client
// went away, or crashed).
func (s *Server) KeepAliveLease(req *sockdv1.KeepAliveLeaseRequest, stream sockdv1.SocketService_KeepAliveLeaseServer) error {
	ctx := stream.Context()
	if err := checkID("id", req.GetId()); err != nil {
		return err
	}
	release, err := s.m.KeepLease(scopeOf(ctx), req.GetId())
	if err != nil {
		return toStatus(ctx, err)
	}
	defer release()
	for {
		l, err := s.m.Lease(scopeOf(ctx), req.GetId())
		if err != nil {
			return toStatus(ctx, err) // revoked meanwhile
		}
		if err := stream.Send(leaseToProto(l)); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(max(l.TTL/3, 100*time.Millisecond)):
		}
	}
}

// RevokeLease implements sockd.v1.SocketService.
func (s *Server) RevokeLease(ctx context.Context, req *sockdv1.RevokeLeaseRequest) (*sockdv1.Lease, error) {
	if err := checkID("id", req.GetId()); err != nil {
		return nil, err
	}
	l, err := s.m.RevokeLease(scopeOf(ctx), req.GetId())
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return leaseToProto(l), nil
}

// GetLease implements sockd.v1.SocketService.
func (s *Server) GetLease(ctx context.Context, req *sockdv1.GetLeaseRequest) (*sockdv1.Lease, error) {
	if err := checkID("id", req.GetId()); err != nil {
		return nil, err
	}
	l, err := s.m.Lease(scopeOf(ctx), req.GetId())
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return leaseToProto(l), nil
}

// ListLeases implements sockd.v1.SocketService.
func (s *Server) ListLeases(ctx context.Context, req *sockdv1.ListLeasesRequest) (*sockdv1.ListLeasesResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	listing := listingDigest("ListLeases")
	after, err := decodePageToken(req.GetPageToken(), listing)
	if err != nil {
		return nil, err
	}
	leases, more := s.m.Leases(scopeOf(ctx), after, size)
	resp := &sockdv1.ListLeasesResponse{Leases: make([]*sockdv1.Lease, 0, len(leases))}
	for _, l := range leases {
		resp.Leases = append(resp.Leases, leaseToProto(l))
	}
	if more {
		resp.NextPageToken = encodePageToken(leases[len(leases)-1].Seq, listing)
	}
	return resp, nil
}
