package capture_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sockd/sockd/capture"
)

// pingPong makes n synchronous exchanges over a recording pair: the client
// sends req bytes, the server reads them and answers resp bytes. It
// returns what each side sent.
func pingPong(t *testing.T, client, server *recordingConn, n, req, resp int) (fromClient, fromServer []byte) {
	t.Helper()
	for i := 0; i < n; i++ {
		q := bytes.Repeat([]byte{byte('A' + i%26)}, req)
		a := bytes.Repeat([]byte{byte('a' + i%26)}, resp)
		if _, err := client.Write(q); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(server, make([]byte, req)); err != nil {
			t.Fatal(err)
		}
		if _, err := server.Write(a); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(client, make([]byte, resp)); err != nil {
			t.Fatal(err)
		}
		fromClient, fromServer = append(fromClient, q...), append(fromServer, a...)
	}
	return fromClient, fromServer
}

// closeBoth ends a recording pair in order: the client half-closes, the
// server reads its EOF and closes, the client reads the server's EOF and
// closes.
func closeBoth(t *testing.T, client, server *recordingConn) {
	t.Helper()
	if err := client.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(server); err != nil || len(b) != 0 {
		t.Fatalf("server read %d bytes, %v; want EOF", len(b), err)
	}
	server.Close()
	if b, err := io.ReadAll(client); err != nil || len(b) != 0 {
		t.Fatalf("client read %d bytes, %v; want EOF", len(b), err)
	}
	client.Close()
}

// TestTsharkDroppedFromFullRing fills a small ring so that it drops its
// oldest records, handshake included: the export starts mid-stream with a
// comment saying what was dropped, tshark's analysis flags nothing, and
// tshark follows exactly the bytes the ring still holds (the last ones).
func TestTsharkDroppedFromFullRing(t *testing.T) {
	needTool(t, "tshark")
	client, server := tcpPair(t, "tcp4", capture.MinRingBytes, nil)
	fromClient, fromServer := pingPong(t, client, server, 100, 4096, 1024)
	closeBoth(t, client, server)
	st := client.ring.Status()
	if st.DroppedBytes == 0 || st.DroppedRecords == 0 {
		t.Fatalf("ring status %+v: nothing dropped", st)
	}
	file := writeFile(t, "dropped.pcapng", client.ring)
	if flags := analysisFlags(t, file); flags != "" {
		t.Errorf("tshark flags frames:\n%s", flags)
	}
	// The first frame says how many records were dropped, and the first
	// frame of each direction how many of its bytes.
	comments := fields(t, file, "frame.comment", "frame.number", "frame.comment")
	joined := fmt.Sprint(comments)
	if len(comments) == 0 || comments[0][0] != "1" || len(comments) > 2 ||
		!strings.Contains(joined, fmt.Sprintf("%d records dropped here", st.DroppedRecords)) ||
		!strings.Contains(joined, "bytes sent by the socket dropped here") ||
		!strings.Contains(joined, "bytes received by the socket dropped here") {
		t.Errorf("comments %q: want the records and each direction's bytes dropped, from frame 1 on", comments)
	}
	node0, node1 := followSides(t, file, "tcp", 0, client.LocalAddr().String())
	if !bytes.HasSuffix(fromClient, node0) || !bytes.HasSuffix(fromServer, node1) {
		t.Errorf("tshark follows %s and %s: not the last bytes each side sent", sum(node0), sum(node1))
	}
	if got := int64(len(node0) + len(node1)); got != st.Bytes {
		t.Errorf("tshark follows %d bytes, the ring holds %d", got, st.Bytes)
	}
	t.Logf("ring %+v; tshark follows %d + %d bytes; comment %q", st, len(node0), len(node1), comments)
}

var missing = regexp.MustCompile(`\[(\d+) bytes missing in capture file\]\x00?`)

// TestTsharkDroppedWhileFollowing lets a following export fall behind a
// small ring: the records dropped between two passes show as a jump in
// sequence numbers with a comment, which tshark reports as segments not
// captured (what happened) and never as retransmissions, out-of-order
// segments or duplicate ACKs.
func TestTsharkDroppedWhileFollowing(t *testing.T) {
	needTool(t, "tshark")
	client, server := tcpPair(t, "tcp4", capture.MinRingBytes, nil)
	var out bytes.Buffer
	e := capture.NewExporter(&out)
	e.Add(client.ring)
	c1, s1 := pingPong(t, client, server, 5, 4096, 1024)
	if err := e.WriteAvailable(); err != nil {
		t.Fatal(err)
	}
	c2, s2 := pingPong(t, client, server, 100, 4096, 1024)
	closeBoth(t, client, server)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "gap.pcapng")
	if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	rows := fields(t, file, "tcp.analysis.flags || frame.comment", "frame.number", "frame.comment",
		"tcp.analysis.lost_segment", "_ws.expert.message")
	var commented int
	for _, row := range rows {
		if row[1] != "" {
			commented++
		} else if row[2] != "" {
			t.Errorf("frame %s: a jump in sequence numbers with no comment", row[0])
		}
		for _, msg := range strings.Split(row[3], ";") {
			switch {
			case msg == "":
			case strings.HasPrefix(msg, "sockd: "): // tshark shows comments as expert notes
			case strings.Contains(msg, "not captured"), strings.Contains(msg, "wasn't captured"):
				// "Previous segment(s) not captured", "ACKed segment that
				// wasn't captured": true, the ring dropped them.
			default:
				t.Errorf("frame %s: tshark says %q", row[0], msg)
			}
		}
	}
	if commented == 0 || commented > 2 {
		t.Errorf("frames %q: want the drop marked once, or once per direction", rows)
	}
	node0, node1 := followSides(t, file, "tcp", 0, client.LocalAddr().String())
	// tshark's follow marks the hole where it is, as for any capture that
	// missed segments: what the first pass wrote, "[N bytes missing in
	// capture file]", then the bytes the ring still held.
	for _, side := range []struct {
		name            string
		got, head, tail []byte
	}{{"client", node0, c1, c2}, {"server", node1, s1, s2}} {
		m := missing.FindSubmatchIndex(side.got)
		if m == nil || !bytes.Equal(side.got[:m[0]], side.head) {
			t.Errorf("%s: tshark follows %q...: not the first exchanges, then a mark of the missing bytes", side.name, side.got[:min(len(side.got), len(side.head)+60)])
			continue
		}
		n, _ := strconv.Atoi(string(side.got[m[2]:m[3]]))
		held := side.got[m[1]:]
		if !bytes.HasSuffix(side.tail, held) || n+len(held) != len(side.tail) {
			t.Errorf("%s: tshark follows %d bytes missing and %d after; want the last of the %d sent", side.name, n, len(held), len(side.tail))
		}
	}
	t.Logf("frames flagged or commented: %q", rows)
}
