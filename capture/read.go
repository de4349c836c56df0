package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Errors of ReadConversations, for errors.Is.
var (
	// ErrTooLarge: the file (or, compressed, what it expands to) is larger
	// than the caller's limit.
	ErrTooLarge = errors.New("capture: file too large")
	// ErrNotCapture: the bytes are neither pcap nor pcapng.
	ErrNotCapture = errors.New("capture: not a pcap or pcapng file")
)

// Conversation is one TCP connection or UDP flow of a capture file.
type Conversation struct {
	Protocol Protocol
	// Stream is the conversation's index among those of its protocol, in
	// the order their first packets appear: tshark's tcp.stream or
	// udp.stream.
	Stream int
	// Client is the side that opened the conversation: the sender of the
	// SYN, else the receiver of the SYN-ACK, else (capture started late,
	// or UDP) the sender of the first packet.
	Client, Server netip.AddrPort
	// Handshake says whether the file holds the client's SYN.
	Handshake bool
	// Messages is each side's payload in order — TCP segments reassembled
	// by sequence number (retransmissions and duplicates dropped,
	// out-of-order segments put in place), UDP datagrams one by one —
	// interleaved as they appear in the file.
	Messages []Message
	// MissingBytes counts TCP payload the file lacks (segments not
	// captured): the messages after a gap follow it directly.
	MissingBytes int64
}

// Message is one side's payload at one time.
type Message struct {
	FromClient bool
	// At is when the bytes were available in order: the time of the
	// segment that carried them, or of the one that filled the gap before
	// them.
	At   time.Time
	Data []byte
}

// ReadConversations reads a pcap or pcapng file (plain or gzip-compressed;
// written by sockd, tcpdump, tshark or others; any link type gopacket
// decodes: raw IP, Ethernet, Linux cooked, loopback) and returns its TCP
// conversations in tcp.stream order, then its UDP flows in udp.stream
// order. Packets that are not TCP or UDP over IP, and IP fragments, are
// skipped.
//
// The bytes come from outside: the file is refused (ErrTooLarge) when it,
// or what it expands to, exceeds maxBytes, so that memory stays within a
// small multiple of maxBytes; malformed packets are skipped; it never
// panics. A file cut short in its last packet (a capture killed while
// writing) yields what it holds before the cut.
func ReadConversations(r io.Reader, maxBytes int64) ([]Conversation, error) {
	data, err := readAtMost(r, maxBytes)
	if err != nil {
		return nil, err
	}
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%w: bad gzip: %v", ErrNotCapture, err)
		}
		data, err = readAtMost(zr, maxBytes)
		if err != nil {
			return nil, err
		}
		if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
			// pcapgo would expand a second layer on its own, past the limit.
			return nil, fmt.Errorf("%w: compressed twice", ErrNotCapture)
		}
	}
	src, err := openPackets(data)
	if err != nil {
		return nil, err
	}
	asm := newAssembler()
	for n := 1; ; n++ {
		pkt, ci, linkType, err := src.next()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("capture: packet %d: %w", n, err)
		}
		asm.packet(pkt, ci.Timestamp, linkType)
	}
	return asm.conversations(), nil
}

// FindConversation picks the conversation a replay names by stream index
// (ReplayRequest.stream): TCP stream n when the file has TCP conversations,
// else UDP stream n.
func FindConversation(convs []Conversation, n int) (Conversation, bool) {
	proto := UDP
	for _, c := range convs {
		if c.Protocol == TCP {
			proto = TCP
			break
		}
	}
	for _, c := range convs {
		if c.Protocol == proto && c.Stream == n {
			return c, true
		}
	}
	return Conversation{}, false
}

// readAtMost reads r to its end, refusing more than max bytes.
func readAtMost(r io.Reader, max int64) ([]byte, error) {
	if max <= 0 {
		return nil, fmt.Errorf("%w: the limit is %d bytes", ErrTooLarge, max)
	}
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("capture: reading the file: %w", err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, max)
	}
	return data, nil
}

// packets is a pcap or pcapng reader with each packet's link type.
type packets struct {
	pcap *pcapgo.Reader
	ng   *pcapgo.NgReader
}

func openPackets(data []byte) (*packets, error) {
	if len(data) < 4 {
		return nil, fmt.Errorf("%w: %d bytes", ErrNotCapture, len(data))
	}
	switch binary.LittleEndian.Uint32(data) {
	case 0x0A0D0D0A: // pcapng section header, the same in both byte orders
		ng, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return nil, fmt.Errorf("%w: pcapng: %v", ErrNotCapture, err)
		}
		return &packets{ng: ng}, nil
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1: // pcap, µs or ns, either byte order
		p, err := pcapgo.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%w: pcap: %v", ErrNotCapture, err)
		}
		return &packets{pcap: p}, nil
	}
	return nil, fmt.Errorf("%w: unknown magic %#08x", ErrNotCapture, binary.BigEndian.Uint32(data))
}

func (p *packets) next() ([]byte, gopacket.CaptureInfo, layers.LinkType, error) {
	if p.pcap != nil {
		data, ci, err := p.pcap.ReadPacketData()
		return data, ci, p.pcap.LinkType(), err
	}
	data, ci, err := p.ng.ReadPacketData()
	if err != nil {
		return nil, ci, 0, err
	}
	lt := p.ng.LinkType()
	if len(ci.AncillaryData) > 0 {
		if t, ok := ci.AncillaryData[0].(layers.LinkType); ok {
			lt = t
		}
	}
	return data, ci, lt, nil
}

// packet decodes one captured packet and hands its TCP segment or UDP
// datagram to the assembler.
func (a *assembler) packet(data []byte, at time.Time, linkType layers.LinkType) {
	// Lazy and no-copy: only the layers asked for are decoded, over the
	// packet's own buffer (which ReadPacketData made for it). gopacket turns
	// a panic while decoding into a decode failure.
	pkt := gopacket.NewPacket(data, linkType, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	var src, dst netip.Addr
	switch ip := pkt.NetworkLayer().(type) {
	case *layers.IPv4:
		if ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
			return
		}
		src, _ = netip.AddrFromSlice(ip.SrcIP)
		dst, _ = netip.AddrFromSlice(ip.DstIP)
	case *layers.IPv6:
		if pkt.Layer(layers.LayerTypeIPv6Fragment) != nil {
			return
		}
		src, _ = netip.AddrFromSlice(ip.SrcIP)
		dst, _ = netip.AddrFromSlice(ip.DstIP)
	default:
		return
	}
	if !src.IsValid() || !dst.IsValid() {
		return
	}
	switch tl := pkt.TransportLayer().(type) {
	case *layers.TCP:
		a.tcp(segmentIn{
			src:  netip.AddrPortFrom(src, uint16(tl.SrcPort)),
			dst:  netip.AddrPortFrom(dst, uint16(tl.DstPort)),
			seq:  tl.Seq,
			syn:  tl.SYN,
			ack:  tl.ACK,
			fin:  tl.FIN,
			rst:  tl.RST,
			data: tl.LayerPayload(),
			at:   at,
		})
	case *layers.UDP:
		a.udp(netip.AddrPortFrom(src, uint16(tl.SrcPort)), netip.AddrPortFrom(dst, uint16(tl.DstPort)), tl.LayerPayload(), at)
	}
}
