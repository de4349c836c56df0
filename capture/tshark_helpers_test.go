package capture_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// followRaw runs tshark's follow,tcp,raw (or udp) on a stream and returns
// the bytes each node sent: node 0 is the one that sent the stream's first
// packet.
func followRaw(t testing.TB, file, proto string, stream int) (node0, node1 []byte, nodes [2]string) {
	t.Helper()
	out := tshark(t, "-r", file, "-q", "-z", fmt.Sprintf("follow,%s,raw,%d", proto, stream))
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	inBody := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "====="):
			inBody = false
		case strings.HasPrefix(line, "Node 0: "):
			nodes[0] = strings.TrimPrefix(line, "Node 0: ")
		case strings.HasPrefix(line, "Node 1: "):
			nodes[1] = strings.TrimPrefix(line, "Node 1: ")
			inBody = true
		case inBody && line != "":
			second := strings.HasPrefix(line, "\t")
			b, err := hex.DecodeString(strings.TrimSpace(line))
			if err != nil {
				t.Fatalf("follow output line %q: %v", line, err)
			}
			if second {
				node1 = append(node1, b...)
			} else {
				node0 = append(node0, b...)
			}
		}
	}
	return node0, node1, nodes
}

// followSides follows a stream and returns what client (an address as
// tshark prints it, host:port) sent and what the other node sent.
func followSides(t testing.TB, file, proto string, stream int, client string) (fromClient, fromServer []byte) {
	t.Helper()
	node0, node1, nodes := followRaw(t, file, proto, stream)
	switch client {
	case nodes[0]:
		return node0, node1
	case nodes[1]:
		return node1, node0
	}
	t.Fatalf("tshark follows nodes %q, neither is %s", nodes, client)
	return nil, nil
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return fmt.Sprintf("%x (%d bytes)", s[:8], len(b))
}

// analysisFlags lists the frames tshark's TCP analysis flags, with its
// checksum, length and malformation checks on, and the frames with an
// expert warning — except the window notes that a real capture has too,
// and the warning every RST gets ("Connection reset").
func analysisFlags(t testing.TB, file string) string {
	t.Helper()
	return tshark(t, "-r", file,
		"-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
		"-Y", `(tcp.analysis.flags && !tcp.analysis.window_full && !tcp.analysis.window_update) `+
			`|| tcp.checksum.status != 1 || udp.checksum.status == 0 || ip.checksum.status == 0 || _ws.malformed || (_ws.expert.severity >= warning && !tcp.connection.rst)`,
		"-T", "fields", "-e", "frame.number", "-e", "_ws.expert.message")
}

// fields runs tshark -T fields with the given fields (and display filter)
// and returns one slice of values per frame.
func fields(t testing.TB, file, filter string, names ...string) [][]string {
	t.Helper()
	args := []string{"-r", file, "-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=;"}
	if filter != "" {
		args = append(args, "-Y", filter)
	}
	for _, n := range names {
		args = append(args, "-e", n)
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(tshark(t, args...), "\n"), "\n") {
		if line != "" {
			rows = append(rows, strings.Split(line, "|"))
		}
	}
	return rows
}
