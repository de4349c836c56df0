package service

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/sockmgr"
)

// ServerInfo is what GetServerInfo reports besides the service's own
// limits: the daemon knows its version, policy and features.
type ServerInfo struct {
	Version                string
	MaxMessageBytes        int
	MaxSockets             int
	MaxSocketsPerPrincipal int
	MaxStreamsPerPrincipal int
	IdleTimeout            time.Duration
	CallsPerSecond         float64
	RESTCallTimeout        time.Duration
	AllowBind              []string
	AllowConnect           []string
	Features               []string
}

// GetServerInfo implements sockd.v1.SocketService.
func (s *Server) GetServerInfo(ctx context.Context, _ *sockdv1.GetServerInfoRequest) (*sockdv1.ServerInfo, error) {
	i := s.cfg.Info
	limits := &sockdv1.ServerLimits{
		MaxCallBytes:           int64(s.cfg.MaxBytesPerCall),
		MaxMessageBytes:        int64(i.MaxMessageBytes),
		MaxSocketsPerPrincipal: int32(i.MaxSocketsPerPrincipal),
		MaxSockets:             int32(i.MaxSockets),
		MaxStreamsPerPrincipal: int32(i.MaxStreamsPerPrincipal),
		RetainBytes:            int64(s.m.RetainBytes()),
		CallsPerSecond:         i.CallsPerSecond,
		AttachReadAheadBytes:   coalesceLimit,
	}
	if i.IdleTimeout > 0 {
		limits.IdleTimeout = durationpb.New(i.IdleTimeout)
	}
	if i.RESTCallTimeout > 0 {
		limits.RestCallTimeout = durationpb.New(i.RESTCallTimeout)
	}
	return &sockdv1.ServerInfo{
		Version:       i.Version,
		Limits:        limits,
		Policy:        &sockdv1.PolicySummary{AllowBind: i.AllowBind, AllowConnect: i.AllowConnect},
		Features:      i.Features,
		Principal:     PrincipalFrom(ctx).Name,
		SocketOptions: sockmgr.OptionNames(),
	}, nil
}
