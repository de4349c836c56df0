package service

import (
	"errors"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/sockmgr"
)

// WatchEvents implements sockd.v1.SocketService: it streams the caller's
// socket events until the client goes away or the daemon shuts down.
func (s *Server) WatchEvents(req *sockdv1.WatchEventsRequest, stream sockdv1.SocketService_WatchEventsServer) error {
	ctx := stream.Context()
	labels, err := labelSelector("label_selector", req.GetLabelSelector())
	if err != nil {
		return err
	}
	kinds := map[sockmgr.EventKind]bool{}
	for i, k := range req.GetKinds() {
		found := false
		for mk, pk := range eventKinds {
			if pk == k {
				kinds[mk], found = true, true
			}
		}
		if !found {
			return invalidField(sprintf("kinds[%d]", i), ReasonInvalidArgument, "unknown event kind %d", k)
		}
	}
	ref := req.GetSocketId()
	if ref != "" {
		if err := checkID("socket_id", ref); err != nil {
			return err
		}
		// A name stands for the socket it names now; an id also matches
		// events of a socket that is already closed (replays).
		if sock, err := s.m.Get(scopeOf(ctx), ref); err == nil {
			ref = sock.ID()
		}
	}
	match := func(ev *sockmgr.Event) bool {
		if ref != "" && ev.Socket.ID != ref {
			return false
		}
		if len(kinds) > 0 && !kinds[ev.Kind] {
			return false
		}
		for k, v := range labels {
			if got, ok := ev.Socket.Labels[k]; !ok || got != v {
				return false
			}
		}
		return true
	}
	sub, err := s.m.Subscribe(sockmgr.SubscribeOptions{
		Scope: scopeOf(ctx), Match: match, Replay: req.Since != nil, Since: req.GetSince(),
	})
	if err != nil {
		return toStatus(ctx, err)
	}
	defer sub.Close()
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			if errors.Is(err, sockmgr.ErrManagerClosed) {
				return nil // the daemon is shutting down: end the stream cleanly
			}
			return toStatus(ctx, err)
		}
		if err := stream.Send(s.eventToProto(ev)); err != nil {
			return err
		}
	}
}
