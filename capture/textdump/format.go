package textdump

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
)

// Frame is what the dump shows of one packet.
type Frame struct {
	At time.Time
	// Interface is the capture interface: in sockd's exports, the socket id.
	Interface string
	// Dir is "in" (received by the socket) or "out" (sent by it), from the
	// pcapng direction flag; empty when the capture does not say.
	Dir string
	// Proto is "TCP" or "UDP", or another protocol or link layer name for
	// frames the dump does not open (then Src and Dst may be zero).
	Proto    string
	Src, Dst netip.AddrPort
	// Flags are a TCP segment's flags as tcpdump writes them: S (SYN),
	// F (FIN), R (RST), P (PSH), and "." for ACK.
	Flags    string
	Length   int    // payload bytes on the wire (more than Payload when the capture was cut)
	Payload  []byte // the captured payload
	Comments []string
}

// Options shapes the dump.
type Options struct {
	// Location is the time zone times are written in (nil: time.Local).
	Location *time.Location
	// Acks includes TCP segments that carry nothing but an acknowledgement
	// (sockd synthesises one after every write; tcpdump shows them all).
	Acks bool
	// MaxPayload caps the payload bytes dumped per frame (0: all).
	MaxPayload int
}

// WriteFrame writes one frame: a heading line, the payload as tcpdump -X
// lines (offset, 16 bytes in hex by pairs, the same as text with a dot for
// anything but graphic ASCII), and one line per comment.
func WriteFrame(w io.Writer, f Frame, opts Options) error {
	loc := opts.Location
	if loc == nil {
		loc = time.Local
	}
	var b strings.Builder
	b.WriteString(f.At.In(loc).Format("15:04:05.000000"))
	for _, part := range []string{f.Interface, f.Dir, f.Proto} {
		if part != "" {
			b.WriteString(" ")
			b.WriteString(part)
		}
	}
	switch {
	case f.Src.Port() == 0 && f.Dst.Port() == 0 && f.Src.Addr().IsValid():
		fmt.Fprintf(&b, " %s > %s", f.Src.Addr(), f.Dst.Addr())
	case f.Src.IsValid() || f.Dst.IsValid():
		fmt.Fprintf(&b, " %s > %s", f.Src, f.Dst)
	}
	if f.Flags != "" {
		fmt.Fprintf(&b, " [%s]", f.Flags)
	}
	fmt.Fprintf(&b, " length %d", f.Length)
	b.WriteString("\n")
	payload := f.Payload
	if opts.MaxPayload > 0 && len(payload) > opts.MaxPayload {
		payload = payload[:opts.MaxPayload]
	}
	writeHex(&b, payload)
	if len(payload) < f.Length {
		fmt.Fprintf(&b, "\t... %d more bytes\n", f.Length-len(payload))
	}
	for _, c := range f.Comments {
		fmt.Fprintf(&b, "\t# %s\n", strings.ReplaceAll(c, "\n", " "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeHex writes p as tcpdump -X does:
//
//	0x0000:  4745 5420 2f20 4854 5450 2f31 2e30 0d0a  GET./.HTTP/1.0..
func writeHex(b *strings.Builder, p []byte) {
	const hexdigits = "0123456789abcdef"
	for off := 0; off < len(p); off += 16 {
		line := p[off:min(off+16, len(p))]
		fmt.Fprintf(b, "\t0x%04x:  ", off)
		col := 0
		for i, c := range line {
			b.WriteByte(hexdigits[c>>4])
			b.WriteByte(hexdigits[c&0xf])
			col += 2
			if i%2 == 1 && i != len(line)-1 {
				b.WriteByte(' ')
				col++
			}
		}
		b.WriteString(strings.Repeat(" ", 39-col+2))
		for _, c := range line {
			if c > ' ' && c <= '~' { // tcpdump shows graphic characters only: a space is a dot too
				b.WriteByte(c)
			} else {
				b.WriteByte('.')
			}
		}
		b.WriteByte('\n')
	}
}
