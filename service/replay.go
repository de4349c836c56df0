package service

import (
	"bytes"
	"context"
	"math"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sockd/sockd/capture"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/relay"
)

// Replay implements sockd.v1.SocketService: one side of a conversation of a
// pcap or pcapng file played through a new socket on sockd's host, with the
// file's timing (relay.Replay).
func (s *Server) Replay(ctx context.Context, req *sockdv1.ReplayRequest) (*sockdv1.ReplayResult, error) {
	if len(req.GetFile()) == 0 {
		return nil, invalidField("file", ReasonInvalidArgument, "required: a pcap or pcapng file")
	}
	if err := checkAddress("to", req.GetTo()); err != nil {
		return nil, err
	}
	if _, ok := sockdv1.Side_name[int32(req.GetSide())]; !ok {
		return nil, invalidField("side", ReasonInvalidArgument, "unknown side %d", req.GetSide())
	}
	if sp := req.GetSpeed(); sp < 0 || math.IsNaN(sp) || math.IsInf(sp, 0) || sp > 1e6 {
		return nil, invalidField("speed", ReasonInvalidArgument, "must be from 0 (the file's own, 1) to 1000000")
	}
	if req.GetStream() < 0 {
		return nil, invalidField("stream", ReasonInvalidArgument, "must not be negative")
	}
	timeout, err := timeoutFrom("timeout", req.GetTimeout())
	if err != nil {
		return nil, err
	}
	// A compressed file may expand up to 64 MiB (or its own size).
	convs, err := capture.ReadConversations(bytes.NewReader(req.GetFile()), max(int64(len(req.GetFile())), 64<<20))
	if err != nil {
		return nil, invalidCapture(err.Error())
	}
	conv, ok := capture.FindConversation(convs, int(req.GetStream()))
	if !ok {
		return nil, invalidCapture(sprintf("the file has no conversation %d (it has %d)", req.GetStream(), len(convs)))
	}
	o := relay.ReplayOptions{Owner: PrincipalFrom(ctx).Name, To: req.GetTo(), Server: req.GetSide() == sockdv1.Side_SIDE_SERVER,
		Speed: req.GetSpeed(), MaxSpeed: req.GetMax()}
	if timeout != nil {
		o.Timeout = *timeout
	}
	r, err := relay.Replay(ctx, s.m, conv, o)
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	out := &sockdv1.ReplayResult{SocketId: r.SocketID, BytesSent: r.BytesSent, MessagesSent: r.MessagesSent,
		BytesReceived: r.BytesReceived, Duration: durationpb.New(r.Duration)}
	if r.Local.IsValid() {
		out.LocalAddress = r.Local.String()
	}
	if r.Remote.IsValid() {
		out.RemoteAddress = r.Remote.String()
	}
	return out, nil
}

func invalidCapture(msg string) error {
	return invalidField("file", sockdv1.ErrorReason_INVALID_CAPTURE, "%s", msg)
}
