package capture_test

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/capture"
)

// TestTsharkCaptureStartedMidConnection turns capture on after the
// connection was made: the export has no handshake and says so, tshark
// follows the bytes sent since, and its analysis flags nothing.
func TestTsharkCaptureStartedMidConnection(t *testing.T) {
	needTool(t, "tshark")
	client, server := tcpPair(t, "tcp4", 8<<20, nil)
	pingPong(t, client, server, 3, 100, 100) // before capture: not recorded
	late := capture.NewRing(capture.Meta{SocketID: "late", Protocol: capture.TCP,
		Local: addrPort(t, client.LocalAddr()), Remote: addrPort(t, client.RemoteAddr())}, 0, nil)
	t.Cleanup(late.Release)
	client.ring = late
	fromClient, fromServer := pingPong(t, client, server, 5, 1000, 3000)
	closeBoth(t, client, server)

	file := writeFile(t, "late.pcapng", late)
	if flags := analysisFlags(t, file); flags != "" {
		t.Errorf("tshark flags frames:\n%s", flags)
	}
	syn := fields(t, file, "tcp.flags.syn == 1", "frame.number")
	comments := fields(t, file, "frame.comment", "frame.number", "frame.comment")
	if len(syn) != 0 || len(comments) != 1 || comments[0][0] != "1" || !strings.Contains(comments[0][1], "no handshake") {
		t.Errorf("SYNs %q, comments %q: want no handshake, said on frame 1", syn, comments)
	}
	c, s := followSides(t, file, "tcp", 0, client.LocalAddr().String())
	if sum(c) != sum(fromClient) || sum(s) != sum(fromServer) {
		t.Errorf("tshark follows %s, %s; want %s, %s", sum(c), sum(s), sum(fromClient), sum(fromServer))
	}
}

// TestTsharkReset closes the client abortively (SO_LINGER 0: the kernel
// sends RST): the client's export ends with its RST, the server's with
// the RST it received, and tshark reads both as a reset and nothing else.
func TestTsharkReset(t *testing.T) {
	needTool(t, "tshark")
	client, server := tcpPair(t, "tcp4", 8<<20, nil)
	fromClient, fromServer := pingPong(t, client, server, 2, 500, 700)
	if err := client.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	client.TCPConn.Close()
	client.ring.ResetSent(time.Now())
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := server.Read(make([]byte, 10))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("server read after the client's RST: %v, want ECONNRESET", err)
	}
	server.ring.ResetReceived(time.Now())
	server.Close()

	for _, c := range []*recordingConn{client, server} {
		file := writeFile(t, "reset.pcapng", c.ring)
		if flags := analysisFlags(t, file); flags != "" {
			t.Errorf("%s: tshark flags frames:\n%s", c.ring.Meta().SocketID, flags)
		}
		rows := fields(t, file, "", "tcp.flags.str", "tcp.srcport")
		last := rows[len(rows)-1]
		wantPort := addrPort(t, client.LocalAddr()).Port()
		if !strings.Contains(last[0], "R") || last[1] != itoa(wantPort) {
			t.Errorf("%s: last frame %q, want the client's RST", c.ring.Meta().SocketID, last)
		}
		for _, r := range rows {
			if strings.Contains(r[0], "F") {
				t.Errorf("%s: a FIN in a connection that was reset: %q", c.ring.Meta().SocketID, rows)
			}
		}
		got, back := followSides(t, file, "tcp", 0, client.LocalAddr().String())
		if sum(got) != sum(fromClient) || sum(back) != sum(fromServer) {
			t.Errorf("tshark follows %s, %s", sum(got), sum(back))
		}
	}
}

// TestTsharkDualStack records what an AF_INET6 socket talking to an IPv4
// peer reports (IPv4-mapped addresses, as getsockname and getpeername give
// them on a dual-stack socket): the frames are IPv4, as on the wire. (Go's
// net package hides mapped addresses, so the real connection is IPv4 and
// the ring is told what sockmgr's AF_INET6 socket would tell it.)
func TestTsharkDualStack(t *testing.T) {
	needTool(t, "tshark")
	client, server := tcpPair(t, "tcp4", 0, nil)
	mapped := func(a net.Addr) netip.AddrPort {
		ap := addrPort(t, a)
		return netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port())
	}
	r := capture.NewRing(capture.Meta{SocketID: "dual", Protocol: capture.TCP, Family: capture.IPv6}, 0, nil)
	t.Cleanup(r.Release)
	r.Connected(time.Now(), mapped(client.LocalAddr()), mapped(client.RemoteAddr()))
	if !r.Meta().Remote.Addr().Is4In6() {
		t.Fatalf("remote %v is not IPv4-mapped", r.Meta().Remote)
	}
	client.ring = r
	fromClient, fromServer := pingPong(t, client, server, 2, 10, 20)
	closeBoth(t, client, server)
	file := writeFile(t, "dual.pcapng", r)
	if flags := analysisFlags(t, file); flags != "" {
		t.Errorf("tshark flags frames:\n%s", flags)
	}
	for _, row := range fields(t, file, "", "ip.version", "ip.src", "ip.dst") {
		if row[0] != "4" || row[1] != "127.0.0.1" || row[2] != "127.0.0.1" {
			t.Fatalf("frame %q: want IPv4 between the unmapped addresses", row)
		}
	}
	c, s := followSides(t, file, "tcp", 0, client.LocalAddr().String())
	if sum(c) != sum(fromClient) || sum(s) != sum(fromServer) {
		t.Errorf("tshark follows %s, %s", sum(c), sum(s))
	}
}

func itoa(p uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[len("0.0.0.0:"):]
}

// TestAnalysisCheckCatchesProblems proves the tshark check the other tests
// rely on is not vacuous: a retransmission, duplicate ACKs and a lost
// segment, each in a file of its own, are all flagged.
func TestAnalysisCheckCatchesProblems(t *testing.T) {
	needTool(t, "tshark")
	cli, srv := netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:80")
	handshake := func(b *pcapBuilder) {
		b.tcp(cli, srv, 100, 0, "S", nil)
		b.tcp(srv, cli, 500, 101, "S.", nil)
		b.tcp(cli, srv, 101, 501, ".", nil)
	}
	for name, build := range map[string]func(b *pcapBuilder){
		"retransmission": func(b *pcapBuilder) {
			b.tcp(cli, srv, 101, 501, "P.", []byte("data"))
			b.tcp(cli, srv, 101, 501, "P.", []byte("data"))
		},
		"duplicate ack": func(b *pcapBuilder) {
			b.tcp(cli, srv, 101, 501, "P.", []byte("data"))
			b.tcp(srv, cli, 501, 105, ".", nil)
			b.tcp(srv, cli, 501, 105, ".", nil)
		},
		"lost segment": func(b *pcapBuilder) {
			b.tcp(cli, srv, 111, 501, "P.", []byte("data"))
		},
	} {
		b := newPcapBuilder(t)
		handshake(b)
		build(b)
		if flags := analysisFlags(t, b.save(t)); flags == "" {
			t.Errorf("%s: not flagged", name)
		}
	}
}
