// Package relay composes sockd's sockets: a relay moves bytes between two
// connected sockets of a sockmgr.Manager, both ways, with no client in the
// path; a proxy is a listening (TCP) or bound (UDP) socket whose every
// client is connected to an upstream address and relayed; a fault changes
// what a relay does in one direction (latency, bandwidth, slicer, timeout,
// reset_peer, limit_data, slow_close, blackhole for TCP; latency,
// bandwidth, timeout, blackhole, loss, duplicate, reorder, corrupt for UDP),
// on one relay or on a proxy's present and future connections.
//
// Everything is made of ordinary sockmgr sockets, created under the owner
// (so limits, leases and the address policy apply), listed and inspectable
// like any other; Manager.OwnerOf says which proxy and relay a socket
// belongs to.
//
// The data path: a TCP direction with no fault that needs user space moves
// bytes with splice(2) between the raw descriptors, counting by splice's
// return values; faults switch it to a user-space path and back, live,
// without losing, duplicating or reordering a byte. Half-close passes
// through (an EOF is a shutdown(SHUT_WR) on the other side, while the other
// direction keeps flowing), and so does a reset (RST in, SO_LINGER 0 close,
// RST out). docs/relay.md describes the design and what a peer sees under
// each fault.
//
// Replay (replay.go) plays one side of a recorded conversation (read by
// package capture from a pcap or pcapng file) through a new socket, with
// the recording's timing, on sockd's host.
//
// The package is a library with no gRPC: it may import sockmgr, capture,
// the standard library and golang.org/x/sys. Its typed errors (errors.go) map
// one to one onto sockd.v1.ErrorReason; its Info types mirror the messages
// of api/proto/sockd/v1/proxy.proto, so that the gRPC ProxyService is a
// thin adapter over it.
package relay
