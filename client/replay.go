package client

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// ReplayOptions describe a replay of one side of a recorded conversation.
type ReplayOptions struct {
	// File is a pcap or pcapng file (sockd's export, tcpdump's, tshark's;
	// gzipped too), sent whole: it must fit in one request of sockd's
	// (ServerInfo.limits.max_message_bytes).
	File []byte
	// To is where sockd connects (the client side) or listens (the
	// server side), "host:port".
	To string
	// Server plays the side that accepted: sockd listens on To, accepts
	// one connection (or waits for the first datagram) and sends what the
	// server sent. Otherwise sockd plays the client.
	Server bool
	// Speed divides the file's gaps (0 or 1: as recorded; 2: twice as
	// fast); Max sends without waiting at all.
	Speed float64
	Max   bool
	// Stream picks the conversation, as tshark's tcp.stream (or udp.stream
	// for a file with no TCP) numbers them; 0 is the first.
	Stream int
	// Timeout is how long sockd waits for the peer and, after the last
	// send, for its answers (nil: 5s).
	Timeout *time.Duration
}

// Replay plays one side of a TCP conversation or UDP flow through a new
// socket of sockd's, keeping the file's timing on sockd's host, and says
// what it did. It is not made again when its answer is lost.
func (c *Client) Replay(ctx context.Context, o ReplayOptions) (*sockdv1.ReplayResult, error) {
	req := &sockdv1.ReplayRequest{File: o.File, To: o.To, Speed: o.Speed, Max: o.Max, Stream: int32(o.Stream), Timeout: durationOrNil(o.Timeout)}
	if o.Server {
		req.Side = sockdv1.Side_SIDE_SERVER
	} else {
		req.Side = sockdv1.Side_SIDE_CLIENT
	}
	lim := c.limits(ctx)
	// The file and the request's other fields: a few hundred bytes.
	if size := len(o.File) + len(o.To) + 64; size > lim.maxMessage {
		return nil, FromError(status.Error(codes.ResourceExhausted,
			fmt.Sprintf("replay: the file is %d bytes, more than the %d bytes sockd takes in one request (cut it with editcap, or raise sockd's --max-call-bytes)", len(o.File), lim.maxMessage)))
	}
	r, err := c.api.Replay(ctx, req, lim.callOptions()...)
	return r, FromError(err)
}
