package service

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/relay"
	"github.com/sockd/sockd/sockmgr"
)

// toProto converts a socket snapshot to the API's Socket.
func toProto(i sockmgr.Info) *sockdv1.Socket {
	s := &sockdv1.Socket{
		Id:                  i.ID,
		Name:                i.Name,
		Labels:              i.Labels,
		Protocol:            protocolToProto(i.Protocol),
		Family:              familyToProto(i.Family),
		State:               stateToProto(i.State),
		Fd:                  int32(i.FD),
		ParentId:            i.ParentID,
		Owner:               i.Owner,
		BytesSent:           i.Counters.BytesSent,
		BytesReceived:       i.Counters.BytesReceived,
		DatagramsSent:       i.Counters.DatagramsSent,
		DatagramsReceived:   i.Counters.DatagramsReceived,
		AcceptedConnections: i.Counters.Accepted,
		Connecting:          i.Connecting,
		ReadShutdown:        i.ReadShut,
		WriteShutdown:       i.WriteShut,
		CreateTime:          timestamppb.New(i.CreateTime),
		LastActivityTime:    timestamppb.New(i.LastActivity),
	}
	if i.LocalAddr.IsValid() {
		s.LocalAddress = i.LocalAddr.String()
	}
	if i.RemoteAddr.IsValid() {
		s.RemoteAddress = i.RemoteAddr.String()
	}
	if i.Timeout != nil {
		s.Timeout = durationpb.New(*i.Timeout)
	}
	if i.IdleTimeout > 0 {
		s.IdleTimeout = durationpb.New(i.IdleTimeout)
	}
	s.LeaseId = i.LeaseID
	return s
}

func protocolToProto(p sockmgr.Protocol) sockdv1.Protocol {
	if p == sockmgr.UDP {
		return sockdv1.Protocol_PROTOCOL_UDP
	}
	return sockdv1.Protocol_PROTOCOL_TCP
}

func familyToProto(f sockmgr.Family) sockdv1.Family {
	if f == sockmgr.IPv6 {
		return sockdv1.Family_FAMILY_IPV6
	}
	return sockdv1.Family_FAMILY_IPV4
}

var stateNames = map[sockmgr.State]sockdv1.State{
	sockmgr.StateCreated:   sockdv1.State_STATE_CREATED,
	sockmgr.StateBound:     sockdv1.State_STATE_BOUND,
	sockmgr.StateListening: sockdv1.State_STATE_LISTENING,
	sockmgr.StateConnected: sockdv1.State_STATE_CONNECTED,
	sockmgr.StateClosed:    sockdv1.State_STATE_CLOSED,
}

func stateToProto(s sockmgr.State) sockdv1.State { return stateNames[s] }

var eventKinds = map[sockmgr.EventKind]sockdv1.EventKind{
	sockmgr.EventCreated:   sockdv1.EventKind_EVENT_KIND_CREATED,
	sockmgr.EventBound:     sockdv1.EventKind_EVENT_KIND_BOUND,
	sockmgr.EventListening: sockdv1.EventKind_EVENT_KIND_LISTENING,
	sockmgr.EventAccepted:  sockdv1.EventKind_EVENT_KIND_ACCEPTED,
	sockmgr.EventConnected: sockdv1.EventKind_EVENT_KIND_CONNECTED,
	sockmgr.EventShutdown:  sockdv1.EventKind_EVENT_KIND_SHUTDOWN,
	sockmgr.EventClosed:    sockdv1.EventKind_EVENT_KIND_CLOSED,
	sockmgr.EventError:     sockdv1.EventKind_EVENT_KIND_ERROR,
	sockmgr.EventMissed:    sockdv1.EventKind_EVENT_KIND_MISSED,

	relay.EventProxyCreated:  sockdv1.EventKind_EVENT_KIND_PROXY_CREATED,
	relay.EventProxyUpdated:  sockdv1.EventKind_EVENT_KIND_PROXY_UPDATED,
	relay.EventProxyDeleted:  sockdv1.EventKind_EVENT_KIND_PROXY_DELETED,
	relay.EventUpstreamError: sockdv1.EventKind_EVENT_KIND_PROXY_UPDATED, // detail says the upstream failed
	relay.EventRelayCreated:  sockdv1.EventKind_EVENT_KIND_RELAY_CREATED,
	relay.EventRelayEnded:    sockdv1.EventKind_EVENT_KIND_RELAY_ENDED,
	relay.EventFaultAdded:    sockdv1.EventKind_EVENT_KIND_FAULT_ADDED,
	relay.EventFaultUpdated:  sockdv1.EventKind_EVENT_KIND_FAULT_UPDATED,
	relay.EventFaultRemoved:  sockdv1.EventKind_EVENT_KIND_FAULT_REMOVED,
}

// eventToProto converts an event of sockmgr's feed: a socket's, or (with a
// Subject) a proxy's, a relay's or a fault's that package relay published.
func (s *Server) eventToProto(e sockmgr.Event) *sockdv1.Event {
	ev := &sockdv1.Event{
		Seq:    e.Seq,
		Time:   timestamppb.New(e.Time),
		Kind:   eventKinds[e.Kind],
		Detail: e.Detail,
		Missed: e.Missed,
	}
	switch subj := e.Subject.(type) {
	case nil:
		if e.Kind != sockmgr.EventMissed {
			ev.Socket = s.socketProto(e.Socket)
		}
	case relay.ProxyInfo:
		ev.Proxy = proxyToProto(subj)
	case relay.RelayInfo:
		ev.Relay = relayToProto(subj)
	case relay.FaultInfo:
		ev.Fault = faultToProto(subj.Fault)
		if subj.ProxyID != "" {
			ev.Proxy = &sockdv1.Proxy{Id: subj.ProxyID}
		}
		if subj.RelayID != "" {
			ev.Relay = &sockdv1.Relay{Id: subj.RelayID}
		}
	}
	return ev
}

// socketProto is a socket's snapshot for the API, with the proxy and relay
// it belongs to.
func (s *Server) socketProto(i sockmgr.Info) *sockdv1.Socket {
	p := toProto(i)
	if s.cfg.Relays != nil {
		p.ProxyId, p.RelayId = s.cfg.Relays.OwnerOf(i.ID)
	}
	if s.cfg.Captures != nil {
		p.Capture = s.cfg.Captures.status(i.ID)
	}
	return p
}

// timeoutFrom converts an optional request timeout; nil means "the socket's".
func timeoutFrom(field string, d *durationpb.Duration) (*time.Duration, error) {
	if d == nil {
		return nil, nil
	}
	if err := d.CheckValid(); err != nil {
		return nil, invalidField(field, ReasonInvalidArgument, "%v", err)
	}
	t := d.AsDuration()
	if t < 0 {
		return nil, invalidField(field, ReasonInvalidArgument, "must not be negative")
	}
	return &t, nil
}
