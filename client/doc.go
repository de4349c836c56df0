// Package client is the Go client of sockd, and the only client-side
// implementation of its protocol: sockctl and sockbench are built on it.
// Dial a daemon, call any RPC with Go types, and use remote sockets as Go
// network objects: a connected TCP socket as a net.Conn, a listening one as
// a net.Listener whose Accept returns net.Conns, a UDP socket as a
// net.PacketConn. The data path of those adapters is one Attach stream per
// socket.
//
// Sizes. The client asks GetServerInfo once per connection, when a call
// first needs it, and sizes what it sends by the answer: a Send larger than
// the server's per-call limit goes in as many calls as it needs, requests
// respect the server's message limit, a Recv on TCP asks for no more than
// one call may return (ServerInfo.limits).
//
// Exactly once. Against a sockd that keeps stream offsets (DESIGN.md,
// "Offsets"; ServerInfo.limits.retain_bytes > 0) every TCP Send and Recv
// carries where the client stands in the socket's byte streams, and is made
// again when its answer is lost on the way (the connection dropped, an
// attempt timed out): no byte is lost or doubled. A Recv the caller cancels
// leaves its bytes for the next Recv; a Send the caller cancels reports
// exactly how much it sent. Attach sessions keep what they sent until sockd
// reports it written, acknowledge what the reader took, and when their
// stream breaks on the way open another where they stood; a peer's EOF ends
// only receiving (what is still written goes out). Calls that may be made
// twice with the same effect (reads, options, timeouts, shutdown, close)
// are made again too; Create, Bind, Listen, Accept and Connect are not.
// Nothing is retried for a sockd that never answered this client.
//
// Errors are *Error values that keep the gRPC status and map back to Go:
// errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, os.ErrDeadlineExceeded)
// and net.Error's Timeout() work on the client side as they would locally;
// every sockd reason (the proto's ErrorReason) has its sentinel
// (ErrSocketNotFound, ErrWrongState, ...; Sentinel looks one up), and
// ErrNotFound and ErrInvalid match across reasons.
//
// It imports the generated API (gen/), the Attach codec (codec/) and gRPC.
package client
