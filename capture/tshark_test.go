package capture_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/sockd/sockd/capture"
)

// converse drives a real conversation over a recording pair: a request, a
// large answer, a large upload, a half-close, a last answer after it and
// the closes. It returns what the client and the server sent.
func converse(t *testing.T, client, server *recordingConn) (fromClient, fromServer []byte) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	hello, answer, upload, bye := []byte("hello\n"), random(200<<10), random(300<<10+17), []byte("bye\n")
	errc := make(chan error, 1)
	go func() {
		// The server: read the request, answer, read the upload to EOF,
		// answer once more after the client's half-close, close.
		buf := make([]byte, len(hello))
		if _, err := io.ReadFull(server, buf); err != nil {
			errc <- err
			return
		}
		if _, err := server.Write(answer); err != nil {
			errc <- err
			return
		}
		got, err := io.ReadAll(server)
		if err != nil {
			errc <- err
			return
		}
		if !bytes.Equal(got, upload) {
			t.Errorf("server read %d bytes, want the %d uploaded", len(got), len(upload))
		}
		if _, err := server.Write(bye); err != nil {
			errc <- err
			return
		}
		errc <- server.Close()
	}()
	if _, err := client.Write(hello); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(answer))
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(upload); off += 64 << 10 {
		if _, err := client.Write(upload[off:min(off+64<<10, len(upload))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	last, err := io.ReadAll(client)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(last, bye) {
		t.Fatalf("client read %q after its half-close, want %q", last, bye)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	return append(append([]byte{}, hello...), upload...), append(append([]byte{}, answer...), bye...)
}

// TestTsharkFollowsTCP records a real loopback conversation on both of its
// sockets and checks each socket's export with tshark: the stream it
// follows holds exactly what each side sent, and its TCP analysis flags no
// frame.
func TestTsharkFollowsTCP(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			needTool(t, "tshark")
			client, server := tcpPair(t, network, 8<<20, capture.NewBudget(64<<20))
			fromClient, fromServer := converse(t, client, server)
			for _, c := range []*recordingConn{client, server} {
				file := writeFile(t, c.ring.Meta().SocketID+".pcapng", c.ring)
				if flags := analysisFlags(t, file); flags != "" {
					t.Errorf("%s: tshark flags frames:\n%s", file, flags)
				}
				// tshark's conversation completeness: SYN, SYN-ACK, ACK, data
				// and FIN seen (31, "Complete, WITH_DATA").
				rows := fields(t, file, "", "tcp.completeness")
				if last := rows[len(rows)-1]; last[0] != "31" {
					t.Errorf("%s: tshark's completeness %s at the end, want 31", file, last[0])
				}
				node0, node1, nodes := followRaw(t, file, "tcp", 0)
				t.Logf("%s: node 0 %s, node 1 %s", c.ring.Meta().SocketID, nodes[0], nodes[1])
				if sum(node0) != sum(fromClient) || sum(node1) != sum(fromServer) {
					t.Errorf("%s: tshark follows client %s, server %s; want %s, %s", file,
						sum(node0), sum(node1), sum(fromClient), sum(fromServer))
				}
			}
		})
	}
}
