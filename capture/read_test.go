package capture_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/capture"
)

const maxFile = 64 << 20

// sides joins a conversation's messages per side.
func sides(c capture.Conversation) (fromClient, fromServer []byte) {
	for _, m := range c.Messages {
		if m.FromClient {
			fromClient = append(fromClient, m.Data...)
		} else {
			fromServer = append(fromServer, m.Data...)
		}
	}
	return fromClient, fromServer
}

func readFile(t *testing.T, path string) []capture.Conversation {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	convs, err := capture.ReadConversations(f, maxFile)
	if err != nil {
		t.Fatal(err)
	}
	return convs
}

// TestReadOwnExport reads back sockd's own export of a real conversation:
// one TCP conversation, the client the socket that connected, each side's
// bytes exactly, timestamps in order.
func TestReadOwnExport(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			client, server := tcpPair(t, network, 8<<20, nil)
			fromClient, fromServer := converse(t, client, server)
			for _, r := range []*capture.Ring{client.ring, server.ring} {
				var buf bytes.Buffer
				if err := capture.WritePcapng(&buf, r); err != nil {
					t.Fatal(err)
				}
				convs, err := capture.ReadConversations(&buf, maxFile)
				if err != nil {
					t.Fatal(err)
				}
				if len(convs) != 1 {
					t.Fatalf("%d conversations, want 1", len(convs))
				}
				c := convs[0]
				if c.Protocol != capture.TCP || c.Stream != 0 || !c.Handshake || c.MissingBytes != 0 ||
					c.Client != addrPort(t, client.LocalAddr()) || c.Server != addrPort(t, server.LocalAddr()) {
					t.Errorf("conversation %v %d %v->%v handshake %v missing %d", c.Protocol, c.Stream, c.Client, c.Server, c.Handshake, c.MissingBytes)
				}
				gotC, gotS := sides(c)
				if sum(gotC) != sum(fromClient) || sum(gotS) != sum(fromServer) {
					t.Errorf("read %s and %s; want %s and %s", sum(gotC), sum(gotS), sum(fromClient), sum(fromServer))
				}
				for i := 1; i < len(c.Messages); i++ {
					if c.Messages[i].At.Before(c.Messages[i-1].At) {
						t.Fatalf("message %d at %v before message %d", i, c.Messages[i].At, i-1)
					}
				}
			}
		})
	}
}

// TestReadOwnUDP reads datagrams back one by one, with their direction.
func TestReadOwnUDP(t *testing.T) {
	local := netip.MustParseAddrPort("127.0.0.1:5000")
	r := capture.NewRing(capture.Meta{SocketID: "u", Protocol: capture.UDP, Local: local}, 0, nil)
	t.Cleanup(r.Release)
	a, b := netip.MustParseAddrPort("127.0.0.1:6000"), netip.MustParseAddrPort("127.0.0.1:7000")
	t0 := time.Unix(1_700_000_000, 0)
	r.Received(t0, []byte("from a"), a)
	r.Sent(t0.Add(time.Millisecond), []byte("to a"), a)
	r.Sent(t0.Add(2*time.Millisecond), nil, b) // an empty datagram
	r.Received(t0.Add(3*time.Millisecond), []byte("from b"), b)
	var buf bytes.Buffer
	if err := capture.WritePcapng(&buf, r); err != nil {
		t.Fatal(err)
	}
	convs, err := capture.ReadConversations(&buf, maxFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(convs) != 2 {
		t.Fatalf("%d flows, want 2", len(convs))
	}
	want := []struct {
		client, server netip.AddrPort
		msgs           []capture.Message
	}{
		{a, local, []capture.Message{{FromClient: true, At: t0, Data: []byte("from a")}, {FromClient: false, At: t0.Add(time.Millisecond), Data: []byte("to a")}}},
		{local, b, []capture.Message{{FromClient: true, At: t0.Add(2 * time.Millisecond), Data: []byte{}}, {FromClient: false, At: t0.Add(3 * time.Millisecond), Data: []byte("from b")}}},
	}
	for i, w := range want {
		c := convs[i]
		if c.Protocol != capture.UDP || c.Stream != i || c.Client != w.client || c.Server != w.server || len(c.Messages) != len(w.msgs) {
			t.Fatalf("flow %d: %v %d %v->%v %d messages", i, c.Protocol, c.Stream, c.Client, c.Server, len(c.Messages))
		}
		for j, m := range w.msgs {
			g := c.Messages[j]
			if g.FromClient != m.FromClient || !g.At.Equal(m.At) || !bytes.Equal(g.Data, m.Data) {
				t.Errorf("flow %d message %d: %+v, want %+v", i, j, g, m)
			}
		}
	}
}

func TestReadRefusesBadInput(t *testing.T) {
	var buf bytes.Buffer
	r := tcpRing(0, nil)
	r.Connected(time.Unix(1, 0), netip.MustParseAddrPort("127.0.0.1:1"), peer)
	r.Sent(time.Unix(2, 0), bytes.Repeat([]byte("z"), 10_000), netip.AddrPort{})
	if err := capture.WritePcapng(&buf, r); err != nil {
		t.Fatal(err)
	}
	file := buf.Bytes()

	if _, err := capture.ReadConversations(bytes.NewReader(file), int64(len(file)-1)); !errors.Is(err, capture.ErrTooLarge) {
		t.Errorf("a file over the limit: %v, want ErrTooLarge", err)
	}
	if _, err := capture.ReadConversations(bytes.NewReader(file), int64(len(file))); err != nil {
		t.Errorf("a file at the limit: %v", err)
	}
	for _, bad := range []string{"", "abc", "GET / HTTP/1.1\r\n\r\n", strings.Repeat("\x00", 100)} {
		if _, err := capture.ReadConversations(strings.NewReader(bad), maxFile); !errors.Is(err, capture.ErrNotCapture) {
			t.Errorf("%q: %v, want ErrNotCapture", bad, err)
		}
	}
	// Compressed: read through, but the limit holds for what it expands to.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(file)
	zw.Close()
	if convs, err := capture.ReadConversations(bytes.NewReader(gz.Bytes()), maxFile); err != nil || len(convs) != 1 {
		t.Errorf("gzip: %d conversations, %v", len(convs), err)
	}
	if _, err := capture.ReadConversations(bytes.NewReader(gz.Bytes()), int64(gz.Len()+10)); !errors.Is(err, capture.ErrTooLarge) {
		t.Errorf("gzip expanding past the limit: %v, want ErrTooLarge", err)
	}
	var bomb bytes.Buffer
	zw = gzip.NewWriter(&bomb)
	zw.Write(make([]byte, 10<<20))
	zw.Close()
	if _, err := capture.ReadConversations(bytes.NewReader(bomb.Bytes()), 1<<20); !errors.Is(err, capture.ErrTooLarge) {
		t.Errorf("a 10 MiB gzip bomb under a 1 MiB limit: %v, want ErrTooLarge", err)
	}
	// Cut short inside its last packet: what came before is read.
	convs, err := capture.ReadConversations(bytes.NewReader(file[:len(file)-100]), maxFile)
	if err != nil || len(convs) != 1 {
		t.Errorf("a file cut short: %d conversations, %v", len(convs), err)
	}
}

func TestFindConversation(t *testing.T) {
	convs := []capture.Conversation{
		{Protocol: capture.UDP, Stream: 0}, {Protocol: capture.TCP, Stream: 0}, {Protocol: capture.TCP, Stream: 1}, {Protocol: capture.UDP, Stream: 1},
	}
	if c, ok := capture.FindConversation(convs, 1); !ok || c.Protocol != capture.TCP || c.Stream != 1 {
		t.Errorf("stream 1 of a file with TCP: %v %d %v", c.Protocol, c.Stream, ok)
	}
	if _, ok := capture.FindConversation(convs, 2); ok {
		t.Errorf("stream 2 found in a file with two TCP streams")
	}
	if c, ok := capture.FindConversation([]capture.Conversation{convs[0], convs[3]}, 1); !ok || c.Protocol != capture.UDP || c.Stream != 1 {
		t.Errorf("stream 1 of a UDP-only file: %v %d %v", c.Protocol, c.Stream, ok)
	}
	if _, ok := capture.FindConversation(nil, 0); ok {
		t.Errorf("a conversation found in none")
	}
}
