package capture_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sockd/sockd/capture"
)

// FuzzReadConversations feeds ReadConversations arbitrary bytes: it must
// never panic, and what it returns is bounded by its input — no message
// holds more payload than the file had.
func FuzzReadConversations(f *testing.F) {
	// The committed corpus (testdata/fuzz) holds sockd's exports, a
	// tcpdump-style pcap and tshark's own captures; these are small ones
	// built here so that the target has seeds of each format anyway.
	for _, seed := range builtSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		convs, err := capture.ReadConversations(bytes.NewReader(data), int64(len(data))+1)
		if err != nil {
			if convs != nil {
				t.Fatalf("conversations with an error: %v", err)
			}
			return
		}
		var payload int
		for _, c := range convs {
			if c.Protocol != capture.TCP && c.Protocol != capture.UDP {
				t.Fatalf("protocol %v", c.Protocol)
			}
			for _, m := range c.Messages {
				payload += len(m.Data)
			}
		}
		if payload > len(data) {
			t.Fatalf("%d payload bytes out of a %d-byte file", payload, len(data))
		}
	})
}

// builtSeeds makes a small pcapng export of a TCP ring (with a drop and a
// reset) and of a UDP ring, in IPv4 and IPv6.
func builtSeeds(tb testing.TB) [][]byte {
	t0 := time.Unix(1_700_000_000, 0)
	var seeds [][]byte
	for _, fam := range []struct {
		family      capture.Family
		local, peer string
	}{{capture.IPv4, "127.0.0.1:40000", "127.0.0.1:80"}, {capture.IPv6, "[::1]:40000", "[::1]:80"}} {
		local, remote := netip.MustParseAddrPort(fam.local), netip.MustParseAddrPort(fam.peer)
		r := capture.NewRing(capture.Meta{SocketID: "seed", Protocol: capture.TCP, Family: fam.family}, capture.MinRingBytes, nil)
		r.Connected(t0, local, remote)
		r.Sent(t0.Add(time.Millisecond), []byte("GET / HTTP/1.0\r\n\r\n"), netip.AddrPort{})
		r.Received(t0.Add(2*time.Millisecond), []byte("HTTP/1.0 200 OK\r\n\r\nhello"), netip.AddrPort{})
		r.ShutdownWrite(t0.Add(3 * time.Millisecond))
		r.ResetReceived(t0.Add(4 * time.Millisecond))
		u := capture.NewRing(capture.Meta{SocketID: "useed", Protocol: capture.UDP, Family: fam.family, Local: local}, 0, nil)
		u.Sent(t0, []byte("query"), remote)
		u.Received(t0.Add(time.Millisecond), []byte("answer"), remote)
		var buf bytes.Buffer
		if err := capture.WritePcapng(&buf, r, u); err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, buf.Bytes())
		r.Release()
		u.Release()
	}
	return seeds
}

// TestWriteFuzzSeeds refreshes the committed seed corpus from real
// captures: SOCKD_WRITE_FUZZ_SEEDS=1 go test -run TestWriteFuzzSeeds ./capture
// (as root with tshark installed, for tshark's own captures).
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("SOCKD_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set SOCKD_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz/FuzzReadConversations")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzReadConversations")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range builtSeeds(t) {
		write(fmt.Sprintf("sockd-export-%d", i), s)
	}
	// A real conversation, recorded and exported by sockd.
	client, server := tcpPair(t, "tcp4", capture.MinRingBytes, nil)
	pingPong(t, client, server, 3, 100, 50)
	closeBoth(t, client, server)
	var buf bytes.Buffer
	if err := capture.WritePcapng(&buf, client.ring); err != nil {
		t.Fatal(err)
	}
	write("sockd-loopback", buf.Bytes())
	// tcpdump-style pcap with Ethernet frames.
	b := newPcapBuilder(t)
	cli, srv := netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:80")
	b.tcp(cli, srv, 1, 0, "S", nil)
	b.tcp(srv, cli, 9, 2, "S.", nil)
	b.tcp(cli, srv, 7, 10, "P.", []byte("late"))
	b.tcp(cli, srv, 2, 10, "P.", []byte("early"))
	b.tcp(cli, srv, 2, 10, "P.", []byte("early"))
	b.udp(cli, srv, []byte("datagram"))
	b.tcp(srv, cli, 10, 11, "R.", nil)
	write("pcap-ethernet", b.buf.Bytes())
	// tshark's own captures of loopback, pcapng and pcap.
	for _, format := range []string{"pcapng", "pcap"} {
		stop := tsharkCapture(t, "tcp or udp", format)
		client, server := tcpPair(t, "tcp4", capture.MinRingBytes, nil)
		pingPong(t, client, server, 2, 20, 10)
		closeBoth(t, client, server)
		data, err := os.ReadFile(stop())
		if err != nil {
			t.Fatal(err)
		}
		write("tshark-"+format, data)
	}
}
