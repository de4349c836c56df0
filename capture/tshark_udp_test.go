package capture_test

import (
	"bytes"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/sockd/sockd/capture"
)

// TestTsharkUDPDatagrams records real loopback datagrams (an unconnected
// socket bound to the wildcard address and a connected one, of sizes from
// empty to the largest IPv4 datagram) and checks that tshark shows one
// frame per datagram with its size, addresses and bytes.
func TestTsharkUDPDatagrams(t *testing.T) {
	for _, network := range []string{"udp4", "udp6"} {
		t.Run(network, func(t *testing.T) {
			needTool(t, "tshark")
			loop, wildcard, family := "127.0.0.1:0", "0.0.0.0:0", capture.IPv4
			if network == "udp6" {
				loop, wildcard, family = "[::1]:0", "[::]:0", capture.IPv6
			}
			server, err := net.ListenPacket(network, loop)
			if err != nil {
				if network == "udp6" {
					t.Skipf("no IPv6 loopback: %v", err)
				}
				t.Fatal(err)
			}
			t.Cleanup(func() { server.Close() })
			client, err := net.ListenPacket(network, wildcard)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { client.Close() })
			ring := capture.NewRing(capture.Meta{SocketID: "udpclient", Protocol: capture.UDP, Family: family}, 4<<20, nil)
			t.Cleanup(ring.Release)
			ring.Bound(time.Time{}, addrPort(t, client.LocalAddr()))
			serverAddr := addrPort(t, server.LocalAddr())

			sizes := []int{0, 1, 100, 1472, 9000, 65507}
			if network == "udp6" {
				sizes = append(sizes, 65527)
			}
			var sent [][]byte
			buf := make([]byte, 70000)
			for i, n := range sizes {
				d := bytes.Repeat([]byte{byte('a' + i)}, n)
				if _, err := client.WriteTo(d, server.LocalAddr()); err != nil {
					t.Fatalf("send %d bytes: %v", n, err)
				}
				ring.Sent(time.Now(), d, serverAddr)
				sent = append(sent, d)
				// The server answers each with its length; the client
				// records what it receives, from whom.
				server.SetReadDeadline(time.Now().Add(5 * time.Second))
				m, from, err := server.ReadFrom(buf)
				if err != nil || m != n {
					t.Fatalf("server read %d bytes (%v), want %d", m, err, n)
				}
				if _, err := server.WriteTo([]byte(strconv.Itoa(m)), from); err != nil {
					t.Fatal(err)
				}
				client.SetReadDeadline(time.Now().Add(5 * time.Second))
				m, from, err = client.ReadFrom(buf)
				if err != nil {
					t.Fatal(err)
				}
				ring.Received(time.Now(), buf[:m], addrPort(t, from))
				sent = append(sent, append([]byte{}, buf[:m]...))
			}
			ring.Closed(time.Time{})

			file := writeFile(t, "udp.pcapng", ring)
			if flags := analysisFlags(t, file); flags != "" {
				t.Errorf("tshark flags frames:\n%s", flags)
			}
			src := "ip.src"
			if network == "udp6" {
				src = "ipv6.src"
			}
			rows := fields(t, file, "", "udp.length", src, "udp.srcport", "udp.dstport", "data.data", "frame.interface_name")
			if len(rows) != len(sent) {
				t.Fatalf("tshark shows %d frames, want one per datagram: %d", len(rows), len(sent))
			}
			wantSrc := "127.0.0.1"
			if network == "udp6" {
				wantSrc = "::1"
			}
			for i, row := range rows {
				if row[0] != strconv.Itoa(len(sent[i])+8) {
					t.Errorf("frame %d: udp.length %s, want %d", i+1, row[0], len(sent[i])+8)
				}
				if row[1] != wantSrc {
					t.Errorf("frame %d: source %s, want %s (the wildcard shown as loopback)", i+1, row[1], wantSrc)
				}
				port := strconv.Itoa(int(serverAddr.Port()))
				if (i%2 == 0 && row[3] != port) || (i%2 == 1 && row[2] != port) {
					t.Errorf("frame %d: ports %s -> %s, server is %s", i+1, row[2], row[3], port)
				}
				if row[5] != "udpclient" {
					t.Errorf("frame %d: interface %q, want the socket id", i+1, row[5])
				}
			}
			// tshark's own reading of the payloads: follow the UDP stream.
			node0, node1, nodes := followRaw(t, file, "udp", 0)
			if nodes[0] != serverAddr.String() && nodes[1] != serverAddr.String() {
				t.Fatalf("tshark follows nodes %q, neither is the server %s", nodes, serverAddr)
			}
			if nodes[1] != serverAddr.String() {
				// Node 0 is whoever sent the first bytes: the server, when the
				// client's first datagram was empty.
				node0, node1 = node1, node0
			}
			var wantOut, wantIn []byte
			for i, d := range sent {
				if i%2 == 0 {
					wantOut = append(wantOut, d...)
				} else {
					wantIn = append(wantIn, d...)
				}
			}
			if sum(node0) != sum(wantOut) || sum(node1) != sum(wantIn) {
				t.Errorf("tshark follows %s out, %s in; want %s, %s", sum(node0), sum(node1), sum(wantOut), sum(wantIn))
			}
		})
	}
}
