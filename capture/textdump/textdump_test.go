package textdump_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"go.uber.org/goleak"

	"github.com/sockd/sockd/capture"
	"github.com/sockd/sockd/capture/textdump"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)

// export is a small sockd export: a TCP socket's conversation with a drop
// marked, and a UDP socket's datagram.
func export(t testing.TB) []byte {
	t.Helper()
	local, remote := netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:8080")
	r := capture.NewRing(capture.Meta{SocketID: "k3jx9q", Protocol: capture.TCP}, 0, nil)
	r.Connected(t0, local, remote)
	r.Sent(t0.Add(time.Millisecond), []byte("GET / HTTP/1.0\r\n\r\n"), netip.AddrPort{})
	r.Received(t0.Add(2*time.Millisecond), []byte("HTTP/1.0 200 OK\r\n\r\nhi\x00\xff"), netip.AddrPort{})
	r.Closed(t0.Add(3 * time.Millisecond))
	u := capture.NewRing(capture.Meta{SocketID: "u7", Protocol: capture.UDP, Local: netip.MustParseAddrPort("127.0.0.1:5353")}, 0, nil)
	u.Received(t0.Add(4*time.Millisecond), []byte("q"), netip.MustParseAddrPort("127.0.0.1:6000"))
	t.Cleanup(r.Release)
	t.Cleanup(u.Release)
	var buf bytes.Buffer
	if err := capture.WritePcapng(&buf, r, u); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDumpSockdExport(t *testing.T) {
	var out bytes.Buffer
	if err := textdump.Dump(&out, bytes.NewReader(export(t)), textdump.Options{Location: time.UTC}); err != nil {
		t.Fatal(err)
	}
	want := `03:04:05.123456 k3jx9q out TCP 127.0.0.1:40000 > 127.0.0.1:8080 [S] length 0
03:04:05.123456 k3jx9q in TCP 127.0.0.1:8080 > 127.0.0.1:40000 [S.] length 0
03:04:05.124456 k3jx9q out TCP 127.0.0.1:40000 > 127.0.0.1:8080 [P.] length 18
	0x0000:  4745 5420 2f20 4854 5450 2f31 2e30 0d0a  GET./.HTTP/1.0..
	0x0010:  0d0a                                     ..
03:04:05.125456 k3jx9q in TCP 127.0.0.1:8080 > 127.0.0.1:40000 [P.] length 23
	0x0000:  4854 5450 2f31 2e30 2032 3030 204f 4b0d  HTTP/1.0.200.OK.
	0x0010:  0a0d 0a68 6900 ff                        ...hi..
03:04:05.126456 k3jx9q out TCP 127.0.0.1:40000 > 127.0.0.1:8080 [F.] length 0
03:04:05.127456 u7 in UDP 127.0.0.1:6000 > 127.0.0.1:5353 length 1
	0x0000:  71                                       q
`
	if out.String() != want {
		t.Errorf("dump:\n%s\nwant:\n%s", out.String(), want)
	}
	var all bytes.Buffer
	if err := textdump.Dump(&all, bytes.NewReader(export(t)), textdump.Options{Location: time.UTC, Acks: true, MaxPayload: 4}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(all.String(), " [.] length 0\n"); n != 4 {
		t.Errorf("with Acks: %d pure ACKs, want 4:\n%s", n, all.String())
	}
	if !strings.Contains(all.String(), "\t0x0000:  4745 5420                                GET.\n\t... 14 more bytes\n") {
		t.Errorf("MaxPayload 4 does not cut the payload:\n%s", all.String())
	}
}

func TestDumpShowsComments(t *testing.T) {
	r := capture.NewRing(capture.Meta{SocketID: "c", Protocol: capture.TCP}, capture.MinRingBytes, nil)
	t.Cleanup(r.Release)
	r.Connected(t0, netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2"))
	for i := 0; i < 400; i++ { // 400 kB through a 128 KiB ring
		r.Sent(t0, make([]byte, 1000), netip.AddrPort{})
	}
	var buf, out bytes.Buffer
	if err := capture.WritePcapng(&buf, r); err != nil {
		t.Fatal(err)
	}
	if err := textdump.Dump(&out, &buf, textdump.Options{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\t# sockd: ") || !strings.Contains(out.String(), "dropped here") {
		t.Errorf("no comment about the dropped records:\n%.500s", out.String())
	}
}

// TestDumpFollowsAStream dumps frames as they arrive through a pipe, before
// the stream ends.
func TestDumpFollowsAStream(t *testing.T) {
	r := capture.NewRing(capture.Meta{SocketID: "live", Protocol: capture.TCP}, 0, nil)
	t.Cleanup(r.Release)
	pr, pw := io.Pipe()
	e := capture.NewExporter(pw)
	e.Add(r)
	lines := make(chan string, 100)
	dumped := make(chan error, 1)
	outR, outW := io.Pipe()
	go func() {
		dumped <- textdump.Dump(outW, pr, textdump.Options{})
		outW.Close()
	}()
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	r.Connected(time.Time{}, netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2"))
	r.Sent(time.Time{}, []byte("first"), netip.AddrPort{})
	// The pipe blocks each write until the dump reads it: write in the
	// background, and read the dump's lines meanwhile.
	written := make(chan error, 1)
	go func() { written <- e.WriteAvailable() }()
	want := []string{"[S]", "[S.]", "[P.] length 5", "first"}
	for _, w := range want {
		select {
		case line := <-lines:
			if !strings.Contains(line, w) {
				t.Fatalf("line %q, want %q", line, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no line %q while the stream is open", w)
		}
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-dumped; err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
}

func TestDumpBadStreams(t *testing.T) {
	var out bytes.Buffer
	if err := textdump.Dump(&out, strings.NewReader(""), textdump.Options{}); err != nil || out.Len() != 0 {
		t.Errorf("empty stream: %v, %q", err, out.String())
	}
	if err := textdump.Dump(&out, strings.NewReader("hello, world"), textdump.Options{}); !errors.Is(err, textdump.ErrNotCapture) {
		t.Errorf("text: %v, want ErrNotCapture", err)
	}
	file := export(t)
	if err := textdump.Dump(&out, bytes.NewReader(file[:len(file)-7]), textdump.Options{}); err != nil {
		t.Errorf("a stream cut inside a frame: %v, want the frames before and no error", err)
	}
}

// TestHexMatchesTcpdump checks the hex and text lines against tcpdump -X
// itself, over whole packets of every byte value.
func TestHexMatchesTcpdump(t *testing.T) {
	path, err := exec.LookPath("tcpdump")
	if err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("SOCKD_TEST_ALL") == "1" {
			t.Fatal("tcpdump is required (CI=true or SOCKD_TEST_ALL=1)")
		}
		t.Skip("tcpdump not installed (apt-get install -y tcpdump)")
	}
	var file bytes.Buffer
	w := pcapgo.NewWriter(&file)
	w.WriteFileHeader(65535, layers.LinkTypeRaw)
	payload := make([]byte, 300)
	for i := range payload {
		payload[i] = byte(i)
	}
	var packets [][]byte
	for _, n := range []int{0, 1, 2, 15, 16, 17, 31, 300} {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: []byte{127, 0, 0, 1}, DstIP: []byte{127, 0, 0, 1}}
		udp := &layers.UDP{SrcPort: 1000, DstPort: 2000}
		udp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, udp, gopacket.Payload(payload[:n]))
		pkt := append([]byte{}, buf.Bytes()...)
		packets = append(packets, pkt)
		w.WritePacket(gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(pkt), Length: len(pkt)}, pkt)
	}
	f := filepath.Join(t.TempDir(), "x.pcap")
	os.WriteFile(f, file.Bytes(), 0o644)
	out, err := exec.Command(path, "-r", f, "-X", "-nn").Output()
	if err != nil {
		t.Fatalf("tcpdump: %v", err)
	}
	var theirs []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "\t0x") {
			theirs = append(theirs, line)
		}
	}
	var ours []string
	for _, pkt := range packets {
		var b bytes.Buffer
		textdump.WriteFrame(&b, textdump.Frame{Length: len(pkt), Payload: pkt}, textdump.Options{})
		for _, line := range strings.Split(b.String(), "\n") {
			if strings.HasPrefix(line, "\t0x") {
				ours = append(ours, line)
			}
		}
	}
	if len(ours) != 40 || strings.Join(ours, "\n") != strings.Join(theirs, "\n") {
		t.Errorf("hex lines differ from tcpdump -X:\nours:\n%s\ntcpdump:\n%s", strings.Join(ours, "\n"), strings.Join(theirs, "\n"))
	}
}

// FuzzDump: any stream dumps without a panic. The committed corpus
// (testdata/fuzz) holds the same captures as capture's reader fuzzing.
func FuzzDump(f *testing.F) {
	f.Add([]byte{})
	f.Add(export(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		textdump.Dump(io.Discard, bytes.NewReader(data), textdump.Options{Acks: true})
	})
}
