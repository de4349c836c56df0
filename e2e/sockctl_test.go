package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of the sockctl output tests")

// sockctl runs the real sockctl against a daemon.
func sockctl(t *testing.T, d *daemon, stdin io.Reader, args ...string) result {
	t.Helper()
	return run(t, stdin, filepath.Join(binDir, "sockctl"), append([]string{"--addr", d.GRPC}, args...)...)
}

// sockctlOK runs sockctl and fails the test unless it exits 0; it returns
// stdout.
func sockctlOK(t *testing.T, d *daemon, args ...string) string {
	t.Helper()
	r := sockctl(t, d, nil, args...)
	if r.code != 0 {
		t.Fatalf("sockctl %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// lastLine is the id a creating command prints.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// The tutorial's TCP flows through the real sockctl, both directions, with
// Python's socket module as the peer.
func TestSockctlTutorialTCP(t *testing.T) {
	d := startSockd(t)
	// sockd is the server.
	id := lastLine(sockctlOK(t, d, "listen", "tcp", "127.0.0.1:0", "--name", "server"))
	port := strings.TrimPrefix(jsonField(t, sockctlOK(t, d, "inspect", id, "-o", "json"), "localAddress"), "127.0.0.1:")
	py := startPython(t, `
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30) as s:
    s.sendall(b"Hello, world")
    print(f"Received {s.recv(1024)!r}")
`, port)
	conn := lastLine(sockctlOK(t, d, "accept", "server", "--timeout", "20s"))
	if got := sockctlOK(t, d, "recv", conn, "-n", "12", "--wait-all", "--timeout", "20s"); got != "Hello, world" {
		t.Fatalf("recv = %q", got)
	}
	sockctlOK(t, d, "send", conn, "Hello, world")
	if got := py.line(t); got != "Received b'Hello, world'" {
		t.Fatalf("python client: %q", got)
	}
	py.wait(t)
	r := sockctl(t, d, nil, "recv", conn, "--timeout", "20s")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "EOF") {
		t.Fatalf("recv after the client closed: %+v", r)
	}
	sockctlOK(t, d, "close", conn, "server")

	// sockd is the client.
	srv := startPython(t, pyEchoServer)
	cl := lastLine(sockctlOK(t, d, "connect", "tcp", "127.0.0.1:"+srv.line(t)))
	sockctl(t, d, strings.NewReader("echo me\n"), "send", cl) // stdin
	if got := sockctlOK(t, d, "recv", cl, "-n", "8", "--wait-all", "--timeout", "20s"); got != "echo me\n" {
		t.Fatalf("echo = %q", got)
	}
	sockctlOK(t, d, "shutdown", cl, "write")
	if r := sockctl(t, d, nil, "recv", cl, "-o", "json", "--timeout", "20s"); !strings.Contains(r.stdout, `"eof": true`) {
		t.Fatalf("recv -o json after shutdown: %+v", r)
	}
	if srv.line(t) != "done" {
		t.Fatal("python server did not finish")
	}
	srv.wait(t)
}

// The UDP flows: sockd as the UDP client of a Python server, and as the
// server of a Python client.
func TestSockctlTutorialUDP(t *testing.T) {
	d := startSockd(t)
	py := startPython(t, pyUDPEchoServer, "1")
	server := "127.0.0.1:" + py.line(t)
	u := lastLine(sockctlOK(t, d, "create", "udp", "--name", "u1"))
	sockctlOK(t, d, "sendto", "u1", server, "ping")
	r := sockctl(t, d, nil, "recvfrom", u, "--timeout", "20s")
	if r.code != 0 || r.stdout != "PING" || strings.TrimSpace(r.stderr) != server {
		t.Fatalf("recvfrom: %+v", r)
	}
	py.line(t)
	py.wait(t)

	s := lastLine(sockctlOK(t, d, "create", "udp"))
	sockctlOK(t, d, "bind", s, "127.0.0.1:0")
	port := strings.TrimPrefix(jsonField(t, sockctlOK(t, d, "inspect", s, "-o", "json"), "localAddress"), "127.0.0.1:")
	client := startPython(t, pyUDPClient, port)
	r = sockctl(t, d, nil, "recvfrom", s, "-o", "json", "--timeout", "20s")
	from := jsonField(t, r.stdout, "address")
	if r.code != 0 || from == "" {
		t.Fatalf("recvfrom -o json: %+v", r)
	}
	sockctlOK(t, d, "sendto", s, from, "HELLO UDP")
	if got := client.line(t); got != "HELLO UDP" {
		t.Fatalf("python client got %q", got)
	}
	client.wait(t)
}

// sockctl attach moves 100 MiB from stdin to a real peer and back, sha256
// equal, and returns when the peer closes.
func TestSockctlAttach100MiB(t *testing.T) {
	const n = 100 << 20
	d := startSockd(t)
	py := startPython(t, pyEchoServer)
	id := lastLine(sockctlOK(t, d, "connect", "tcp", "127.0.0.1:"+py.line(t)))

	src := filepath.Join(t.TempDir(), "in.bin")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.New(rand.NewSource(3)), n); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want := hex.EncodeToString(h.Sum(nil))

	in, _ := os.Open(src)
	defer in.Close()
	cmd := exec.Command(filepath.Join(binDir, "sockctl"), "--addr", d.GRPC, "attach", id)
	cmd.Stdin = in
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	copied, err := io.Copy(got, out)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sockctl attach: %v\n%s", err, stderr.String())
	}
	t.Logf("100 MiB each way through sockctl attach in %v", time.Since(start).Round(time.Millisecond))
	if copied != n || hex.EncodeToString(got.Sum(nil)) != want {
		t.Fatalf("attach returned %d bytes; sha256 equal: %v", copied, hex.EncodeToString(got.Sum(nil)) == want)
	}
	if py.line(t) != "done" {
		t.Fatal("peer did not finish")
	}
	py.wait(t)
	// The socket outlives the attachment.
	info := sockctlOK(t, d, "inspect", id, "-o", "json")
	if jsonField(t, info, "bytesSent") != strconv.Itoa(n) || jsonField(t, info, "bytesReceived") != strconv.Itoa(n) {
		t.Fatalf("counters after attach: %s", info)
	}
}

// Ids by name or unique prefix; an ambiguous prefix lists its candidates.
func TestSockctlPrefixAndNameResolution(t *testing.T) {
	d := startSockd(t)
	var ids []string
	for range 40 {
		ids = append(ids, lastLine(sockctlOK(t, d, "create", "tcp")))
	}
	named := lastLine(sockctlOK(t, d, "create", "udp", "--name", "dns-peer"))
	if got := jsonField(t, sockctlOK(t, d, "inspect", "dns-peer", "-o", "json"), "id"); got != named {
		t.Fatalf("by name: %s, want %s", got, named)
	}
	// A unique prefix: the shortest prefix of ids[0] that no other id shares.
	unique := ids[0][:1]
	for _, other := range append(ids[1:], named) {
		for strings.HasPrefix(other, unique) {
			unique = ids[0][:len(unique)+1]
		}
	}
	if got := jsonField(t, sockctlOK(t, d, "inspect", unique, "-o", "json"), "id"); got != ids[0] {
		t.Fatalf("prefix %q resolved to %s, want %s", unique, got, ids[0])
	}
	// With 41 ids over 32 first letters, two share a first letter.
	byFirst := map[byte][]string{}
	for _, id := range append(ids, named) {
		byFirst[id[0]] = append(byFirst[id[0]], id)
	}
	for first, group := range byFirst {
		if len(group) < 2 {
			continue
		}
		r := sockctl(t, d, nil, "inspect", string(first))
		if r.code != 2 || !strings.Contains(r.stderr, "ambiguous id prefix") {
			t.Fatalf("ambiguous prefix %q: %+v", string(first), r)
		}
		for _, id := range group {
			if !strings.Contains(r.stderr, id) {
				t.Fatalf("ambiguous prefix %q: candidate %s not listed in %q", string(first), id, r.stderr)
			}
		}
		break
	}
}

// Error output and exit codes: `sockctl: <message> (<REASON>)`, 10 + code.
func TestSockctlErrorsAndExitCodes(t *testing.T) {
	d := startSockd(t)
	free := freePort(t)
	l := lastLine(sockctlOK(t, d, "listen", "tcp", "127.0.0.1:0"))
	c := lastLine(sockctlOK(t, d, "connect", "tcp", jsonField(t, sockctlOK(t, d, "inspect", l, "-o", "json"), "localAddress")))
	for _, tc := range []struct {
		args   []string
		code   int
		golden string
	}{
		{[]string{"inspect", "nosuchsocket"}, 15, "error-not-found.txt"},
		{[]string{"connect", "tcp", "127.0.0.1:" + free}, 24, "error-connrefused.txt"},
		{[]string{"recv", c, "--timeout", "100ms"}, 14, "error-timeout.txt"},
		{[]string{"listen", "tcp"}, 2, "error-usage.txt"},
	} {
		r := sockctl(t, d, nil, tc.args...)
		if r.code != tc.code {
			t.Errorf("sockctl %v: exit %d, want %d (%s)", tc.args, r.code, tc.code, r.stderr)
		}
		golden(t, tc.golden, normalise(r.stderr, map[string]string{free: "<FREEPORT>"}))
	}
}

// Golden ls and inspect output, table and JSON, with ids, times and ports
// normalised.
func TestSockctlGoldenOutput(t *testing.T) {
	d := startSockd(t)
	l := lastLine(sockctlOK(t, d, "listen", "tcp", "127.0.0.1:0", "--name", "web", "-l", "suite=golden", "-l", "tier=front", "--backlog", "5"))
	c := lastLine(sockctlOK(t, d, "connect", "tcp", jsonField(t, sockctlOK(t, d, "inspect", l, "-o", "json"), "localAddress"), "-l", "suite=golden"))
	a := lastLine(sockctlOK(t, d, "accept", "web", "--name", "web-conn"))
	sockctlOK(t, d, "send", c, "twelve bytes")
	sockctlOK(t, d, "recv", a, "-n", "12", "--wait-all")
	sockctlOK(t, d, "create", "udp", "--name", "other")
	ids := map[string]string{l: "<LISTENER>", c: "<CLIENT>", a: "<ACCEPTED>"}
	golden(t, "ls.txt", normalise(sockctlOK(t, d, "ls", "-l", "suite=golden"), ids))
	golden(t, "ls.json", normalise(sockctlOK(t, d, "ls", "-l", "suite=golden", "-o", "json"), ids))
	golden(t, "inspect.txt", normalise(sockctlOK(t, d, "inspect", "web-conn"), ids))
	golden(t, "inspect.yaml", normalise(sockctlOK(t, d, "inspect", "web-conn", "-o", "yaml"), ids))
}

// normalise replaces what changes from run to run: the given strings, then
// ids, times, ages, ports and descriptors.
func normalise(s string, fixed map[string]string) string {
	for from, to := range fixed {
		s = strings.ReplaceAll(s, from, to)
		if len(from) == 24 {
			s = strings.ReplaceAll(s, from[:12], to) // the table's short ids
		}
	}
	for _, r := range []struct{ re, to string }{
		{`\b[a-z2-7]{24}\b`, "<ID>"},
		{`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`, "<TIME>"},
		{`\(\d+[smhd] ago\)`, "(<AGE> ago)"},
		{`(  )\d+[smhd]\n`, "$1<AGE>\n"},
		{`127\.0\.0\.1:\d+`, "127.0.0.1:<PORT>"},
		{`("fd": |fd: |FD: +)\d+`, "$1<FD>"},
	} {
		s = regexp.MustCompile(r.re).ReplaceAllString(s, r.to)
	}
	return s
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *updateGolden {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run: go test ./e2e -run %s -update)", err, t.Name())
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func jsonField(t *testing.T, js, field string) string {
	t.Helper()
	m := regexp.MustCompile(`"` + field + `":\s*("([^"]*)"|(true|false|\d+))`).FindStringSubmatch(js)
	if m == nil {
		t.Fatalf("no %q in %s", field, js)
	}
	if m[2] != "" {
		return m[2]
	}
	return m[3]
}

// Shell completion asks the daemon for socket ids and names.
func TestSockctlCompletion(t *testing.T) {
	d := startSockd(t)
	id := lastLine(sockctlOK(t, d, "create", "tcp", "--name", "completeme"))
	out := sockctlOK(t, d, "__complete", "inspect", "")
	if !strings.Contains(out, id+"\ttcp4 CREATED") || !strings.Contains(out, "completeme\t") {
		t.Fatalf("completion of inspect: %q", out)
	}
	out = sockctlOK(t, d, "__complete", "inspect", "compl")
	if strings.Contains(out, id) || !strings.Contains(out, "completeme") {
		t.Fatalf("completion of a name prefix: %q", out)
	}
}

// send --file draws a progress bar on a terminal only: not into a pipe, not
// with -o json.
func TestSockctlProgressBarOnlyOnTerminal(t *testing.T) {
	needCommand(t, "script", "util-linux, to give sockctl a terminal")
	d := startSockd(t)
	l := lastLine(sockctlOK(t, d, "listen", "tcp", "127.0.0.1:0"))
	addr := jsonField(t, sockctlOK(t, d, "inspect", l, "-o", "json"), "localAddress")
	c := lastLine(sockctlOK(t, d, "connect", "tcp", addr))
	a := lastLine(sockctlOK(t, d, "accept", l))
	file := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(file, make([]byte, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	drain := func() { // keep the receiver's buffer from filling up
		for got := 0; got < 3<<20; {
			r := sockctl(t, d, nil, "recv", a, "-n", "1048576", "-o", "json", "--timeout", "10s")
			if r.code != 0 {
				t.Fatalf("drain: %+v", r)
			}
			got += len(jsonField(t, r.stdout, "data")) * 3 / 4
		}
	}
	r := sockctl(t, d, nil, "send", c, "--file", file)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("send --file into a pipe: %+v", r)
	}
	drain()
	r = sockctl(t, d, nil, "send", c, "--file", file, "-o", "json")
	if r.code != 0 || r.stderr != "" || jsonField(t, r.stdout, "bytesSent") != strconv.Itoa(3<<20) {
		t.Fatalf("send --file -o json: %+v", r)
	}
	drain()
	// script(1) runs sockctl with a pseudo-terminal as its standard error.
	line := fmt.Sprintf("%s --addr %s send %s --file %s", filepath.Join(binDir, "sockctl"), d.GRPC, c, file)
	r = run(t, nil, "script", "-qec", line, "/dev/null")
	if r.code != 0 || !strings.Contains(r.stdout, "100%") || !strings.Contains(r.stdout, "3.0MiB") {
		t.Fatalf("send --file on a terminal shows no progress bar: %+v", r)
	}
	drain()
}
