package capture_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sockd/sockd/capture"
)

// pcapBuilder writes a classic pcap file of Ethernet frames, as tcpdump
// does, packet by packet.
type pcapBuilder struct {
	t   *testing.T
	buf bytes.Buffer
	w   *pcapgo.Writer
	at  time.Time
}

func newPcapBuilder(t *testing.T) *pcapBuilder {
	b := &pcapBuilder{t: t, at: time.Unix(1_700_000_000, 0)}
	b.w = pcapgo.NewWriter(&b.buf)
	if err := b.w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *pcapBuilder) write(layersToSerialize ...gopacket.SerializableLayer) {
	b.t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, layersToSerialize...); err != nil {
		b.t.Fatal(err)
	}
	b.at = b.at.Add(time.Millisecond)
	data := buf.Bytes()
	if err := b.w.WritePacket(gopacket.CaptureInfo{Timestamp: b.at, CaptureLength: len(data), Length: len(data)}, data); err != nil {
		b.t.Fatal(err)
	}
}

func (b *pcapBuilder) tcp(src, dst netip.AddrPort, seq, ack uint32, flags string, payload []byte) {
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: seq, Ack: ack, Window: 65535,
		SYN: strings.Contains(flags, "S"), ACK: strings.Contains(flags, "."), FIN: strings.Contains(flags, "F"),
		RST: strings.Contains(flags, "R"), PSH: strings.Contains(flags, "P")}
	tcp.SetNetworkLayerForChecksum(ip)
	b.write(eth, ip, tcp, gopacket.Payload(payload))
}

func (b *pcapBuilder) udp(src, dst netip.AddrPort, payload []byte) {
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	udp.SetNetworkLayerForChecksum(ip)
	b.write(eth, ip, udp, gopacket.Payload(payload))
}

func (b *pcapBuilder) save(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "built.pcap")
	if err := os.WriteFile(path, b.buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReadMessyTCP reads a tcpdump-style pcap whose client segments come
// out of order, duplicated, overlapping and with a capture-start gap on a
// second connection, plus port reuse and UDP: the reassembly matches the
// truth and tshark's own follow, and the stream numbers are tshark's.
func TestReadMessyTCP(t *testing.T) {
	b := newPcapBuilder(t)
	cli, srv := netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:80")
	other := netip.MustParseAddrPort("10.0.0.3:40001")
	rng := rand.New(rand.NewPCG(3, 4))
	request := make([]byte, 20_000)
	for i := range request {
		request[i] = byte('a' + rng.IntN(26))
	}
	var isnC, isnS uint32 = 0xfffff000, 1000 // the client's numbers wrap past 2^32
	b.tcp(cli, srv, isnC, 0, "S", nil)
	b.tcp(cli, srv, isnC, 0, "S", nil) // a retransmitted SYN: the same stream
	b.tcp(srv, cli, isnS, isnC+1, "S.", nil)
	b.tcp(cli, srv, isnC+1, isnS+1, ".", nil)
	// The request in 1000-byte segments, sent in a shuffled order, some
	// twice, some as an overlapping retransmission of two halves.
	order := rng.Perm(20)
	for i, k := range order {
		seg := request[k*1000 : (k+1)*1000]
		b.tcp(cli, srv, isnC+1+uint32(k*1000), isnS+1, "P.", seg)
		if i%5 == 0 {
			b.tcp(cli, srv, isnC+1+uint32(k*1000), isnS+1, "P.", seg)
		}
		if i%7 == 0 && k < 19 {
			b.tcp(cli, srv, isnC+1+uint32(k*1000+500), isnS+1, "P.", request[k*1000+500:k*1000+1500])
		}
	}
	// A UDP flow in between.
	b.udp(other, srv, []byte("dns?"))
	b.tcp(srv, cli, isnS+1, isnC+1+20000, "P.", []byte("HTTP/1.0 200 OK\r\n\r\n"))
	b.udp(srv, other, []byte("dns!"))
	b.tcp(srv, cli, isnS+20, isnC+1+20000, "F.", nil)
	b.tcp(cli, srv, isnC+1+20000, isnS+21, "F.", nil)
	// A connection from another client, seen from its middle: no SYN.
	b.tcp(other, srv, 5000, 9000, "P.", []byte("late"))
	b.tcp(srv, other, 9000, 5004, "P.", []byte("seen"))
	// The first pair of ports used again with another ISN: a new stream.
	b.tcp(cli, srv, 77, 0, "S", nil)
	b.tcp(srv, cli, 88, 78, "S.", nil)
	b.tcp(cli, srv, 78, 89, "P.", []byte("again"))
	file := b.save(t)

	convs := readFile(t, file)
	type want struct {
		proto          capture.Protocol
		stream         int
		client, server netip.AddrPort
		fromC, fromS   string
		handshake      bool
	}
	wants := []want{
		{capture.TCP, 0, cli, srv, string(request), "HTTP/1.0 200 OK\r\n\r\n", true},
		{capture.TCP, 1, other, srv, "late", "seen", false},
		{capture.TCP, 2, cli, srv, "again", "", true},
		{capture.UDP, 0, other, srv, "dns?", "dns!", false},
	}
	if len(convs) != len(wants) {
		t.Fatalf("%d conversations, want %d", len(convs), len(wants))
	}
	for i, w := range wants {
		c := convs[i]
		gotC, gotS := sides(c)
		if c.Protocol != w.proto || c.Stream != w.stream || c.Client != w.client || c.Server != w.server ||
			string(gotC) != w.fromC || string(gotS) != w.fromS || c.Handshake != w.handshake || c.MissingBytes != 0 {
			t.Errorf("conversation %d: %v stream %d %v->%v handshake %v missing %d, %s / %q",
				i, c.Protocol, c.Stream, c.Client, c.Server, c.Handshake, c.MissingBytes, sum(gotC), gotS)
		}
	}

	// tshark, the oracle: the same streams, the same bytes.
	needTool(t, "tshark")
	syns := fields(t, file, "tcp.flags.syn == 1 && tcp.flags.ack == 0", "tcp.stream", "tcp.seq_raw")
	if fmt.Sprint(syns) != fmt.Sprint([][]string{{"0", strconv.Itoa(int(isnC))}, {"0", strconv.Itoa(int(isnC))}, {"2", "77"}}) {
		t.Errorf("tshark numbers the SYNs' streams %q", syns)
	}
	for _, c := range convs[:3] {
		gotC, gotS := sides(c)
		tc, ts := followSides(t, file, "tcp", c.Stream, c.Client.String())
		if sum(tc) != sum(gotC) || sum(ts) != sum(gotS) {
			t.Errorf("stream %d: tshark follows %s / %s, ReadConversations %s / %s", c.Stream, sum(tc), sum(ts), sum(gotC), sum(gotS))
		}
	}
}

// TestReadMissingSegments: a segment the file lacks is counted, and the
// bytes after it still come, in order.
func TestReadMissingSegments(t *testing.T) {
	b := newPcapBuilder(t)
	cli, srv := netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:80")
	b.tcp(cli, srv, 100, 0, "S", nil)
	b.tcp(srv, cli, 500, 101, "S.", nil)
	b.tcp(cli, srv, 101, 501, "P.", []byte("one "))
	b.tcp(cli, srv, 115, 501, "P.", []byte("three")) // "two " ... never captured
	b.tcp(cli, srv, 120, 501, "F.", nil)
	convs := readFile(t, b.save(t))
	if len(convs) != 1 {
		t.Fatalf("%d conversations", len(convs))
	}
	got, _ := sides(convs[0])
	if string(got) != "one three" || convs[0].MissingBytes != 10 {
		t.Errorf("read %q, %d missing; want %q, 10", got, convs[0].MissingBytes, "one three")
	}
}

// tsharkCapture captures loopback traffic matching filter into a file
// with tshark itself (root needed, as tshark's dumpcap on lo requires). The
// returned stop ends the capture and returns the file.
func tsharkCapture(t *testing.T, filter, format string) (stop func() string) {
	t.Helper()
	path := needTool(t, "tshark")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" || os.Getenv("SOCKD_TEST_ALL") == "1" {
			t.Fatal("capturing with tshark needs root (CI=true or SOCKD_TEST_ALL=1)")
		}
		t.Skip("capturing with tshark needs root")
	}
	file := filepath.Join(t.TempDir(), "tshark."+format)
	cmd := exec.Command(path, "-i", "lo", "-f", filter, "-F", format, "-w", file)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	// Wait for "Capture started": packets before it are lost.
	ready := make(chan error, 1)
	var log bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := stderr.Read(buf)
			log.Write(buf[:n])
			if strings.Contains(log.String(), "Capture started") {
				ready <- nil
				io.Copy(io.Discard, stderr)
				return
			}
			if err != nil {
				ready <- fmt.Errorf("tshark ended before capturing: %v: %s", err, log.String())
				return
			}
		}
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("tshark did not start capturing: %s", log.String())
	}
	return func() string {
		time.Sleep(time.Second) // the last packets reach dumpcap, also on a loaded machine
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("tshark did not stop on SIGINT")
		}
		return file
	}
}

// TestReadTsharkCaptures captures a real loopback TCP conversation and UDP
// exchange with tshark itself (pcapng, Ethernet frames on lo, and pcap) and
// reads them back: the conversations, their sides and their bytes.
func TestReadTsharkCaptures(t *testing.T) {
	for _, format := range []string{"pcapng", "pcap"} {
		t.Run(format, func(t *testing.T) {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { udp.Close() })
			tcpPort, udpPort := addrPort(t, ln.Addr()).Port(), addrPort(t, udp.LocalAddr()).Port()
			stop := tsharkCapture(t, fmt.Sprintf("tcp port %d or udp port %d", tcpPort, udpPort), format)

			request, answer := bytes.Repeat([]byte("ask "), 100_000), []byte("answered\n")
			served := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					served <- err
					return
				}
				defer c.Close()
				got, err := io.ReadAll(c)
				if err == nil && !bytes.Equal(got, request) {
					err = fmt.Errorf("server read %d bytes", len(got))
				}
				if err == nil {
					_, err = c.Write(answer)
				}
				served <- err
			}()
			c, err := net.Dial("tcp4", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			if _, err := c.Write(request); err != nil {
				t.Fatal(err)
			}
			c.(*net.TCPConn).CloseWrite()
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, answer) {
				t.Fatalf("client read %q, %v", got, err)
			}
			if err := <-served; err != nil {
				t.Fatal(err)
			}
			uc, err := net.Dial("udp4", udp.LocalAddr().String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { uc.Close() })
			uc.Write([]byte("ping"))
			buf := make([]byte, 100)
			udp.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := udp.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "ping" {
				t.Fatalf("udp read %q, %v", buf[:n], err)
			}
			udp.WriteTo([]byte("pong"), from)
			uc.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := uc.Read(buf); err != nil || string(buf[:n]) != "pong" {
				t.Fatalf("udp client read %q, %v", buf[:n], err)
			}
			file := stop()

			convs := readFile(t, file)
			if len(convs) != 2 {
				t.Fatalf("%d conversations in tshark's %s, want a TCP and a UDP one", len(convs), format)
			}
			tc, uc2 := convs[0], convs[1]
			fromC, fromS := sides(tc)
			if tc.Protocol != capture.TCP || !tc.Handshake || tc.Client != addrPort(t, c.LocalAddr()) || tc.MissingBytes != 0 ||
				sum(fromC) != sum(request) || sum(fromS) != sum(answer) {
				t.Errorf("TCP: %v->%v handshake %v missing %d, %s / %s", tc.Client, tc.Server, tc.Handshake, tc.MissingBytes, sum(fromC), sum(fromS))
			}
			uC, uS := sides(uc2)
			if uc2.Protocol != capture.UDP || uc2.Client != addrPort(t, uc.LocalAddr()) || string(uC) != "ping" || string(uS) != "pong" {
				t.Errorf("UDP: %v->%v %q / %q", uc2.Client, uc2.Server, uC, uS)
			}
		})
	}
}
