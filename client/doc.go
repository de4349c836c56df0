// Package client is the Go client of sockd. Dial a daemon, call any RPC with
// Go types, and use remote sockets as Go network objects: a connected TCP
// socket as a net.Conn, a listening one as a net.Listener whose Accept
// returns net.Conns, a UDP socket as a net.PacketConn. The data path of those
// adapters is one Attach stream per socket.
//
// Errors are *Error values that keep the gRPC status and map back to Go:
// errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, os.ErrDeadlineExceeded)
// and net.Error's Timeout() work on the client side as they would locally.
//
// It imports the generated API (gen/) and gRPC only.
package client
