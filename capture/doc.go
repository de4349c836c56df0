// Package capture records what moves through sockd's sockets and turns it
// into files that packet tools trust, and back.
//
// Recording: a [Ring] per socket holds the socket's records — bytes sent and
// received (TCP) or datagrams with their peer (UDP), each with its time, and
// the life-cycle events that shape a conversation on the wire (connected,
// accepted, shutdown, peer closed, reset, closed). A ring is bounded by its
// own size and by a [Budget] shared by all rings: when either is full the
// oldest records are dropped, and what was dropped is counted ([Status]) and
// marked in the export. Recording copies the caller's bytes, never blocks
// on anything but the ring's own short mutex, and is safe for concurrent
// use, so a socket's reader and writer record at once. The data-path methods
// (Sent, Received) and the event methods use only standard-library types, so
// that a package that may not import capture (sockmgr) can declare an
// interface the Ring satisfies as it is.
//
// Export: an [Exporter] writes rings as pcapng (gopacket's pcapgo.NgWriter):
// one interface per socket, named by the socket id, and frames with
// synthesised IPv4/IPv6 and TCP/UDP headers that carry the socket's real
// addresses and ports — a handshake, sequence and acknowledgement numbers
// consistent per direction, correct lengths and checksums, FIN or RST at the
// end — so that Wireshark and tshark follow the streams with no analysis
// warnings. It writes what the rings hold and can then follow them, writing
// new records as they come, with a cursor per ring (nothing repeated or
// skipped) and frames merged in time order across rings.
// docs/capture-format.md explains each synthesis choice.
//
// Replay input: [ReadConversations] reads pcap and pcapng files (sockd's own,
// tcpdump's, tshark's), reassembles TCP conversations by sequence number and
// collects UDP flows, numbered as tshark numbers its streams. It decodes bytes
// from outside: it refuses files over a caller's size limit, and never panics.
//
// The package capture/textdump, a leaf that imports nothing of sockd, prints
// any pcap or pcapng stream as a readable dump like tcpdump -X, so that a
// client can dump what ReadCapture streams without importing this package.
//
// capture is a library: it imports the standard library and
// github.com/gopacket/gopacket (pcapgo, layers) only, and nothing of sockd
// (no sockmgr, no gRPC, no gen), so that sockmgr, relay and the service can
// all use it and it stays usable on its own.
package capture
