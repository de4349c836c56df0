package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// tsharkFollow is what `tshark -z follow,tcp,raw,N` says each node sent.
func tsharkFollow(t *testing.T, file string, stream int) (node0, node1 []byte) {
	t.Helper()
	tshark := needCommand(t, "tshark", "apt-get install tshark")
	out, err := exec.Command(tshark, "-r", file, "-q", "-z", fmt.Sprintf("follow,tcp,raw,%d", stream)).Output()
	if err != nil {
		t.Fatalf("tshark follow: %v", err)
	}
	inBody := false
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "Node 1:"):
			inBody = true
			continue
		case strings.HasPrefix(line, "====="):
			if inBody {
				return node0, node1
			}
			continue
		case !inBody || line == "":
			continue
		}
		// Node 1's lines are indented by a tab.
		trimmed := strings.TrimPrefix(line, "\t")
		b, err := hex.DecodeString(trimmed)
		if err != nil {
			t.Fatalf("tshark follow line %q: %v", line, err)
		}
		if trimmed != line {
			node1 = append(node1, b...)
		} else {
			node0 = append(node0, b...)
		}
	}
	return node0, node1
}

// tsharkProblems are the TCP analysis notes a real capture would not have
// (window-full notes, which real captures have too, aside).
func tsharkProblems(t *testing.T, file string) string {
	t.Helper()
	tshark := needCommand(t, "tshark", "apt-get install tshark")
	out, err := exec.Command(tshark, "-r", file, "-Y", "tcp.analysis.flags && !tcp.analysis.window_full && !tcp.analysis.window_update").Output()
	if err != nil {
		t.Fatalf("tshark analysis: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// download fetches a REST path into a file.
func download(t *testing.T, d *daemon, path, file string, headers ...string) {
	t.Helper()
	args := []string{"-sS", "--max-time", "30", "-o", file, "-w", "%{http_code}"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	r := run(t, nil, "curl", append(args, "http://"+d.HTTP+path)...)
	if r.code != 0 || r.stdout != "200" {
		b, _ := os.ReadFile(file)
		t.Fatalf("GET %s: %s %s %s", path, r.stdout, r.stderr, b)
	}
}

// A proxied connection captured from its creation, read by tshark: each
// leg's conversation yields exactly the bytes each side sent (checksums),
// with a handshake, a FIN, and nothing tshark's TCP analysis frowns on.
func TestCaptureOfAProxiedConnectionInTshark(t *testing.T) {
	d := startSockd(t)
	echo := startPython(t, pyMultiEcho)
	_, p := curl(t, d, "POST", "/v1/proxies", map[string]any{"name": "cap", "listenAddress": "127.0.0.1:0",
		"upstreamAddress": "127.0.0.1:" + echo.line(t), "capture": map[string]any{"enabled": true}})
	listen := str(p, "listenAddress")
	payload := make([]byte, 300<<10)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	c, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	go func() { c.Write(payload); c.(*net.TCPConn).CloseWrite() }()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(c)
	c.Close()
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("echo through the proxy: %d bytes, %v", len(got), err)
	}
	waitFor(t, "the proxy to close both legs", func() bool {
		_, info := curl(t, d, "GET", "/v1/proxies/cap", nil)
		return info["connections"] == nil && info["totalConnections"] != nil // 0 is left out of the JSON
	})
	file := filepath.Join(t.TempDir(), "proxy.pcapng")
	download(t, d, "/v1/capture?proxyId=cap", file)
	sum := sha256.Sum256(payload)
	for stream := range 2 { // the client's leg and the upstream leg
		a, b := tsharkFollow(t, file, stream)
		if sha256.Sum256(a) != sum || sha256.Sum256(b) != sum {
			t.Errorf("stream %d: tshark follows %d and %d bytes, want %d each way, equal to what was sent", stream, len(a), len(b), len(payload))
		}
	}
	if problems := tsharkProblems(t, file); problems != "" {
		t.Errorf("tshark's TCP analysis finds:\n%s", problems)
	}
	tshark := needCommand(t, "tshark", "apt-get install tshark")
	out, _ := exec.Command(tshark, "-r", file, "-Y", "tcp.flags.syn==1 && tcp.flags.ack==0").Output()
	if n := strings.Count(strings.TrimSpace(string(out)), "\n") + 1; strings.TrimSpace(string(out)) == "" || n != 2 {
		t.Errorf("want one SYN per leg, got:\n%s", out)
	}
}

// follow=true streams frames as they happen: tshark reads the stream live
// (from stdin) and sees the bytes sent after it started.
func TestCaptureFollowIntoTshark(t *testing.T) {
	tshark := needCommand(t, "tshark", "apt-get install tshark")
	d := startSockd(t)
	echo := startPython(t, pyMultiEcho)
	_, s := curl(t, d, "POST", "/v1/sockets", map[string]any{"name": "live", "connectAddress": "127.0.0.1:" + echo.line(t), "capture": map[string]any{"enabled": true}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	curlCmd := exec.CommandContext(ctx, "curl", "-sS", "-N", "http://"+d.HTTP+"/v1/capture?ids=live&follow=true")
	ts := exec.CommandContext(ctx, tshark, "-l", "-r", "-", "-T", "fields", "-e", "tcp.len")
	pipe, _ := curlCmd.StdoutPipe()
	ts.Stdin = pipe
	out, _ := ts.StdoutPipe()
	if err := curlCmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := ts.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); curlCmd.Wait(); ts.Wait() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	time.Sleep(500 * time.Millisecond)
	for _, n := range []int{1234, 777} { // after tshark started reading
		curl(t, d, "POST", "/v1/sockets/live:send", map[string]any{"text": strings.Repeat("x", n), "all": true})
	}
	seen := map[string]bool{}
	deadline := time.After(30 * time.Second)
	for !seen["1234"] || !seen["777"] {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("tshark ended; saw %v", seen)
			}
			seen[l] = true
		case <-deadline:
			t.Fatalf("tshark did not show the live segments; saw %v", seen)
		}
	}
	_ = s
}

// Captures belong to the socket's owner; with --capture=false there are
// none; an unknown socket's capture is NOT_FOUND.
func TestCaptureOwnershipAndSwitch(t *testing.T) {
	d := startSockd(t, "--token-file", writeTokens(t, aliceToken+" alice", bobToken+" bob"))
	alice, bob := "Authorization: Bearer "+aliceToken, "Authorization: Bearer "+bobToken
	_, s := curl(t, d, "POST", "/v1/sockets", map[string]any{"name": "a1", "protocol": "PROTOCOL_UDP", "bindAddress": "127.0.0.1:0"}, alice)
	if code, body := curl(t, d, "POST", "/v1/sockets/a1:setCapture", map[string]any{"enabled": true, "ringBytes": 200000}, alice); code != 200 || body["capture"] == nil {
		t.Fatalf("setCapture: %d %v", code, body)
	}
	for _, path := range []string{"/v1/capture?ids=" + str(s, "id"), "/v1/capture?ids=a1"} {
		code, body := curl(t, d, "GET", path, nil, bob)
		if inner, ok := body["error"].(map[string]any); ok {
			body = inner
		}
		if code != 404 || errorReason(body) != "SOCKET_NOT_FOUND" {
			t.Errorf("bob reads alice's capture %s: %d %v", path, code, body)
		}
	}
	// All of bob's captures: none of alice's (an empty capture file).
	file := filepath.Join(t.TempDir(), "bob.pcapng")
	download(t, d, "/v1/capture", file, bob)
	if tshark := needCommand(t, "tshark", "apt-get install tshark"); tshark != "" {
		out, err := exec.Command(tshark, "-r", file).Output()
		if err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("bob's capture of nothing: %q %v", out, err)
		}
	}
	d2 := startSockd(t, "--capture=false")
	curl(t, d2, "POST", "/v1/sockets", map[string]any{"name": "x"})
	if code, body := curl(t, d2, "POST", "/v1/sockets/x:setCapture", map[string]any{"enabled": true}); code != 400 || errorReason(body) != "CAPTURE_DISABLED" {
		t.Errorf("setCapture with --capture=false: %d %v", code, body)
	}
	if code, body := curl(t, d2, "POST", "/v1/sockets", map[string]any{"capture": map[string]any{"enabled": true}}); code != 400 || errorReason(body) != "CAPTURE_DISABLED" {
		t.Errorf("create with capture, --capture=false: %d %v", code, body)
	}
	_, info := curl(t, d2, "GET", "/v1/info", nil)
	if strings.Contains(fmt.Sprint(info["features"]), "capture") {
		t.Errorf("server info lists capture with --capture=false: %v", info["features"])
	}
}

// 1,000 capturing sockets pushing data at once never make the rings hold
// more than --capture-memory, and what they dropped is counted.
func TestCaptureMemoryLimitHoldsUnderLoad(t *testing.T) {
	const limit = 16 << 20
	d := startSockd(t, "--capture-memory", strconv.Itoa(limit), "--max-sockets-per-principal", "3000", "--rate", "0")
	c := d.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	sink, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	go func() { // drain
		buf := make([]byte, 65536)
		for {
			if _, _, err := sink.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	ids := make([]string, 1000)
	for i := range ids {
		s, err := c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{Protocol: sockdv1.Protocol_PROTOCOL_UDP, ConnectAddress: sink.LocalAddr().String(),
			Capture: &sockdv1.CaptureSettings{Enabled: true, RingBytes: 256 << 10}})
		if err != nil {
			t.Fatalf("socket %d: %v", i, err)
		}
		ids[i] = s.GetId()
	}
	var peak float64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if v := metricValue(t, d, "sockd_capture_memory_bytes"); v > peak {
				peak = v
			}
		}
	})
	payload := bytes.Repeat([]byte("c"), 8<<10)
	var senders sync.WaitGroup
	for w := range 20 {
		senders.Go(func() {
			for round := range 8 {
				for i := w; i < len(ids); i += 20 {
					if _, err := c.Send(ctx, &sockdv1.SendRequest{Id: ids[i], Payload: &sockdv1.SendRequest_Data{Data: payload}}); err != nil {
						t.Errorf("send %d/%d: %v", i, round, err)
						return
					}
				}
			}
		})
	}
	senders.Wait()
	close(stop)
	wg.Wait()
	if v := metricValue(t, d, "sockd_capture_memory_bytes"); v > peak {
		peak = v
	}
	if peak > limit {
		t.Fatalf("the rings held %.0f bytes at a peak, over --capture-memory %d", peak, limit)
	}
	if peak < limit/2 {
		t.Errorf("the rings held at most %.0f bytes of 64 MiB sent: the test did not reach the limit", peak)
	}
	if dropped := metricValue(t, d, "sockd_capture_dropped_bytes_total"); dropped == 0 {
		t.Errorf("64 MiB through 16 MiB of rings, and nothing was counted as dropped")
	}
	// A socket's own status says what it dropped too.
	s, err := c.GetSocket(ctx, &sockdv1.GetSocketRequest{Id: ids[0]})
	if err != nil || s.GetCapture() == nil || !s.GetCapture().GetEnabled() {
		t.Fatalf("capture status: %v %v", s.GetCapture(), err)
	}
}

// metricValue reads one unlabelled metric.
func metricValue(t *testing.T, d *daemon, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + d.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(readAll(t, resp), "\n") {
		if strings.HasPrefix(line, name+" ") {
			v, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return v
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// pyTimedReceiver listens, prints its port, takes one connection and
// prints when each chunk arrived (ms since the first) with its size.
const pyTimedReceiver = `
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
t0 = None
while True:
    d = c.recv(65536)
    if not d:
        break
    now = time.monotonic()
    if t0 is None:
        t0 = now
    print("%.3f %d" % ((now - t0) * 1000, len(d)), flush=True)
print("end", flush=True)
`

// A conversation recorded by sockd's capture, replayed (client side) to a
// fresh server: the server receives the same bytes with the recorded gaps;
// at speed 2 the gaps halve; at max there are none; a file that is no
// capture is INVALID_CAPTURE.
func TestReplayKeepsTheGaps(t *testing.T) {
	d := startSockd(t)
	pc := d.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Record: a client sends three chunks with gaps of 80, 150 and 30 ms.
	rec := startPython(t, pyTimedReceiver)
	_, s := curl(t, d, "POST", "/v1/sockets", map[string]any{"name": "rec", "connectAddress": "127.0.0.1:" + rec.line(t), "capture": map[string]any{"enabled": true}})
	gaps := []time.Duration{0, 80 * time.Millisecond, 150 * time.Millisecond, 30 * time.Millisecond}
	for i, g := range gaps {
		time.Sleep(g)
		curl(t, d, "POST", "/v1/sockets/rec:send", map[string]any{"text": fmt.Sprintf("chunk-%d;", i), "all": true})
	}
	curl(t, d, "DELETE", "/v1/sockets/"+str(s, "id"), nil)
	recorded := arrivals(t, rec)
	file := filepath.Join(t.TempDir(), "rec.pcapng")
	download(t, d, "/v1/capture?ids=rec", file)
	pcap, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		speed float64
		max   bool
	}{{1, false}, {2, false}, {0, true}} {
		peer := startPython(t, pyTimedReceiver)
		res, err := pc.Replay(ctx, &sockdv1.ReplayRequest{File: pcap, To: "127.0.0.1:" + peer.line(t), Speed: tc.speed, Max: tc.max})
		if err != nil {
			t.Fatalf("replay at %v: %v", tc.speed, err)
		}
		if res.GetMessagesSent() != 4 || res.GetBytesSent() != int64(len("chunk-0;")*4) {
			t.Errorf("replay sent %d messages, %d bytes", res.GetMessagesSent(), res.GetBytesSent())
		}
		got := arrivals(t, peer)
		if tc.max {
			continue // no waits: the chunks may arrive together
		}
		if len(got) != len(recorded) {
			t.Fatalf("replay at %v: %d chunks arrived, recorded %d", tc.speed, len(got), len(recorded))
		}
		for i := 1; i < len(got); i++ {
			want := time.Duration(float64(recorded[i]-recorded[i-1]) / tc.speed)
			gap := got[i] - got[i-1]
			// Slack for a loaded 2-core machine; the figures that matter
			// are sockbench's.
			if diff := gap - want; diff < -5*time.Millisecond || diff > 15*time.Millisecond {
				t.Errorf("replay at speed %v: gap %d is %v, the recording's %v", tc.speed, i, gap, want)
			}
		}
	}
	_, err = pc.Replay(ctx, &sockdv1.ReplayRequest{File: []byte("not a capture"), To: "127.0.0.1:9"})
	wantStatus(t, err, codes.InvalidArgument, "INVALID_CAPTURE")
	_, err = pc.Replay(ctx, &sockdv1.ReplayRequest{File: pcap, To: "169.254.169.254:80"})
	wantStatus(t, err, codes.PermissionDenied, "POLICY_DENIED")
}

// arrivals reads pyTimedReceiver's lines until "end": each chunk's time.
func arrivals(t *testing.T, p *python) []time.Duration {
	t.Helper()
	var out []time.Duration
	for {
		l := p.line(t)
		if l == "end" {
			return out
		}
		ms, _ := strconv.ParseFloat(strings.Fields(l)[0], 64)
		out = append(out, time.Duration(ms*float64(time.Millisecond)))
	}
}

// A conversation written by tcpdump (a pcap, not sockd's pcapng), replayed
// client side and server side.
func TestReplayOfATcpdumpFile(t *testing.T) {
	needRoot(t, "tcpdump on lo")
	tcpdump := needCommand(t, "tcpdump", "apt-get install tcpdump")
	d := startSockd(t)
	pc := d.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Record a Python exchange on loopback with tcpdump.
	srv := startPython(t, pyEchoServer)
	port := srv.line(t)
	file := filepath.Join(t.TempDir(), "dump.pcap")
	dump := exec.Command(tcpdump, "-i", "lo", "-U", "--immediate-mode", "-w", file, "tcp port "+port)
	var dumpErr syncBuffer
	dump.Stderr = &dumpErr
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "tcpdump to listen", func() bool { return strings.Contains(dumpErr.String(), "listening") })
	cl := startPython(t, pyEchoClient, port, "5000")
	if got := cl.line(t); got != "equal" {
		t.Fatalf("recorded exchange: %s", got)
	}
	time.Sleep(500 * time.Millisecond)
	dump.Process.Signal(os.Interrupt)
	dump.Wait()
	pcap, err := os.ReadFile(file)
	if err != nil || len(pcap) == 0 {
		t.Fatalf("tcpdump wrote nothing: %v %s", err, dumpErr.String())
	}
	// Client side to a fresh echo server: it gets the 5000 bytes.
	srv2 := startPython(t, pyEchoServer)
	res, err := pc.Replay(ctx, &sockdv1.ReplayRequest{File: pcap, To: "127.0.0.1:" + srv2.line(t), Max: true})
	if err != nil || res.GetBytesSent() != 5000 || res.GetBytesReceived() != 5000 {
		t.Fatalf("client-side replay of tcpdump's file: %v %v", res, err)
	}
	// Server side: sockd listens, a client connects, gets the server's bytes.
	l, _ := net.Listen("tcp4", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	type result struct {
		res *sockdv1.ReplayResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := pc.Replay(ctx, &sockdv1.ReplayRequest{File: pcap, To: addr, Side: sockdv1.Side_SIDE_SERVER, Max: true})
		done <- result{r, err}
	}()
	var c net.Conn
	waitFor(t, "the replaying server to listen", func() bool {
		var err error
		c, err = net.Dial("tcp", addr)
		return err == nil
	})
	c.Write(make([]byte, 5000))
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, _ := io.ReadAll(c)
	c.Close()
	r := <-done
	if r.err != nil || len(got) != 5000 || r.res.GetBytesSent() != 5000 {
		t.Fatalf("server-side replay: got %d bytes; %v %v", len(got), r.res, r.err)
	}
}
