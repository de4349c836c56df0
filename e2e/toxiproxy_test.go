package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	tclient "github.com/Shopify/toxiproxy/v2/client"
)

// The toxiproxy 2.x API (--toxiproxy-addr) driven by toxiproxy's own
// clients: toxiproxy-cli v2.5.0 (installed from the Go module proxy into a
// temporary directory), its Go client package, and its server's
// api_test.go run against sockd.

const toxiproxyModule = "github.com/Shopify/toxiproxy/v2"

// toxiSockd is a sockd serving the toxiproxy API.
type toxiSockd struct {
	*daemon
	API     string // host:port of the toxiproxy API
	Version string // sockd's version, as its listening line says
}

func (ts *toxiSockd) URL() string { return "http://" + ts.API }

// startToxiSockd runs sockd with the toxiproxy API on a free loopback port.
func startToxiSockd(t *testing.T, args ...string) *toxiSockd {
	t.Helper()
	d := startSockd(t, append([]string{"--toxiproxy-addr", "127.0.0.1:0"}, args...)...)
	ts := &toxiSockd{daemon: d}
	sc := bufio.NewScanner(strings.NewReader(d.logs.String()))
	for sc.Scan() {
		var rec struct{ Msg, Toxiproxy, Version string }
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
			ts.API, ts.Version = rec.Toxiproxy, rec.Version
		}
	}
	if ts.API == "" {
		t.Fatalf("sockd's listening line names no toxiproxy address:\n%s", d.logs.String())
	}
	return ts
}

// toxiDo makes one request to the toxiproxy API on a fresh connection and
// returns the status, headers and body.
func (ts *toxiSockd) do(t *testing.T, method, path string, body io.Reader, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "sockd-e2e")
	for _, h := range header {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, resp.Header, raw
}

// toxiJSON is do with a JSON body (a string as it is).
func (ts *toxiSockd) doJSON(t *testing.T, method, path, body string, header ...string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	code, _, raw := ts.do(t, method, path, r, header...)
	return code, raw
}

// wantToxiError checks a toxiproxy error body: {"error": ..., "status": code}.
func wantToxiError(t *testing.T, what string, code int, raw []byte, gotCode int, contains string) {
	t.Helper()
	var e struct {
		Error  *string
		Status *int
	}
	if err := json.Unmarshal(raw, &e); err != nil || e.Error == nil || e.Status == nil {
		t.Errorf("%s: body %q is not toxiproxy's error shape", what, raw)
		return
	}
	if gotCode != code || *e.Status != code {
		t.Errorf("%s: HTTP %d, status %d in the body, want %d: %s", what, gotCode, *e.Status, code, raw)
	}
	if !strings.Contains(*e.Error, contains) {
		t.Errorf("%s: error %q, want it to say %q", what, *e.Error, contains)
	}
}

// installToxiproxy installs toxiproxy v2.5.0's cmd/cli (or cmd/server) from
// the Go module proxy into a temporary directory and returns its path.
func installToxiproxy(t *testing.T, cmd string) string {
	t.Helper()
	dir := t.TempDir()
	install := exec.Command("go", "install", toxiproxyModule+"/cmd/"+cmd+"@v2.5.0")
	install.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-buildvcs=false", "GOWORK=off")
	install.Dir = dir
	out, err := install.CombinedOutput()
	need(t, err == nil, fmt.Sprintf("needs toxiproxy's %s v2.5.0 from the Go module proxy (go install %s/cmd/%s@v2.5.0: %v %s)", cmd, toxiproxyModule, cmd, err, bytes.TrimSpace(out)))
	return filepath.Join(dir, cmd)
}

// echoServer is a TCP peer on loopback that sends back what it reads.
func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return l.Addr().String()
}

// roundTrip connects to addr, sends a line and times its echo.
func roundTrip(t *testing.T, addr string) time.Duration {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("connect %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	start := time.Now()
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("echo through %s: %v", addr, err)
	}
	if string(got) != "ping\n" {
		t.Fatalf("echo through %s: %q", addr, got)
	}
	return time.Since(start)
}

// freePorts reserves n distinct loopback ports from the kernel and frees
// them for the caller to use.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// sockdProxies lists sockd's proxies through its own REST API.
func sockdProxies(t *testing.T, d *daemon, header ...string) map[string]map[string]any {
	t.Helper()
	code, body := curl(t, d, "GET", "/v1/proxies", nil, header...)
	if code != 200 {
		t.Fatalf("GET /v1/proxies: %d %v", code, body)
	}
	out := map[string]map[string]any{}
	list, _ := body["proxies"].([]any)
	for _, p := range list {
		m, _ := p.(map[string]any)
		out[str(m, "name")] = m
	}
	return out
}

// cliProxy is a line of toxiproxy-cli's list (not on a terminal: fields
// separated by tabs).
type cliProxy struct{ name, listen, upstream, enabled, toxics string }

func cliList(t *testing.T, cli, url string) map[string]cliProxy {
	t.Helper()
	r := run(t, nil, cli, "-h", url, "list")
	if r.code != 0 {
		t.Fatalf("toxiproxy-cli list: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	out := map[string]cliProxy{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		f := strings.Fields(line)
		if len(f) == 5 {
			out[f[0]] = cliProxy{f[0], f[1], f[2], f[3], f[4]}
		}
	}
	return out
}

// cliOK runs toxiproxy-cli and wants exit 0 and want in its output.
func cliOK(t *testing.T, cli, url, want string, args ...string) string {
	t.Helper()
	r := run(t, nil, cli, append([]string{"-h", url}, args...)...)
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Fatalf("toxiproxy-cli %s: exit %d, want %q in:\n%s%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	return r.stdout
}

// cliFails runs toxiproxy-cli and wants exit 1 and want in its output.
func cliFails(t *testing.T, cli, url, want string, args ...string) {
	t.Helper()
	r := run(t, nil, cli, append([]string{"-h", url}, args...)...)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, want) {
		t.Fatalf("toxiproxy-cli %s: exit %d, want 1 and %q in:\n%s%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
}

// TestToxiproxyCLIDrivesSockd drives sockd with toxiproxy-cli v2.5.0 and
// checks, with a real echo peer, what each command did: a proxy created is
// an ordinary sockd proxy, a latency toxic delays the echo, a toxic with
// toxicity 0 does not, toggle closes and reopens the listener.
func TestToxiproxyCLIDrivesSockd(t *testing.T) {
	cli := installToxiproxy(t, "cli")
	ts := startToxiSockd(t)
	url := ts.URL()
	echo := echoServer(t)

	cliOK(t, cli, url, "Created new proxy redis", "create", "--listen", "127.0.0.1:0", "--upstream", echo, "redis")
	cliFails(t, cli, url, "HTTP 409: proxy already exists", "create", "-l", "127.0.0.1:0", "-u", echo, "redis")
	p, ok := cliList(t, cli, url)["redis"]
	if !ok || p.upstream != echo || p.enabled != "enabled" || p.toxics != "0" || !strings.HasPrefix(p.listen, "127.0.0.1:") || strings.HasSuffix(p.listen, ":0") {
		t.Fatalf("toxiproxy-cli list: redis is %+v", p)
	}
	// The same proxy in sockd's own API.
	sp, ok := sockdProxies(t, ts.daemon)["redis"]
	if !ok || str(sp, "listenAddress") != p.listen || str(sp, "upstreamAddress") != echo || sp["enabled"] != true {
		t.Fatalf("GET /v1/proxies: redis is %v, toxiproxy-cli shows %+v", sp, p)
	}
	base := roundTrip(t, p.listen)
	t.Logf("echo round trip through the proxy, no toxic: %v", base)

	cliOK(t, cli, url, "Added downstream latency toxic 'latency_downstream' on proxy 'redis'", "toxic", "add", "-t", "latency", "-a", "latency=300", "-a", "jitter=0", "redis")
	if rt := roundTrip(t, p.listen); rt < 270*time.Millisecond {
		t.Errorf("with a 300 ms latency toxic the round trip took %v", rt)
	}
	out := cliOK(t, cli, url, "latency_downstream", "inspect", "redis")
	if !strings.Contains(out, "type=latency") || !strings.Contains(out, "stream=downstream") || !strings.Contains(out, "toxicity=1.00") || !strings.Contains(out, "latency=300") {
		t.Errorf("toxiproxy-cli inspect redis:\n%s", out)
	}
	cliOK(t, cli, url, "Removed toxic 'latency_downstream' on proxy 'redis'", "toxic", "remove", "-n", "latency_downstream", "redis")

	// toxicity 0: never applied; an update (toxicity back to the CLI's 1.0)
	// applies it to new connections.
	cliOK(t, cli, url, "Added upstream latency toxic 'never' on proxy 'redis'", "toxic", "add", "-n", "never", "-u", "-t", "latency", "--tox", "0", "-a", "latency=600", "redis")
	if rt := roundTrip(t, p.listen); rt > 450*time.Millisecond {
		t.Errorf("a toxic of toxicity 0 was applied: the round trip took %v", rt)
	}
	cliOK(t, cli, url, "Updated toxic 'never' on proxy 'redis'", "toxic", "update", "-n", "never", "-a", "latency=400", "redis")
	if rt := roundTrip(t, p.listen); rt < 370*time.Millisecond {
		t.Errorf("after the update to toxicity 1 and 400 ms the round trip took %v", rt)
	}
	out = cliOK(t, cli, url, "never", "inspect", "redis")
	if !strings.Contains(out, "toxicity=1.00") || !strings.Contains(out, "latency=400") || !strings.Contains(out, "stream=upstream") {
		t.Errorf("toxiproxy-cli inspect redis after the update:\n%s", out)
	}
	cliFails(t, cli, url, "HTTP 404: toxic not found", "toxic", "remove", "-n", "nope", "redis")
	cliFails(t, cli, url, "HTTP 400: invalid toxic type", "toxic", "add", "-t", "warp", "redis")
	cliOK(t, cli, url, "Removed toxic 'never'", "toxic", "remove", "-n", "never", "redis")

	cliOK(t, cli, url, "Proxy redis is now disabled", "toggle", "redis")
	if c, err := net.DialTimeout("tcp", p.listen, 5*time.Second); err == nil {
		c.Close()
		t.Errorf("a disabled proxy accepted a connection")
	}
	if got := cliList(t, cli, url)["redis"]; got.enabled != "disabled" || got.listen != p.listen {
		t.Errorf("after toggle: %+v", got)
	}
	cliOK(t, cli, url, "Proxy redis is now enabled", "toggle", "redis")
	roundTrip(t, p.listen)

	cliFails(t, cli, url, "HTTP 404: proxy not found", "inspect", "nope")
	cliOK(t, cli, url, "Deleted proxy redis", "delete", "redis")
	if got := cliList(t, cli, url); len(got) != 0 {
		t.Errorf("after delete toxiproxy-cli lists %v", got)
	}
	if got := sockdProxies(t, ts.daemon); len(got) != 0 {
		t.Errorf("after delete sockd lists %v", got)
	}
}

// TestToxiproxyGoClient uses toxiproxy's Go client package
// (github.com/Shopify/toxiproxy/v2/client) as a program would: proxies,
// toxics of each kind checked by what the echo peer's client sees,
// populate and reset.
func TestToxiproxyGoClient(t *testing.T) {
	ts := startToxiSockd(t)
	echo := echoServer(t)
	c := tclient.NewClient(ts.API)
	// The client keeps connections in http.DefaultTransport.
	t.Cleanup(func() { http.DefaultTransport.(*http.Transport).CloseIdleConnections() })

	p, err := c.CreateProxy("echo", "127.0.0.1:0", echo)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Enabled || p.Upstream != echo || strings.HasSuffix(p.Listen, ":0") {
		t.Fatalf("created %+v", p)
	}
	lat, err := p.AddToxic("", "latency", "upstream", 1, tclient.Attributes{"latency": 200, "jitter": 20})
	if err != nil {
		t.Fatal(err)
	}
	if lat.Name != "latency_upstream" || lat.Stream != "upstream" || lat.Toxicity != 1 || lat.Attributes["latency"] != 200.0 || lat.Attributes["jitter"] != 20.0 {
		t.Fatalf("latency toxic: %+v", lat)
	}
	if rt := roundTrip(t, p.Listen); rt < 160*time.Millisecond {
		t.Errorf("200±20 ms upstream latency: round trip %v", rt)
	}
	lat, err = p.UpdateToxic("latency_upstream", -1, tclient.Attributes{"latency": 0})
	if err != nil || lat.Attributes["latency"] != 0.0 || lat.Attributes["jitter"] != 20.0 || lat.Toxicity != 1 {
		t.Fatalf("update: %+v %v", lat, err)
	}
	if err := p.RemoveToxic("latency_upstream"); err != nil {
		t.Fatal(err)
	}

	// bandwidth: 100 KB/s downstream; 60 KB come back in about 0.6 s.
	if _, err := p.AddToxic("thin", "bandwidth", "downstream", 1, tclient.Attributes{"rate": 100}); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", p.Listen)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	start := time.Now()
	go conn.Write(make([]byte, 60_000))
	if _, err := io.ReadFull(conn, make([]byte, 60_000)); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Errorf("60 KB at 100 KB/s came back in %v", el)
	}
	conn.Close()
	if err := p.RemoveToxic("thin"); err != nil {
		t.Fatal(err)
	}

	// limit_data: 3 bytes pass, then the connection is closed.
	if _, err := p.AddToxic("", "limit_data", "downstream", 1, tclient.Attributes{"bytes": 3}); err != nil {
		t.Fatal(err)
	}
	conn, err = net.Dial("tcp", p.Listen)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	conn.Write([]byte("hello"))
	if got, err := io.ReadAll(conn); string(got) != "hel" {
		t.Errorf("limit_data 3: read %q (%v)", got, err)
	}
	conn.Close()
	if err := p.RemoveToxic("limit_data_downstream"); err != nil {
		t.Fatal(err)
	}

	// reset_peer: the client's read fails with ECONNRESET.
	if _, err := p.AddToxic("", "reset_peer", "downstream", 1, tclient.Attributes{"timeout": 100}); err != nil {
		t.Fatal(err)
	}
	conn, err = net.Dial("tcp", p.Listen)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	conn.Write([]byte("x"))
	_, err = io.ReadAll(conn)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("reset_peer: read ended with %v, want ECONNRESET", err)
	}
	conn.Close()

	toxics, err := p.Toxics()
	if err != nil || len(toxics) != 1 || toxics[0].Type != "reset_peer" || toxics[0].Attributes["timeout"] != 100.0 {
		t.Fatalf("toxics: %+v %v", toxics, err)
	}

	// populate: "echo" as it is stays (with its toxic), "second" is new.
	ps, err := c.Populate([]tclient.Proxy{
		{Name: "echo", Listen: p.Listen, Upstream: echo, Enabled: true},
		{Name: "second", Listen: "127.0.0.1:0", Upstream: echo, Enabled: false},
	})
	if err != nil || len(ps) != 2 || ps[0].Name != "echo" || ps[1].Name != "second" || ps[1].Enabled {
		t.Fatalf("populate: %+v %v", ps, err)
	}
	all, err := c.Proxies()
	if err != nil || len(all) != 2 || len(all["echo"].ActiveToxics) != 1 {
		t.Fatalf("proxies after populate: %+v %v", all, err)
	}
	// reset: every proxy enabled, every toxic gone.
	if err := c.ResetState(); err != nil {
		t.Fatal(err)
	}
	all, err = c.Proxies()
	if err != nil || len(all) != 2 {
		t.Fatalf("proxies after reset: %+v %v", all, err)
	}
	for name, q := range all {
		if !q.Enabled || len(q.ActiveToxics) != 0 {
			t.Errorf("after reset %s: enabled %v, toxics %v", name, q.Enabled, q.ActiveToxics)
		}
	}
	roundTrip(t, all["second"].Listen)

	// A new listen address moves the proxy (toxics kept), as in toxiproxy.
	second := all["second"]
	oldListen := second.Listen
	if _, err := second.AddToxic("", "slow_close", "downstream", 1, tclient.Attributes{"delay": 50}); err != nil {
		t.Fatal(err)
	}
	second.Listen = "127.0.0.1:0"
	if err := second.Save(); err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(second.Listen, ":0") || second.Listen == oldListen || !second.Enabled || len(second.ActiveToxics) != 1 {
		t.Errorf("moved: %+v", second)
	}
	roundTrip(t, second.Listen)

	for _, q := range []*tclient.Proxy{p, second} {
		if err := q.Delete(); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Delete(); err == nil || err.Error() != "Delete: HTTP 404: proxy not found" {
		t.Errorf("deleting twice: %v", err)
	}
}

// TestToxiproxyUDPProxy uses sockd's extension of the API: a proxy with
// "protocol": "udp", and a UDP toxic (timeout: every datagram dropped).
func TestToxiproxyUDPProxy(t *testing.T) {
	ts := startToxiSockd(t)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	code, raw := ts.doJSON(t, "POST", "/proxies", `{"name":"dns","listen":"127.0.0.1:0","upstream":"`+pc.LocalAddr().String()+`","protocol":"udp"}`)
	var p struct{ Name, Listen, Protocol string }
	if code != 201 || json.Unmarshal(raw, &p) != nil || p.Protocol != "udp" {
		t.Fatalf("create a UDP proxy: %d %s", code, raw)
	}
	echoed := func() bool {
		c, err := net.Dial("udp4", p.Listen)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("q"))
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := c.Read(make([]byte, 16))
		return err == nil && n == 1
	}
	if !echoed() {
		t.Fatal("no echo through the UDP proxy")
	}
	code, raw = ts.doJSON(t, "POST", "/proxies/dns/toxics", `{"type":"timeout","stream":"upstream"}`)
	if code != 200 {
		t.Fatalf("timeout toxic on UDP: %d %s", code, raw)
	}
	if echoed() {
		t.Error("a datagram passed a UDP timeout toxic")
	}
	code, raw = ts.doJSON(t, "POST", "/proxies/dns/toxics", `{"type":"slicer","attributes":{"average_size":10}}`)
	wantToxiError(t, "slicer on UDP", 400, raw, code, "slicer does not apply to udp")
	code, raw = ts.doJSON(t, "POST", "/proxies/dns/toxics", `{"type":"loss","attributes":{"percent":30,"correlation":25}}`)
	if code != 200 || !strings.Contains(string(raw), `"attributes":{"percent":30,"correlation":25}`) {
		t.Errorf("loss toxic: %d %s", code, raw)
	}
}

// TestToxiproxyUnreachableUpstream shows where sockd differs from
// toxiproxy when nothing listens at the upstream: toxiproxy accepts and
// closes the client's connection (EOF); sockd resets it (docs/relay.md),
// so the client sees ECONNRESET — at its read, or already at its connect.
func TestToxiproxyUnreachableUpstream(t *testing.T) {
	ts := startToxiSockd(t)
	dead := freePorts(t, 1)[0]
	code, raw := ts.doJSON(t, "POST", "/proxies", fmt.Sprintf(`{"name":"dead","listen":"127.0.0.1:0","upstream":"127.0.0.1:%d"}`, dead))
	var p struct{ Listen string }
	if code != 201 || json.Unmarshal(raw, &p) != nil {
		t.Fatalf("create: %d %s", code, raw)
	}
	conn, err := net.DialTimeout("tcp", p.Listen, 10*time.Second)
	if err == nil {
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadAll(conn)
		conn.Close()
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("through a proxy to a closed port: %v, want ECONNRESET", err)
	}
}

// ---- toxiproxy's own api_test.go, run against sockd ----

// conformanceNotApplicable are the cases of toxiproxy v2.5.0's api_test.go
// that cannot pass against sockd, and why. Every other case must pass.
var conformanceNotApplicable = map[string]string{
	"TestAddNoop": `adds toxiproxy's hidden "noop" toxic type, which sockd has no fault for (FaultType has no NOOP); sockd answers 400 "invalid toxic type"`,
}

// TestToxiproxyConformanceSuite runs toxiproxy v2.5.0's own api_test.go —
// the conformance suite of its HTTP API, written against its server —
// against sockd. The file is copied from the module cache into a copy of
// toxiproxy's module, with two changes made by the syntax tree: its
// WithServer (which starts toxiproxy's server in-process) is replaced by a
// shim that points at sockd and deletes every proxy after each case, as
// toxiproxy's Collection.Clear does; and its hard-coded ports (the API's
// 8475, the proxies' 3310, 7070, ...) become ports the kernel handed out.
// toxiproxy.Version (what /version must answer) is linked as sockd's
// version. Every case but those in conformanceNotApplicable must pass.
func TestToxiproxyConformanceSuite(t *testing.T) {
	ts := startToxiSockd(t)
	src := toxiproxyModuleDir(t)
	dir := filepath.Join(t.TempDir(), "toxiproxy")
	copyModule(t, src, dir)

	orig, err := os.ReadFile(filepath.Join(src, "api_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	rewritten, portMap := rewriteAPITest(t, orig, ts.API)
	t.Logf("ports of api_test.go as run: %v", portMap)
	writeFile(t, filepath.Join(dir, "api_test.go"), rewritten)
	writeFile(t, filepath.Join(dir, "sockd_shim_test.go"), []byte(conformanceShim))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-json", "-timeout", "4m",
		"-ldflags", "-X "+toxiproxyModule+".Version="+ts.Version, "-run", "^Test", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod -buildvcs=false", "SOCKD_TOXIPROXY_URL="+ts.URL())
	cmd.WaitDelay = 10 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	results, outputs := parseTestJSON(out)
	if len(results) == 0 {
		need(t, !strings.Contains(stderr.String(), "dial tcp") && !strings.Contains(stderr.String(), "proxy.golang.org"),
			"needs toxiproxy's dependencies from the Go module proxy: "+stderr.String())
		t.Fatalf("go test of api_test.go ran no case (%v):\n%s\n%s", runErr, stderr.String(), out)
	}

	var names []string
	for name := range results {
		names = append(names, name)
	}
	sort.Strings(names)
	passed := 0
	for _, name := range names {
		res := results[name]
		why, inapplicable := conformanceNotApplicable[name]
		switch {
		case res == "pass" && inapplicable:
			t.Errorf("%s passes now: take it off conformanceNotApplicable (%s)", name, why)
		case res == "pass":
			passed++
			t.Logf("PASS %s", name)
		case inapplicable:
			t.Logf("N/A  %s: %s", name, why)
		default:
			t.Errorf("FAIL %s:\n%s", name, outputs[name])
		}
	}
	for name := range conformanceNotApplicable {
		if _, ran := results[name]; !ran {
			t.Errorf("%s is on conformanceNotApplicable but did not run", name)
		}
	}
	t.Logf("toxiproxy v2.5.0 api_test.go against sockd: %d of %d cases pass, %d not applicable", passed, len(results), len(conformanceNotApplicable))
	if t.Failed() {
		t.Logf("go test output:\n%s\n%s", out, stderr.String())
	}
}

// conformanceShim replaces api_test.go's WithServer and toxiproxy_test.go's
// AssertProxyUp (which stays behind with the rest of toxiproxy's tests).
const conformanceShim = `package toxiproxy_test

import (
	"net"
	"os"
	"testing"
)

// WithServer runs a case against the sockd at $SOCKD_TOXIPROXY_URL and
// then deletes every proxy, as toxiproxy's Collection.Clear does.
func WithServer(t *testing.T, f func(string)) {
	defer func() {
		proxies, err := client.Proxies()
		if err != nil {
			t.Error("Failed to clear collection", err)
			return
		}
		for _, p := range proxies {
			if err := p.Delete(); err != nil {
				t.Error("Failed to clear collection", err)
			}
		}
	}()
	f(os.Getenv("SOCKD_TOXIPROXY_URL"))
}

// AssertProxyUp is toxiproxy_test.go's, closing what it opens.
func AssertProxyUp(t *testing.T, addr string, up bool) net.Conn {
	conn, err := net.Dial("tcp", addr)
	if err != nil && up {
		t.Error("Expected proxy to be up:", err)
	} else if err == nil && !up {
		t.Error("Expected proxy to be down")
	}
	if conn != nil {
		t.Cleanup(func() { conn.Close() })
	}
	return conn
}
`

// toxiproxyModuleDir is toxiproxy v2.5.0's source in the module cache (a
// requirement of this module, for its client package).
func toxiproxyModuleDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", toxiproxyModule).Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		need(t, false, fmt.Sprintf("needs toxiproxy's module in the module cache (go mod download %s): %v", toxiproxyModule, err))
	}
	if _, err := os.Stat(filepath.Join(dir, "api_test.go")); err != nil {
		t.Fatalf("toxiproxy's module at %s has no api_test.go: %v", dir, err)
	}
	return dir
}

// copyModule copies toxiproxy's module without its tests (they start
// toxiproxy's own servers on fixed ports), writable.
func copyModule(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if strings.HasSuffix(path, "_test.go") || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// hostPort is a loopback address with a port in a string literal of
// api_test.go.
var hostPort = regexp.MustCompile(`(localhost|127\.0\.0\.1):([0-9]{2,5})`)

// rewriteAPITest drops api_test.go's WithServer and testServer (and the
// imports only they use), and maps every loopback port in its strings:
// 8475 (toxiproxy's API in the tests) to api's port, the others to free
// ports. It returns the new source and the port map.
func rewriteAPITest(t *testing.T, src []byte, api string) ([]byte, map[string]int) {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "api_test.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	_, apiPort, _ := net.SplitHostPort(api)
	var ports []string
	ast.Inspect(f, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			for _, m := range hostPort.FindAllStringSubmatch(lit.Value, -1) {
				if m[2] != "8475" && !slices.Contains(ports, m[2]) {
					ports = append(ports, m[2])
				}
			}
		}
		return true
	})
	upstream := upstreamPorts(f)
	portMap := map[string]int{}
	free := freePorts(t, len(ports))
	for i, p := range ports {
		if upstream[p] {
			portMap[p] = holdingPeer(t)
		} else {
			portMap[p] = free[i]
		}
	}
	portMap["8475"], _ = strconv.Atoi(apiPort)
	ast.Inspect(f, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			lit.Value = hostPort.ReplaceAllStringFunc(lit.Value, func(s string) string {
				m := hostPort.FindStringSubmatch(s)
				return m[1] + ":" + strconv.Itoa(portMap[m[2]])
			})
		}
		return true
	})

	var decls []ast.Decl
	removed := 0
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if d.Name.Name == "WithServer" {
				removed++
				continue
			}
		case *ast.GenDecl:
			var specs []ast.Spec
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.ValueSpec:
					if len(s.Names) == 1 && s.Names[0].Name == "testServer" {
						removed++
						continue
					}
				}
				specs = append(specs, s)
			}
			if len(specs) == 0 {
				continue
			}
			d.Specs = specs
		}
		decls = append(decls, decl)
	}
	if removed != 2 {
		t.Fatalf("api_test.go: found %d of WithServer and testServer to replace", removed)
	}
	f.Decls = decls
	dropUnusedImports(f)
	f.Comments = nil // their positions no longer match
	var buf bytes.Buffer
	if err := format.Node(&buf, token.NewFileSet(), f); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), portMap
}

// upstreamJSON is an upstream address in a JSON body of api_test.go.
var upstreamJSON = regexp.MustCompile(`\\?"upstream\\?":\s*\\?"(?:localhost|127\.0\.0\.1):([0-9]{2,5})`)

// upstreamPorts are the ports api_test.go uses as upstream addresses: the
// third argument of CreateProxy, Upstream fields, "upstream" in JSON.
func upstreamPorts(f *ast.File) map[string]bool {
	out := map[string]bool{}
	add := func(e ast.Expr) {
		if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			for _, m := range hostPort.FindAllStringSubmatch(lit.Value, -1) {
				out[m[2]] = true
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "CreateProxy" && len(n.Args) == 3 {
				add(n.Args[2])
			}
		case *ast.KeyValueExpr:
			if id, ok := n.Key.(*ast.Ident); ok && id.Name == "Upstream" {
				add(n.Value)
			}
		case *ast.AssignStmt:
			for i, l := range n.Lhs {
				if sel, ok := l.(*ast.SelectorExpr); ok && sel.Sel.Name == "Upstream" && i < len(n.Rhs) {
					add(n.Rhs[i])
				}
			}
		case *ast.BasicLit:
			if n.Kind == token.STRING {
				for _, m := range upstreamJSON.FindAllStringSubmatch(n.Value, -1) {
					out[m[1]] = true
				}
			}
		}
		return true
	})
	return out
}

// holdingPeer is an upstream server for api_test.go's proxies: it accepts
// and holds every connection until the test ends. (With no server at an
// upstream, sockd resets the client's connection at once — toxiproxy
// closes it — and the reset can reach the client before its connect
// returns, which api_test.go's AssertProxyUp counts as the proxy being
// down. TestToxiproxyUnreachableUpstream shows that case.)
func holdingPeer(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

// dropUnusedImports removes the imports no selector of f uses any more
// (those only WithServer used).
func dropUnusedImports(f *ast.File) {
	used := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok {
				used[id.Name] = true
			}
		}
		return true
	})
	unused := func(s *ast.ImportSpec) bool {
		if s.Name != nil {
			return s.Name.Name != "_" && !used[s.Name.Name]
		}
		path, _ := strconv.Unquote(s.Path.Value)
		name := path[strings.LastIndex(path, "/")+1:]
		if strings.HasPrefix(name, "v") && strings.Count(path, "/") > 1 {
			if _, err := strconv.Atoi(name[1:]); err == nil { // .../toxiproxy/v2
				p := strings.TrimSuffix(path, "/"+name)
				name = p[strings.LastIndex(p, "/")+1:]
			}
		}
		return !used[name]
	}
	for _, decl := range f.Decls {
		if d, ok := decl.(*ast.GenDecl); ok && d.Tok == token.IMPORT {
			d.Specs = slices.DeleteFunc(d.Specs, func(s ast.Spec) bool { return unused(s.(*ast.ImportSpec)) })
		}
	}
	f.Imports = slices.DeleteFunc(f.Imports, unused)
}

// parseTestJSON reads go test -json output: each top-level test's result
// and output.
func parseTestJSON(out []byte) (map[string]string, map[string]string) {
	results, outputs := map[string]string{}, map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct{ Action, Test, Output string }
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Test == "" || strings.Contains(ev.Test, "/") {
			continue
		}
		switch ev.Action {
		case "pass", "fail", "skip":
			results[ev.Test] = ev.Action
		case "output":
			outputs[ev.Test] += ev.Output
		}
	}
	return results, outputs
}

// ---- bad input and other principals ----

// unsizedReader hides a body's length, so that it is sent chunked and only
// the limit on reading it can stop it.
type unsizedReader struct{ io.Reader }

// TestToxiproxyRefusesBadInput sends what toxiproxy's clients never would:
// each gets toxiproxy's error shape with a clear message and the status
// toxiproxy (or, for sockd's own checks, sockd's REST API) gives, and
// nothing is left behind: no proxy, no descriptor.
func TestToxiproxyRefusesBadInput(t *testing.T) {
	ts := startToxiSockd(t)
	echo := echoServer(t)
	code, raw := ts.doJSON(t, "POST", "/proxies", `{"name":"p","listen":"127.0.0.1:0","upstream":"`+echo+`"}`)
	if code != 201 {
		t.Fatalf("create: %d %s", code, raw)
	}
	var p struct{ Listen string }
	_ = json.Unmarshal(raw, &p)
	fdsBefore := ts.fds(t)

	for _, tc := range []struct {
		what, method, path, body string
		header                   []string
		code                     int
		says                     string
	}{
		{"truncated JSON", "POST", "/proxies", `{"name":`, nil, 400, "bad request body: unexpected EOF"},
		{"not JSON", "POST", "/proxies", `name=p`, nil, 400, "bad request body: invalid character"},
		{"empty body", "POST", "/proxies", ``, nil, 400, "bad request body: EOF"},
		{"listen a number", "POST", "/proxies", `{"name":"q","listen":5,"upstream":"` + echo + `"}`, nil, 400, "cannot unmarshal number"},
		{"no name", "POST", "/proxies", `{"upstream":"` + echo + `"}`, nil, 400, "missing required field: name"},
		{"no upstream", "POST", "/proxies", `{"name":"q"}`, nil, 400, "missing required field: upstream"},
		{"name taken", "POST", "/proxies", `{"name":"p","upstream":"` + echo + `"}`, nil, 409, "proxy already exists"},
		{"port taken", "POST", "/proxies", `{"name":"q","listen":"` + p.Listen + `","upstream":"` + echo + `"}`, nil, 500, "listen tcp " + p.Listen + ": bind: address already in use"},
		{"name sockd refuses", "POST", "/proxies", `{"name":"My Proxy","upstream":"` + echo + `"}`, nil, 400, "want 1-63 characters"},
		{"name of 1000 characters", "POST", "/proxies", `{"name":"` + strings.Repeat("a", 1000) + `","upstream":"` + echo + `"}`, nil, 400, "want 1-63 characters"},
		{"name of invalid UTF-8", "POST", "/proxies", "{\"name\":\"a\xff\xfeb\",\"upstream\":\"" + echo + "\"}", nil, 400, "want 1-63 characters"},
		{"path of invalid UTF-8", "GET", "/proxies/a%ff%fe", ``, nil, 400, "not valid UTF-8"},
		{"upstream off loopback", "POST", "/proxies", `{"name":"q","upstream":"10.1.2.3:80"}`, nil, 403, "policy"},
		{"listen on a low port", "POST", "/proxies", `{"name":"q","listen":"127.0.0.1:80","upstream":"` + echo + `"}`, nil, 403, "policy"},
		{"protocol unknown", "POST", "/proxies", `{"name":"q","upstream":"` + echo + `","protocol":"sctp"}`, nil, 400, "protocol must be tcp or udp"},
		{"unknown proxy", "GET", "/proxies/nope", ``, nil, 404, "proxy not found"},
		{"unknown proxy's toxics", "POST", "/proxies/nope/toxics", `{"type":"latency"}`, nil, 404, "proxy not found"},
		{"update an unknown proxy", "POST", "/proxies/nope", `{}`, nil, 404, "proxy not found"},
		{"update with an empty body", "POST", "/proxies/p", ``, nil, 400, "bad request body: EOF"},
		{"update to no upstream", "POST", "/proxies/p", `{"upstream":""}`, nil, 400, "missing required field: upstream"},
		{"update the protocol", "POST", "/proxies/p", `{"protocol":"udp"}`, nil, 400, "protocol cannot change"},
		{"unknown toxic type", "POST", "/proxies/p/toxics", `{"type":"warp"}`, nil, 400, "invalid toxic type"},
		{"toxiproxy's hidden noop", "POST", "/proxies/p/toxics", `{"type":"noop"}`, nil, 400, "invalid toxic type"},
		{"no toxic type", "POST", "/proxies/p/toxics", `{}`, nil, 400, "invalid toxic type"},
		{"stream sideways", "POST", "/proxies/p/toxics", `{"type":"latency","stream":"sideways"}`, nil, 400, "stream was invalid, can be either upstream or downstream"},
		{"stream empty", "POST", "/proxies/p/toxics", `{"type":"latency","stream":""}`, nil, 400, "stream was invalid"},
		{"toxicity 2", "POST", "/proxies/p/toxics", `{"type":"latency","toxicity":2}`, nil, 400, "toxicity must be from 0 to 1"},
		{"toxicity -0.5", "POST", "/proxies/p/toxics", `{"type":"latency","toxicity":-0.5}`, nil, 400, "toxicity must be from 0 to 1"},
		{"toxicity a string", "POST", "/proxies/p/toxics", `{"type":"latency","toxicity":"1"}`, nil, 400, "cannot unmarshal string"},
		{"latency a string", "POST", "/proxies/p/toxics", `{"type":"latency","attributes":{"latency":"100"}}`, nil, 400, "Go struct field LatencyToxic.attributes.latency of type int64"},
		{"latency a fraction", "POST", "/proxies/p/toxics", `{"type":"latency","attributes":{"latency":1.5}}`, nil, 400, "cannot unmarshal number 1.5"},
		{"latency negative", "POST", "/proxies/p/toxics", `{"type":"latency","attributes":{"latency":-1}}`, nil, 400, "attributes.latency: must be from 0 to 3600000 (ms)"},
		{"latency of a century", "POST", "/proxies/p/toxics", `{"type":"latency","attributes":{"latency":3155760000000}}`, nil, 400, "attributes.latency: must be from 0"},
		{"latency past int64", "POST", "/proxies/p/toxics", `{"type":"latency","attributes":{"latency":1e30}}`, nil, 400, "cannot unmarshal number 1e30"},
		{"attributes a number", "POST", "/proxies/p/toxics", `{"type":"latency","attributes":5}`, nil, 400, "bad request body"},
		{"bandwidth 0", "POST", "/proxies/p/toxics", `{"type":"bandwidth","attributes":{"rate":0}}`, nil, 400, "attributes.rate: must be positive"},
		{"bandwidth overflowing", "POST", "/proxies/p/toxics", `{"type":"bandwidth","attributes":{"rate":9223372036854776}}`, nil, 400, "attributes.rate: must be at most"},
		{"slicer without a size", "POST", "/proxies/p/toxics", `{"type":"slicer"}`, nil, 400, "attributes.average_size: must be positive"},
		{"slicer varying too much", "POST", "/proxies/p/toxics", `{"type":"slicer","attributes":{"average_size":10,"size_variation":10}}`, nil, 400, "attributes.size_variation"},
		{"limit_data 0", "POST", "/proxies/p/toxics", `{"type":"limit_data"}`, nil, 400, "attributes.bytes: must be positive"},
		{"UDP toxic on TCP", "POST", "/proxies/p/toxics", `{"type":"loss","attributes":{"percent":10}}`, nil, 400, "loss does not apply to tcp"},
		{"toxic name sockd refuses", "POST", "/proxies/p/toxics", `{"type":"latency","name":"Slow Down"}`, nil, 400, "want 1-63 characters"},
		{"unknown toxic", "GET", "/proxies/p/toxics/nope", ``, nil, 404, "toxic not found"},
		{"update an unknown toxic", "POST", "/proxies/p/toxics/nope", `{}`, nil, 404, "toxic not found"},
		{"delete an unknown toxic", "DELETE", "/proxies/p/toxics/nope", ``, nil, 404, "toxic not found"},
		{"populate with an object", "POST", "/populate", `{"name":"x"}`, nil, 400, "bad request body: json: cannot unmarshal object"},
		{"populate without a name", "POST", "/populate", `[{"upstream":"` + echo + `"}]`, nil, 400, "missing required field: name at proxy 1"},
		{"wrong method", "PUT", "/proxies", `{}`, nil, 405, "PUT is not a method of /proxies; it takes GET, POST"},
		{"no such route", "GET", "/toxics", ``, nil, 404, "not found"},
		{"a browser", "GET", "/proxies", ``, []string{"User-Agent: Mozilla/5.0 (X11; Linux x86_64)"}, 403, "User agent not allowed"},
		{"a foreign page", "POST", "/reset", ``, []string{"Origin: http://evil.example"}, 403, "cross-origin"},
		{"a rebound name", "GET", "/proxies", ``, []string{"Host: evil.example"}, 403, "DNS rebinding"},
		{"an Authorization not of ASCII", "GET", "/proxies", ``, []string{"Authorization: Bearer t\xc3\xb6k"}, 400, "malformed Authorization header"},
	} {
		req, err := http.NewRequest(tc.method, ts.URL()+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("User-Agent", "sockd-e2e")
		for _, h := range tc.header {
			k, v, _ := strings.Cut(h, ": ")
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := (&http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.what, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantToxiError(t, tc.what, tc.code, body, resp.StatusCode, tc.says)
		if tc.code == 405 && resp.Header.Get("Allow") != "GET, POST" {
			t.Errorf("%s: Allow %q", tc.what, resp.Header.Get("Allow"))
		}
	}

	// Bodies over the limit: refused by their length before a byte is read,
	// or, sent chunked, once the limit has been read.
	huge := bytes.Repeat([]byte(" "), 2<<20)
	raw, code = rawRequest(t, ts.API, "POST /proxies HTTP/1.1\r\nHost: "+ts.API+"\r\nContent-Length: 2097152\r\nConnection: close\r\n\r\n")
	wantToxiError(t, "a 2 MiB body, answered before it is sent", 413, raw, code, "over the limit")
	code, _, raw = ts.do(t, "POST", "/proxies/p/toxics", unsizedReader{io.MultiReader(strings.NewReader(`{"type":"latency","name":"`), bytes.NewReader(huge), strings.NewReader(`"}`))})
	wantToxiError(t, "a 2 MiB chunked body", 413, raw, code, "over the limit")

	// Concurrent creates and deletes of one name: each answer is one of
	// toxiproxy's, never a 500.
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[int]int{}
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var code int
			if i%2 == 0 {
				code, _ = ts.doJSON(t, "POST", "/proxies", `{"name":"race","listen":"127.0.0.1:0","upstream":"`+echo+`"}`)
			} else {
				code, _ = ts.doJSON(t, "DELETE", "/proxies/race", "")
			}
			mu.Lock()
			seen[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	for code := range seen {
		if code != 201 && code != 409 && code != 204 && code != 404 {
			t.Errorf("concurrent create/delete answered %d (%v)", code, seen)
		}
	}
	ts.doJSON(t, "DELETE", "/proxies/race", "")

	// Nothing was made of all that: the one proxy, with no toxics, and no
	// descriptor more than before.
	code, raw = ts.doJSON(t, "GET", "/proxies", "")
	var all map[string]struct{ Toxics []any }
	if code != 200 || json.Unmarshal(raw, &all) != nil || len(all) != 1 || len(all["p"].Toxics) != 0 {
		t.Errorf("after the bad requests: %d %s", code, raw)
	}
	waitFor(t, "sockd's descriptors to settle", func() bool { return ts.fds(t) <= fdsBefore })
}

// rawRequest writes a request head (and no body) and reads the response.
func rawRequest(t *testing.T, addr, head string) ([]byte, int) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", head, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return body, resp.StatusCode
}

// tokenTransport adds a bearer token to every request, for toxiproxy's Go
// client (which uses http.DefaultClient, and for DELETE a client of its
// own: both go through http.DefaultTransport, which this replaces).
type tokenTransport struct {
	base  http.RoundTripper
	mu    sync.Mutex
	token string
}

func (tt *tokenTransport) use(token string) {
	tt.mu.Lock()
	tt.token = token
	tt.mu.Unlock()
}

func (tt *tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	tt.mu.Lock()
	token := tt.token
	tt.mu.Unlock()
	r = r.Clone(r.Context())
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return tt.base.RoundTrip(r)
}

// TestToxiproxyNeedsTokens: with --token-file every route needs a token
// (401 in toxiproxy's shape otherwise — toxiproxy-cli, which cannot send
// one, is refused), and a principal sees and touches only its own proxies.
func TestToxiproxyNeedsTokens(t *testing.T) {
	cli := installToxiproxy(t, "cli")
	ts := startToxiSockd(t, "--token-file", writeTokens(t, aliceToken+" alice", bobToken+" bob"))
	echo := echoServer(t)

	cliFails(t, cli, ts.URL(), "HTTP 401: missing credentials", "list")
	cliFails(t, cli, ts.URL(), "HTTP 401", "create", "-l", "127.0.0.1:0", "-u", echo, "redis")
	for _, route := range []struct{ method, path string }{
		{"GET", "/proxies"}, {"POST", "/proxies"}, {"GET", "/proxies/redis"}, {"DELETE", "/proxies/redis"},
		{"GET", "/proxies/redis/toxics"}, {"POST", "/populate"}, {"POST", "/reset"}, {"GET", "/version"},
	} {
		body := ""
		if route.method == "POST" {
			body = `{"name":"redis","listen":"127.0.0.1:0","upstream":"` + echo + `"}`
			if route.path == "/populate" {
				body = "[" + body + "]"
			}
		}
		code, hdr, raw := ts.do(t, route.method, route.path, strings.NewReader(body))
		wantToxiError(t, route.method+" "+route.path+" without a token", 401, raw, code, "missing credentials")
		if hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: 401 without WWW-Authenticate", route.method, route.path)
		}
		code, raw = ts.doJSON(t, route.method, route.path, body, "Authorization: Bearer not-a-token-of-sockd")
		wantToxiError(t, route.method+" "+route.path+" with a wrong token", 401, raw, code, "invalid token")
	}
	code, raw := ts.doJSON(t, "GET", "/version", "", "Authorization: Bearer "+aliceToken)
	if code != 200 || string(raw) != ts.Version {
		t.Errorf("GET /version with a token: %d %q, want %q", code, raw, ts.Version)
	}

	// toxiproxy's Go client, with the token added by a transport.
	tt := &tokenTransport{base: http.DefaultTransport}
	http.DefaultTransport = tt
	t.Cleanup(func() {
		http.DefaultTransport = tt.base
		tt.base.(*http.Transport).CloseIdleConnections()
	})
	c := tclient.NewClient(ts.API)

	tt.use(aliceToken)
	alices, err := c.CreateProxy("redis", "127.0.0.1:0", echo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alices.AddToxic("", "latency", "downstream", 1, tclient.Attributes{"latency": 10}); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, alices.Listen)
	aliceID := ""
	for name, p := range sockdProxies(t, ts.daemon, "Authorization: Bearer "+aliceToken) {
		if name == "redis" {
			aliceID = str(p, "id")
			if str(p, "owner") != "alice" {
				t.Errorf("alice's proxy is owned by %q", str(p, "owner"))
			}
		}
	}
	if aliceID == "" {
		t.Fatal("sockd does not list alice's proxy to alice")
	}

	tt.use(bobToken)
	if ps, err := c.Proxies(); err != nil || len(ps) != 0 {
		t.Errorf("bob lists %v (%v)", ps, err)
	}
	for _, ref := range []string{"redis", aliceID} {
		if _, err := c.Proxy(ref); err == nil || err.Error() != "Proxy: HTTP 404: proxy not found" {
			t.Errorf("bob gets alice's proxy %s: %v", ref, err)
		}
		code, raw := ts.doJSON(t, "DELETE", "/proxies/"+ref, "", "Authorization: Bearer "+bobToken)
		wantToxiError(t, "bob deletes alice's proxy "+ref, 404, raw, code, "proxy not found")
		code, raw = ts.doJSON(t, "POST", "/proxies/"+ref+"/toxics", `{"type":"timeout"}`, "Authorization: Bearer "+bobToken)
		wantToxiError(t, "bob adds a toxic to alice's proxy "+ref, 404, raw, code, "proxy not found")
		code, raw = ts.doJSON(t, "DELETE", "/proxies/"+ref+"/toxics/latency_downstream", "", "Authorization: Bearer "+bobToken)
		wantToxiError(t, "bob removes alice's toxic on "+ref, 404, raw, code, "proxy not found")
		code, raw = ts.doJSON(t, "POST", "/proxies/"+ref, `{"enabled":false}`, "Authorization: Bearer "+bobToken)
		wantToxiError(t, "bob disables alice's proxy "+ref, 404, raw, code, "proxy not found")
	}
	// Names are per principal: bob may have a "redis" of his own.
	bobs, err := c.CreateProxy("redis", "127.0.0.1:0", echo)
	if err != nil {
		t.Fatalf("bob's own redis: %v", err)
	}
	if err := c.ResetState(); err != nil {
		t.Fatal(err)
	}
	if err := bobs.Delete(); err != nil {
		t.Fatal(err)
	}

	// Bob's reset and delete touched nothing of alice's.
	tt.use(aliceToken)
	p, err := c.Proxy("redis")
	if err != nil || len(p.ActiveToxics) != 1 || p.Listen != alices.Listen {
		t.Errorf("alice's proxy after bob's reset: %+v %v", p, err)
	}
	roundTrip(t, alices.Listen)
}
