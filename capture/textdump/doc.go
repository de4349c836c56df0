// Package textdump prints packet captures as text, like tcpdump -X: one
// line per frame (time, socket, direction, protocol, addresses, TCP flags,
// payload length), the payload in hex and text below it, and the capture's
// comments (sockd marks dropped data with them).
//
// It reads any pcap or pcapng stream as it arrives — sockd's ReadCapture
// export, followed live, or a file from tcpdump or tshark — so that a client
// can print what the server streams. It is a leaf: it imports the standard
// library and gopacket (pcapgo, layers) only, nothing of sockd, so that the
// client library and sockctl may use it without importing capture's rings.
package textdump
