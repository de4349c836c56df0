package textdump

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// ErrNotCapture: the stream is neither pcap nor pcapng.
var ErrNotCapture = errors.New("textdump: not a pcap or pcapng stream")

// Dump reads a pcap or pcapng stream and writes each frame with
// WriteFrame as soon as it has arrived, until the stream ends (nil, also
// when it ends inside a frame, as a followed capture does when cancelled)
// or fails.
func Dump(w io.Writer, r io.Reader, opts Options) error {
	br := bufio.NewReader(r)
	magic, err := br.Peek(4)
	if err != nil {
		if errors.Is(err, io.EOF) && len(magic) == 0 {
			return nil // an empty stream: nothing captured
		}
		return fmt.Errorf("%w: %v", ErrNotCapture, err)
	}
	var next func() ([]byte, gopacket.CaptureInfo, pcapgo.NgPacketOptions, layers.LinkType, error)
	switch binary.LittleEndian.Uint32(magic) {
	case 0x0A0D0D0A:
		ng, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return fmt.Errorf("%w: %v", ErrNotCapture, err)
		}
		next = func() ([]byte, gopacket.CaptureInfo, pcapgo.NgPacketOptions, layers.LinkType, error) {
			data, ci, opts, err := ng.ReadPacketDataWithOptions()
			lt := ng.LinkType()
			if err == nil && len(ci.AncillaryData) > 0 {
				if t, ok := ci.AncillaryData[0].(layers.LinkType); ok {
					lt = t
				}
			}
			if err == nil {
				if intf, ierr := ng.Interface(ci.InterfaceIndex); ierr == nil {
					ci.AncillaryData = []any{lt, intf.Name}
				}
			}
			return data, ci, opts, lt, err
		}
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
		p, err := pcapgo.NewReader(br)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrNotCapture, err)
		}
		next = func() ([]byte, gopacket.CaptureInfo, pcapgo.NgPacketOptions, layers.LinkType, error) {
			data, ci, err := p.ReadPacketData()
			return data, ci, pcapgo.NgPacketOptions{}, p.LinkType(), err
		}
	default:
		return fmt.Errorf("%w: magic %#08x", ErrNotCapture, binary.BigEndian.Uint32(magic))
	}
	for {
		data, ci, popts, lt, err := next()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("textdump: %w", err)
		}
		f := decode(data, lt)
		f.At = ci.Timestamp
		if len(ci.AncillaryData) > 1 {
			f.Interface, _ = ci.AncillaryData[1].(string)
		}
		if popts.Flags != nil {
			switch popts.Flags.Direction {
			case pcapgo.NgEpbFlagDirectionInbound:
				f.Dir = "in"
			case pcapgo.NgEpbFlagDirectionOutbound:
				f.Dir = "out"
			}
		}
		f.Comments = popts.Comments
		if !opts.Acks && f.Proto == "TCP" && f.Flags == "." && f.Length == 0 && len(f.Comments) == 0 {
			continue
		}
		if err := WriteFrame(w, f, opts); err != nil {
			return err
		}
	}
}

// decode opens a frame down to its TCP or UDP payload.
func decode(data []byte, lt layers.LinkType) Frame {
	pkt := gopacket.NewPacket(data, lt, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	var src, dst netip.Addr
	var ipPayload int = -1 // payload length the IP header declares
	switch ip := pkt.NetworkLayer().(type) {
	case *layers.IPv4:
		src, _ = netip.AddrFromSlice(ip.SrcIP)
		dst, _ = netip.AddrFromSlice(ip.DstIP)
		ipPayload = int(ip.Length) - int(ip.IHL)*4
	case *layers.IPv6:
		src, _ = netip.AddrFromSlice(ip.SrcIP)
		dst, _ = netip.AddrFromSlice(ip.DstIP)
		ipPayload = int(ip.Length)
	default:
		name := lt.String()
		if l := pkt.Layers(); len(l) > 0 {
			name = l[len(l)-1].LayerType().String()
		}
		return Frame{Proto: name, Length: len(data), Payload: data}
	}
	switch tl := pkt.TransportLayer().(type) {
	case *layers.TCP:
		f := Frame{Proto: "TCP", Src: netip.AddrPortFrom(src, uint16(tl.SrcPort)), Dst: netip.AddrPortFrom(dst, uint16(tl.DstPort)),
			Flags: tcpFlags(tl), Payload: tl.LayerPayload()}
		f.Length = len(f.Payload)
		if n := ipPayload - int(tl.DataOffset)*4; n > f.Length {
			f.Length = n
		}
		return f
	case *layers.UDP:
		f := Frame{Proto: "UDP", Src: netip.AddrPortFrom(src, uint16(tl.SrcPort)), Dst: netip.AddrPortFrom(dst, uint16(tl.DstPort)),
			Payload: tl.LayerPayload()}
		f.Length = max(len(f.Payload), int(tl.Length)-8)
		return f
	}
	name := "IP"
	if l := pkt.Layers(); len(l) > 0 {
		name = l[len(l)-1].LayerType().String()
	}
	return Frame{Proto: name, Src: netip.AddrPortFrom(src, 0), Dst: netip.AddrPortFrom(dst, 0), Length: len(data)}
}

func tcpFlags(t *layers.TCP) string {
	var b strings.Builder
	for _, f := range []struct {
		on bool
		c  byte
	}{{t.SYN, 'S'}, {t.FIN, 'F'}, {t.RST, 'R'}, {t.PSH, 'P'}, {t.URG, 'U'}, {t.ECE, 'E'}, {t.CWR, 'W'}, {t.ACK, '.'}} {
		if f.on {
			b.WriteByte(f.c)
		}
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}
