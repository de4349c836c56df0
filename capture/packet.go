package capture

import (
	"net"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Sizes of the synthesised packets. A TCP segment carries at most
// maxSegment bytes: what fits one IPv4 packet (65535) after a 20-byte IP
// and a 20-byte TCP header, which is also the MSS that Linux advertises on
// loopback; the SYNs advertise it. A datagram carries at most what one IP
// packet holds.
const (
	maxSegment   = 65535 - 20 - 20
	maxUDPv4     = 65535 - 20 - 8
	maxUDPv6     = 65535 - 8
	windowScale  = 14    // the largest shift: the advertised window is about 1 GiB
	window       = 65535 // never changes, so that no segment reads as a window update
	ttlHopLimit  = 64
	tcpMSSOption = maxSegment
)

// tcpFlags are the flags of a synthesised segment.
type tcpFlags uint8

const (
	flagFIN tcpFlags = 1 << iota
	flagSYN
	flagRST
	flagPSH
	flagACK
)

// framer serialises synthesised packets (raw IPv4 or IPv6, as pcapng's
// LINKTYPE_RAW) with gopacket's layers, which fix the lengths and compute
// the checksums. It reuses one buffer: a packet is valid until the next.
type framer struct {
	buf  gopacket.SerializeBuffer
	ip4  layers.IPv4
	ip6  layers.IPv6
	tcp  layers.TCP
	udp  layers.UDP
	opts []layers.TCPOption
}

func newFramer() *framer {
	return &framer{
		buf: gopacket.NewSerializeBuffer(),
		opts: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionData: []byte{tcpMSSOption >> 8, tcpMSSOption & 0xff}},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindWindowScale, OptionData: []byte{windowScale}},
		},
	}
}

var serializeOptions = gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}

// network prepares the IP layer from src to dst (both of one family) and
// returns it for the transport's checksum.
func (f *framer) network(src, dst netip.Addr, proto layers.IPProtocol, id uint16) (gopacket.SerializableLayer, gopacket.NetworkLayer) {
	if src.Is4() {
		f.ip4 = layers.IPv4{
			Version: 4, IHL: 5, TTL: ttlHopLimit, Id: id,
			Flags: layers.IPv4DontFragment, Protocol: proto,
			SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice()),
		}
		return &f.ip4, &f.ip4
	}
	f.ip6 = layers.IPv6{
		Version: 6, HopLimit: ttlHopLimit, NextHeader: proto,
		SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice()),
	}
	return &f.ip6, &f.ip6
}

// tcpSegment returns a TCP segment from src to dst.
func (f *framer) tcpSegment(src, dst netip.AddrPort, seq, ack uint32, flags tcpFlags, id uint16, payload []byte) ([]byte, error) {
	ipLayer, netLayer := f.network(src.Addr(), dst.Addr(), layers.IPProtocolTCP, id)
	f.tcp = layers.TCP{
		SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: seq, Window: window,
		FIN: flags&flagFIN != 0, SYN: flags&flagSYN != 0, RST: flags&flagRST != 0,
		PSH: flags&flagPSH != 0, ACK: flags&flagACK != 0,
	}
	if f.tcp.ACK {
		f.tcp.Ack = ack
	}
	if f.tcp.SYN {
		f.tcp.Options = f.opts
	}
	if err := f.tcp.SetNetworkLayerForChecksum(netLayer); err != nil {
		return nil, err
	}
	if err := gopacket.SerializeLayers(f.buf, serializeOptions, ipLayer, &f.tcp, gopacket.Payload(payload)); err != nil {
		return nil, err
	}
	return f.buf.Bytes(), nil
}

// datagram returns a UDP datagram from src to dst.
func (f *framer) datagram(src, dst netip.AddrPort, id uint16, payload []byte) ([]byte, error) {
	ipLayer, netLayer := f.network(src.Addr(), dst.Addr(), layers.IPProtocolUDP, id)
	f.udp = layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	if err := f.udp.SetNetworkLayerForChecksum(netLayer); err != nil {
		return nil, err
	}
	if err := gopacket.SerializeLayers(f.buf, serializeOptions, ipLayer, &f.udp, gopacket.Payload(payload)); err != nil {
		return nil, err
	}
	return f.buf.Bytes(), nil
}

// wireAddrs returns the addresses a frame between local and remote
// carries: IPv4-mapped IPv6 addresses unmapped (a dual-stack socket's IPv4
// peer talks IPv4 on the wire), and a local address that is not known or
// is a wildcard (an unconnected UDP socket bound to 0.0.0.0) replaced by
// the loopback address when the peer is on loopback — the address the
// kernel would have used — and else by the unspecified address, of the
// peer's family. fallback is the socket's family, used when neither
// address is known.
func wireAddrs(local, remote netip.AddrPort, fallback Family) (netip.AddrPort, netip.AddrPort) {
	l := netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	r := netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	if !r.Addr().IsValid() {
		if l.Addr().IsValid() && !l.Addr().IsUnspecified() {
			r = netip.AddrPortFrom(unspecified(l.Addr().Is4()), r.Port())
		} else {
			r = netip.AddrPortFrom(unspecified(fallback == IPv4), r.Port())
		}
	}
	want4 := r.Addr().Is4()
	if !l.Addr().IsValid() || l.Addr().IsUnspecified() || l.Addr().Is4() != want4 {
		a := unspecified(want4)
		if r.Addr().IsLoopback() {
			a = netip.IPv6Loopback()
			if want4 {
				a = netip.AddrFrom4([4]byte{127, 0, 0, 1})
			}
		}
		l = netip.AddrPortFrom(a, l.Port())
	}
	return l, r
}

func unspecified(v4 bool) netip.Addr {
	if v4 {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}
