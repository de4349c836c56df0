package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sockctl's capture and replay commands against the real sockd, with
// Python peers, and tshark reading what `capture dump -w` writes.

// A socket's capture, turned on and dumped three ways: as text like
// tcpdump -X, as a pcapng file, and as pcapng on standard output into
// tshark. tshark's view of the conversation is exactly the bytes each side
// sent.
func TestSockctlCaptureDump(t *testing.T) {
	tshark := needCommand(t, "tshark", "apt-get install tshark")
	d := startSockd(t)
	py := startPython(t, pyEchoServer)
	id := lastLine(sockctlOK(t, d, "connect", "tcp", "127.0.0.1:"+py.line(t), "--name", "talker"))
	if out := sockctlOK(t, d, "capture", "on", "talker", "--ring", "256KiB"); !strings.Contains(out, "CAPTURE") || !strings.Contains(out, " on ") || !strings.Contains(out, "256.0KiB") {
		t.Fatalf("capture on:\n%s", out)
	}
	sent := []string{"hello capture\n", "second line\n"}
	for _, line := range sent {
		sockctlOK(t, d, "send", id, line)
		if got := sockctlOK(t, d, "recv", id, "-n", strconv.Itoa(len(line)), "--wait-all", "--timeout", "10s"); got != line {
			t.Fatalf("echo: %q", got)
		}
	}
	sockctlOK(t, d, "shutdown", id, "write")
	sockctlOK(t, d, "recv", id, "--timeout", "10s") // EOF: the echo server closed
	py.wait(t)

	text := sockctlOK(t, d, "capture", "dump", "talker")
	for _, want := range []string{id + " out TCP", "[S]", "[P.]", "length 14", "6865 6c6c 6f20 6361 7074 7572 650a", "hello.capture.", "[F.]"} {
		if !strings.Contains(text, want) {
			t.Errorf("capture dump lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(sockctlOK(t, d, "capture", "dump", "talker", "--acks"), "[.]") {
		t.Error("capture dump --acks shows no bare acknowledgement")
	}

	file := filepath.Join(t.TempDir(), "talker.pcapng")
	if out := sockctlOK(t, d, "capture", "dump", id, "-w", file); out != "" {
		t.Fatalf("capture dump -w FILE printed %q", out)
	}
	client, server := tsharkFollow(t, file, 0)
	if want := strings.Join(sent, ""); string(client) != want || string(server) != want {
		t.Fatalf("tshark follow: the client sent %q, the server %q; want %q both", client, server, want)
	}
	if p := tsharkProblems(t, file); p != "" {
		t.Fatalf("tshark's TCP analysis:\n%s", p)
	}

	// -w - into tshark -r -.
	out, err := exec.Command("bash", "-c", "set -o pipefail; sockctl --addr "+d.GRPC+" capture dump talker -w - | "+tshark+" -r - -T fields -e tcp.payload 2>/dev/null").Output()
	if err != nil {
		t.Fatalf("capture dump -w - | tshark -r -: %v", err)
	}
	if !strings.Contains(string(out), hex.EncodeToString([]byte("second line\n"))) {
		t.Fatalf("tshark -r - read no payload:\n%s", out)
	}

	if out := sockctlOK(t, d, "capture", "off", id); !strings.Contains(out, " off ") {
		t.Fatalf("capture off:\n%s", out)
	}
	// Off keeps what the ring holds, even after the socket closed.
	sockctlOK(t, d, "close", id)
	if !strings.Contains(sockctlOK(t, d, "capture", "dump", id), "hello.capture.") {
		t.Fatal("the ring of a closed socket is gone")
	}
}

// A proxy that records every socket, followed live: `capture dump --proxy
// P -w - --follow | tshark -r -` shows what passed before and during, and
// --timeout ends the follow without an error, at a whole block.
func TestSockctlCaptureFollowIntoTshark(t *testing.T) {
	tshark := needCommand(t, "tshark", "apt-get install tshark")
	d := startSockd(t)
	echo := "127.0.0.1:" + startPython(t, pyMultiEcho).line(t)
	sockctlOK(t, d, "proxy", "create", "tcp", "127.0.0.1:0", echo, "--name", "rec", "--capture")
	listen := jsonField(t, sockctlOK(t, d, "proxy", "inspect", "rec", "-o", "json"), "listenAddress")
	if got := dialLines(t, listen).ask(t, "before the follow"); got != "before the follow" {
		t.Fatal(got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tsharkErr := filepath.Join(t.TempDir(), "tshark.err")
	pipeline := exec.CommandContext(ctx, "bash", "-c", "set -o pipefail; sockctl --addr "+d.GRPC+
		" capture dump --proxy rec -w - --follow --timeout 6s | "+tshark+" -r - -T fields -e tcp.payload 2>"+tsharkErr+
		"; status=\"${PIPESTATUS[*]}\"; echo \"pipe $status\" >&2; [ \"$status\" = \"0 0\" ]")
	var out, stderr bytes.Buffer
	pipeline.Stdout, pipeline.Stderr = &out, &stderr
	pipeline.WaitDelay = 5 * time.Second
	if err := pipeline.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the follow has begun
	if got := dialLines(t, listen).ask(t, "during the follow"); got != "during the follow" {
		t.Fatal(got)
	}
	if err := pipeline.Wait(); err != nil {
		msg, _ := os.ReadFile(tsharkErr)
		t.Fatalf("capture dump --follow --timeout 6s | tshark -r -: %v\n%s\ntshark: %s", err, stderr.String(), msg)
	}
	for _, want := range []string{"before the follow\n", "during the follow\n"} {
		if !strings.Contains(out.String(), hex.EncodeToString([]byte(want))) {
			t.Errorf("tshark read no %q from the followed capture:\n%s", want, out.String())
		}
	}

	// The text dump follows too, and ends cleanly. Its rows hold 16 bytes
	// each, like tcpdump -X: "before the follow\n" spans two.
	r := sockctl(t, d, nil, "capture", "dump", "--proxy", "rec", "--follow", "--timeout", "1s")
	if r.code != 0 || !strings.Contains(r.stdout, "before.the.follo") || !strings.Contains(r.stdout, "during.the.follo") {
		t.Fatalf("capture dump --follow --timeout 1s: %+v", r)
	}
}

// replay plays the client side of a captured conversation against a fresh
// Python server (which gets the same bytes), then the server side to a
// Python client (which gets the server's answers).
func TestSockctlReplay(t *testing.T) {
	d := startSockd(t)
	echo := "127.0.0.1:" + startPython(t, pyMultiUpper).line(t)
	sockctlOK(t, d, "proxy", "create", "tcp", "127.0.0.1:0", echo, "--name", "up", "--capture")
	listen := jsonField(t, sockctlOK(t, d, "proxy", "inspect", "up", "-o", "json"), "listenAddress")
	conn := dialLines(t, listen)
	for _, line := range []string{"one", "two", "three"} {
		if got := conn.ask(t, line); got != strings.ToUpper(line) {
			t.Fatal(got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	conn.c.Close()
	file := filepath.Join(t.TempDir(), "up.pcapng")
	waitFor(t, "both legs' answers in the capture", func() bool {
		sockctlOK(t, d, "capture", "dump", "--proxy", "up", "-w", file)
		b, _ := os.ReadFile(file)
		return bytes.Count(b, []byte("THREE")) == 2 // both legs
	})

	fresh := startPython(t, `
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1); s.settimeout(30)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
with c:
    print(repr(c.makefile("rb").read()), flush=True)
`)
	to := "127.0.0.1:" + fresh.line(t)
	out := sockctlOK(t, d, "replay", file, "--to", to)
	for _, want := range []string{"Sent:", "14 bytes in 3 messages", "Remote:", to, "(closed)"} {
		if !strings.Contains(out, want) {
			t.Errorf("replay lacks %q:\n%s", want, out)
		}
	}
	if got := fresh.line(t); got != `b'one\ntwo\nthree\n'` {
		t.Fatalf("the fresh server got %s", got)
	}
	fresh.wait(t)

	// The server's side, as fast as it goes: sockd listens, a Python client
	// connects and reads what the server sent.
	port := freePort(t)
	pyClient := startPython(t, `
import socket, sys, time
for _ in range(200):
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
        break
    except ConnectionRefusedError:
        time.sleep(0.05)
with s:
    print(repr(s.makefile("rb").read()), flush=True)
`, port)
	res := jsonOf(t, sockctlOK(t, d, "replay", file, "--to", "127.0.0.1:"+port, "--side", "server", "--speed", "max", "--timeout", "20s", "-o", "json"))
	if res["messagesSent"] != "3" || res["bytesSent"] != "14" {
		t.Fatalf("replay --side server -o json: %v", res)
	}
	if got := pyClient.line(t); got != `b'ONE\nTWO\nTHREE\n'` {
		t.Fatalf("the client of the replayed server got %s", got)
	}
	pyClient.wait(t)

	// Standard input, and conversation 1 of the file (the proxy's upstream
	// leg: the same bytes).
	fresh = startPython(t, `
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1); s.settimeout(30)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
with c:
    print(repr(c.makefile("rb").read()), flush=True)
`)
	to = "127.0.0.1:" + fresh.line(t)
	f, _ := os.Open(file)
	defer f.Close()
	if r := sockctl(t, d, f, "replay", "-", "--to", to, "--stream", "1", "--speed", "4"); r.code != 0 {
		t.Fatalf("replay - --stream 1: %+v", r)
	}
	if got := fresh.line(t); got != `b'one\ntwo\nthree\n'` {
		t.Fatalf("the fresh server got %s from stream 1", got)
	}
	fresh.wait(t)
}

// Capture and replay's bad input: clear errors, documented exit codes.
func TestSockctlCaptureErrors(t *testing.T) {
	d := startSockd(t)
	dir := t.TempDir()
	notCapture := filepath.Join(dir, "notes.txt")
	os.WriteFile(notCapture, []byte("not a capture at all\n"), 0o644)
	id := lastLine(sockctlOK(t, d, "create", "tcp"))
	for _, tc := range []struct {
		code int
		want []string
		args []string
	}{
		{15, []string{"SOCKET_NOT_FOUND"}, []string{"capture", "on", "nosuch"}},
		{15, []string{"SOCKET_NOT_FOUND"}, []string{"capture", "dump", "nosuch"}},
		{15, []string{"SOCKET_NOT_FOUND"}, []string{"capture", "dump", "nosuch", "-w", filepath.Join(dir, "none.pcapng")}},
		{2, []string{`--ring "big"`}, []string{"capture", "on", id, "--ring", "big"}},
		{2, []string{"ids or --proxy, not both"}, []string{"capture", "dump", id, "--proxy", "p"}},
		{13, []string{"INVALID_CAPTURE"}, []string{"replay", notCapture, "--to", "127.0.0.1:9"}},
		{2, []string{"give --to"}, []string{"replay", notCapture}},
		{2, []string{`--speed "fast"`}, []string{"replay", notCapture, "--to", "127.0.0.1:9", "--speed", "fast"}},
		{2, []string{`--side "both"`}, []string{"replay", notCapture, "--to", "127.0.0.1:9", "--side", "both"}},
		{1, []string{"no such file"}, []string{"replay", filepath.Join(dir, "missing.pcap"), "--to", "127.0.0.1:9"}},
	} {
		sockctlFails(t, d, tc.code, tc.want, tc.args...)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "*.pcapng")); len(matches) != 0 {
		t.Errorf("a failed dump left %v", matches)
	}
	off := startSockd(t, "--capture=false")
	sockctlFails(t, off, 19, []string{"CAPTURE_DISABLED", "--capture=false"}, "capture", "on", lastLine(sockctlOK(t, off, "create", "tcp")))
}
