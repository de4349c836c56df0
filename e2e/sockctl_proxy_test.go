package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sockctl's proxy, relay and fault commands against the real sockd, with
// Python servers as the upstreams and the proxies' clients.

// pyMultiUpper answers every line of every connection in upper case: prints
// its port, serves until killed.
const pyMultiUpper = `
import socket, threading
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
print(s.getsockname()[1], flush=True)
def serve(c):
    with c:
        for line in c.makefile("rb"):
            c.sendall(line.upper())
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`

// sockctlFails runs sockctl, which must exit with code; stderr must hold
// every want.
func sockctlFails(t *testing.T, d *daemon, code int, want []string, args ...string) {
	t.Helper()
	r := sockctl(t, d, nil, args...)
	if r.code != code {
		t.Fatalf("sockctl %s: exit %d, want %d\n%s%s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "sockctl: ") {
		t.Errorf("sockctl %s: stderr %q does not start with 'sockctl: '", strings.Join(args, " "), r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("sockctl %s: stderr %q lacks %q", strings.Join(args, " "), r.stderr, w)
		}
	}
}

// jsonOf decodes sockctl's -o json output.
func jsonOf(t *testing.T, out string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v in %q", err, out)
	}
	return m
}

// jsonList decodes sockctl's -o json output of a list.
func jsonList(t *testing.T, out string) []map[string]any {
	t.Helper()
	var l []map[string]any
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("%v in %q", err, out)
	}
	return l
}

// lineConn is a held connection through a proxy that sends lines and
// reads the answers.
type lineConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialLines(t *testing.T, addr string) *lineConn {
	t.Helper()
	c, err := net.DialTimeout("tcp4", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &lineConn{c: c, r: bufio.NewReader(c)}
}

func (l *lineConn) ask(t *testing.T, line string) string {
	t.Helper()
	if _, err := io.WriteString(l.c, line+"\n"); err != nil {
		t.Fatal(err)
	}
	got, err := l.r.ReadString('\n')
	if err != nil {
		t.Fatalf("answer to %q: %q, %v", line, got, err)
	}
	return strings.TrimSuffix(got, "\n")
}

// Every proxy command, and faults on a proxy and on one of its
// connections, as a Python client of the proxy sees them.
func TestSockctlProxyCommands(t *testing.T) {
	d := startSockd(t)
	echo := "127.0.0.1:" + startPython(t, pyMultiEcho).line(t)
	upper := "127.0.0.1:" + startPython(t, pyMultiUpper).line(t)

	id := lastLine(sockctlOK(t, d, "proxy", "create", "tcp", "127.0.0.1:0", echo, "--name", "echo"))
	if len(id) != 24 {
		t.Fatalf("proxy create printed %q, want an id", id)
	}
	p := jsonOf(t, sockctlOK(t, d, "proxy", "inspect", "echo", "-o", "json"))
	listen := str(p, "listenAddress")
	if str(p, "id") != id || p["enabled"] != true || str(p, "upstreamAddress") != echo {
		t.Fatalf("proxy inspect -o json: %v", p)
	}
	held := dialLines(t, listen)
	if got := held.ask(t, "hello"); got != "hello" {
		t.Fatalf("through the proxy: %q", got)
	}
	ls := sockctlOK(t, d, "proxy", "ls")
	if !strings.Contains(ls, "LISTEN") || !strings.Contains(ls, id[:12]) || !strings.Contains(ls, listen) || !strings.Contains(ls, "1/1") {
		t.Fatalf("proxy ls:\n%s", ls)
	}
	if out := sockctlOK(t, d, "proxy", "inspect", id[:8]); !strings.Contains(out, "Upstream:") || !strings.Contains(out, echo) {
		t.Fatalf("proxy inspect by prefix:\n%s", out)
	}

	// The held connection is a relay of the proxy's; a fault on it alone.
	relays := jsonList(t, sockctlOK(t, d, "relay", "ls", "--proxy", "echo", "-o", "json"))
	if len(relays) != 1 || str(relays[0], "proxyId") != id {
		t.Fatalf("relay ls --proxy: %v", relays)
	}
	rid := str(relays[0], "id")
	if out := sockctlOK(t, d, "relay", "inspect", rid); !strings.Contains(out, "Paths up/down:") || !strings.Contains(out, "splice") {
		t.Fatalf("relay inspect of a connection with no fault:\n%s", out)
	}

	// A proxy's fault: every answer 200 ms late (a lower bound, with slack
	// for nothing: latency cannot make it faster).
	if got := lastLine(sockctlOK(t, d, "fault", "add", "echo", "latency", "--latency", "200ms", "--jitter", "10ms")); got != "latency_downstream" {
		t.Fatalf("fault add printed %q", got)
	}
	start := time.Now()
	if got := held.ask(t, "slow"); got != "slow" || time.Since(start) < 180*time.Millisecond {
		t.Fatalf("with 200±10 ms of latency: %q in %v", got, time.Since(start))
	}
	if out := sockctlOK(t, d, "fault", "ls", "echo"); !strings.Contains(out, "latency=200ms jitter=10ms") || !strings.Contains(out, "downstream") {
		t.Fatalf("fault ls:\n%s", out)
	}
	// Only the flag given changes: the latency stays.
	sockctlOK(t, d, "fault", "set", "echo", "latency_downstream", "--jitter", "1ms")
	f := jsonList(t, sockctlOK(t, d, "fault", "ls", "echo", "-o", "json"))
	lat, _ := f[0]["latency"].(map[string]any)
	if len(f) != 1 || lat["latency"] != "0.200s" || lat["jitter"] != "0.001s" {
		t.Fatalf("after fault set --jitter 1ms: %v", f)
	}
	sockctlOK(t, d, "fault", "set", "echo", "latency_downstream", "--probability", "0.5")
	if f := jsonList(t, sockctlOK(t, d, "fault", "ls", "echo", "-o", "json")); f[0]["probability"] != 0.5 {
		t.Fatalf("after fault set --probability 0.5: %v", f)
	}
	if got := lastLine(sockctlOK(t, d, "fault", "rm", "echo", "latency_downstream")); got != "latency_downstream" {
		t.Fatalf("fault rm printed %q", got)
	}
	if out := sockctlOK(t, d, "fault", "ls", "echo", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("faults after rm: %s", out)
	}
	// A relay's own fault, by the relay's id: this connection is cut after
	// 4 bytes from the server.
	sockctlOK(t, d, "fault", "add", rid, "limit_data", "--bytes", "4", "--name", "cut")
	if out := sockctlOK(t, d, "relay", "inspect", rid); !strings.Contains(out, "cut") {
		t.Fatalf("relay inspect lacks its fault:\n%s", out)
	}
	io.WriteString(held.c, "truncated\n")
	if got, _ := io.ReadAll(held.r); string(got) != "trun" {
		t.Fatalf("through a limit_data fault of 4 bytes: %q", got)
	}

	// Disabled: connect is refused; enabled: the same address again.
	if out := sockctlOK(t, d, "proxy", "disable", "echo"); !strings.Contains(out, "false") {
		t.Fatalf("proxy disable:\n%s", out)
	}
	if c, err := net.DialTimeout("tcp4", listen, 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("connect to a disabled proxy: %v, want ECONNREFUSED", err)
	}
	sockctlOK(t, d, "proxy", "enable", "echo")
	if got := dialLines(t, listen).ask(t, "again"); got != "again" {
		t.Fatalf("after enable: %q", got)
	}
	// A new upstream for new connections.
	sockctlOK(t, d, "proxy", "set", "echo", "--upstream", upper)
	if got := dialLines(t, listen).ask(t, "loud"); got != "LOUD" {
		t.Fatalf("after proxy set --upstream: %q", got)
	}
	if got := lastLine(sockctlOK(t, d, "proxy", "rm", "echo")); got != id {
		t.Fatalf("proxy rm printed %q, want %s", got, id)
	}
	sockctlFails(t, d, 15, []string{"PROXY_NOT_FOUND"}, "proxy", "inspect", "echo")
	if c, err := net.DialTimeout("tcp4", listen, 5*time.Second); err == nil {
		c.Close()
		t.Fatal("a deleted proxy accepted a connection")
	}
}

// A proxy created with faults from the start (--fault), over UDP: the
// upstream direction loses everything until the fault is removed.
func TestSockctlUDPProxyWithFault(t *testing.T) {
	d := startSockd(t)
	py := startPython(t, `
import socket
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.bind(("127.0.0.1", 0)); s.settimeout(60)
    print(s.getsockname()[1], flush=True)
    while True:
        data, addr = s.recvfrom(2048)
        s.sendto(data.upper(), addr)
`)
	upstream := "127.0.0.1:" + py.line(t)
	sockctlOK(t, d, "proxy", "create", "udp", "127.0.0.1:0", upstream, "--name", "dns", "--fault", "loss:percent=100,upstream")
	p := jsonOf(t, sockctlOK(t, d, "proxy", "inspect", "dns", "-o", "json"))
	faults, _ := p["faults"].([]any)
	if p["protocol"] != "PROTOCOL_UDP" || len(faults) != 1 || str(faults[0].(map[string]any), "name") != "loss_upstream" {
		t.Fatalf("proxy create udp --fault: %v", p)
	}
	c, err := net.Dial("udp4", str(p, "listenAddress"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ask := func(msg string) (string, error) {
		buf := make([]byte, 2048)
		for range 20 {
			c.Write([]byte(msg))
			c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if n, err := c.Read(buf); err == nil {
				return string(buf[:n]), nil
			}
		}
		return "", errors.New("no answer to 20 datagrams")
	}
	if got, err := ask("lost"); err == nil {
		t.Fatalf("through 100%% upstream loss an answer came: %q", got)
	}
	sockctlOK(t, d, "fault", "rm", "dns", "loss_upstream")
	if got, err := ask("found"); err != nil || got != "FOUND" {
		t.Fatalf("with the loss removed: %q %v", got, err)
	}
	if out := sockctlOK(t, d, "proxy", "inspect", "dns"); !strings.Contains(out, "Sessions:") {
		t.Fatalf("a UDP proxy's detail counts sessions:\n%s", out)
	}
}

// relay create joins two sockets that sockctl made: one accepted from a
// Python client, one connected to a Python server; relay rm leaves them
// open, --close-sockets closes them.
func TestSockctlRelayCommands(t *testing.T) {
	d := startSockd(t)
	upper := "127.0.0.1:" + startPython(t, pyMultiUpper).line(t)
	sockctlOK(t, d, "listen", "tcp", "127.0.0.1:0", "--name", "front")
	port := strings.TrimPrefix(jsonField(t, sockctlOK(t, d, "inspect", "front", "-o", "json"), "localAddress"), "127.0.0.1:")
	pyClient := `
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30) as s:
    f = s.makefile("rwb")
    f.write(b"through the relay\n"); f.flush()
    print(f.readline().decode().strip(), flush=True)
    sys.stdin.readline()
`
	client := startPython(t, pyClient, port)
	a := lastLine(sockctlOK(t, d, "accept", "front", "--timeout", "20s", "--name", "down"))
	b := lastLine(sockctlOK(t, d, "connect", "tcp", upper, "--name", "up"))
	r := lastLine(sockctlOK(t, d, "relay", "create", "down", "up", "--name", "r1"))
	if got := client.line(t); got != "THROUGH THE RELAY" {
		t.Fatalf("the client of the relay got %q", got)
	}
	rel := jsonOf(t, sockctlOK(t, d, "relay", "inspect", "r1", "-o", "json"))
	if str(rel, "id") != r || str(rel, "a") != a || str(rel, "b") != b {
		t.Fatalf("relay inspect: %v", rel)
	}
	if out := sockctlOK(t, d, "relay", "ls"); !strings.Contains(out, "r1") || !strings.Contains(out, a[:12]) {
		t.Fatalf("relay ls:\n%s", out)
	}
	if got := lastLine(sockctlOK(t, d, "fault", "add", "r1", "bandwidth", "--rate", "100KB/s")); got != "bandwidth_downstream" {
		t.Fatalf("fault add on a relay: %q", got)
	}
	f := jsonList(t, sockctlOK(t, d, "fault", "ls", "r1", "-o", "json"))
	if bw, _ := f[0]["bandwidth"].(map[string]any); bw["rate"] != "100000" {
		t.Fatalf("--rate 100KB/s: %v", f)
	}
	sockctlFails(t, d, 19, []string{"SOCKET_IN_USE"}, "relay", "create", "down", "up")
	if got := lastLine(sockctlOK(t, d, "relay", "rm", "r1")); got != r {
		t.Fatalf("relay rm printed %q", got)
	}
	sockctlOK(t, d, "inspect", "down", "up") // the sockets stay
	sockctlFails(t, d, 15, []string{"RELAY_NOT_FOUND"}, "relay", "inspect", "r1")
	sockctlOK(t, d, "relay", "create", "down", "up", "--name", "r2")
	sockctlOK(t, d, "relay", "rm", "r2", "--close-sockets")
	sockctlFails(t, d, 15, []string{"SOCKET_NOT_FOUND"}, "inspect", "down")
	stdinPipe(t, client)
	client.wait(t)
}

// Bad input gets a clear error and the documented exit code: 2 for what
// sockctl can tell before asking (an unknown type, a parameter of another
// type, bad units), sockd's code for the rest (10 + the gRPC code).
func TestSockctlFaultErrors(t *testing.T) {
	d := startSockd(t)
	echo := "127.0.0.1:" + startPython(t, pyMultiEcho).line(t)
	sockctlOK(t, d, "proxy", "create", "tcp", "127.0.0.1:0", echo, "--name", "p")
	sockctlOK(t, d, "fault", "add", "p", "slow_close", "--delay", "10ms")
	for _, tc := range []struct {
		code int
		want []string
		args []string
	}{
		{2, []string{`unknown fault type "jitterbug"`, "latency, bandwidth", "--help"}, []string{"fault", "add", "p", "jitterbug"}},
		{2, []string{"--rate is not a parameter of latency", "--latency, --jitter"}, []string{"fault", "add", "p", "latency", "--rate", "1KB"}},
		{2, []string{`--bytes "4XB"`, "number of bytes"}, []string{"fault", "add", "p", "limit_data", "--bytes", "4XB"}},
		{2, []string{`--rate "fast"`, "bytes per second"}, []string{"fault", "add", "p", "bandwidth", "--rate", "fast"}},
		{2, []string{`--latency "soon"`, "duration"}, []string{"fault", "add", "p", "latency", "--latency", "soon"}},
		{2, []string{"--probability", "from 0 to 1"}, []string{"fault", "add", "p", "latency", "--probability", "1.5"}},
		{2, []string{"not both"}, []string{"fault", "add", "p", "latency", "--upstream", "--downstream"}},
		{2, []string{"set what?"}, []string{"fault", "set", "p", "slow_close_downstream"}},
		{2, []string{"--fault", "unknown fault type"}, []string{"proxy", "create", "tcp", "127.0.0.1:0", echo, "--fault", "lag:latency=1s"}},
		{2, []string{"unknown protocol sctp"}, []string{"proxy", "create", "sctp", "127.0.0.1:0", echo}},
		{15, []string{`no proxy or relay "nosuch"`, "NOT_FOUND"}, []string{"fault", "add", "nosuch", "latency"}},
		{15, []string{"FAULT_NOT_FOUND"}, []string{"fault", "rm", "p", "nosuch"}},
		{15, []string{"FAULT_NOT_FOUND"}, []string{"fault", "set", "p", "nosuch", "--probability", "0.1"}},
		{16, []string{"FAULT_EXISTS"}, []string{"fault", "add", "p", "slow_close"}},
		{13, []string{"loss does not apply to tcp", "INVALID_ARGUMENT"}, []string{"fault", "add", "p", "loss", "--percent", "10"}},
		{15, []string{"PROXY_NOT_FOUND"}, []string{"proxy", "rm", "nosuch"}},
		{17, []string{"POLICY_DENIED"}, []string{"proxy", "create", "tcp", "127.0.0.1:80", echo}},
	} {
		sockctlFails(t, d, tc.code, tc.want, tc.args...)
	}
	// fault set on a slow_close fault: --latency is not one of its.
	sockctlFails(t, d, 2, []string{"--latency is not a parameter of slow_close", "theirs: --delay"}, "fault", "set", "p", "slow_close_downstream", "--latency", "1s")
}

// Another principal's proxies and relays do not exist for you: NOT_FOUND
// (15), as another's sockets are.
func TestSockctlAnotherPrincipalsProxy(t *testing.T) {
	d := startSockd(t, "--token-file", writeTokens(t, aliceToken+" alice", bobToken+" bob"))
	echo := "127.0.0.1:" + startPython(t, pyMultiEcho).line(t)
	alice := func(args ...string) []string { return append([]string{"--token", aliceToken}, args...) }
	bob := func(args ...string) []string { return append([]string{"--token", bobToken}, args...) }
	id := lastLine(sockctlOK(t, d, alice("proxy", "create", "tcp", "127.0.0.1:0", echo, "--name", "mine", "--capture")...))
	sockctlOK(t, d, alice("fault", "add", "mine", "latency", "--latency", "1ms")...)
	for _, args := range [][]string{
		{"proxy", "inspect", id}, {"proxy", "rm", id}, {"proxy", "disable", "mine"},
		{"fault", "ls", id}, {"fault", "rm", id, "latency_downstream"},
	} {
		sockctlFails(t, d, 15, []string{"NOT_FOUND"}, bob(args...)...)
	}
	sockctlFails(t, d, 15, []string{`no proxy or relay "` + id + `"`}, bob("fault", "add", id, "latency")...)
	if out := sockctlOK(t, d, bob("proxy", "ls", "-o", "json")...); strings.TrimSpace(out) != "[]" {
		t.Fatalf("bob sees proxies: %s", out)
	}
	if out := sockctlOK(t, d, alice("proxy", "ls")...); !strings.Contains(out, "mine") {
		t.Fatalf("alice's proxy ls:\n%s", out)
	}
	sockctlFails(t, d, 26, []string{"UNAUTHENTICATED"}, "proxy", "ls")
}

// Completion asks the daemon: proxies and relays for TARGET, the types that
// apply to the target's protocol, the target's fault names.
func TestSockctlProxyCompletion(t *testing.T) {
	d := startSockd(t)
	echo := "127.0.0.1:" + startPython(t, pyMultiEcho).line(t)
	id := lastLine(sockctlOK(t, d, "proxy", "create", "tcp", "127.0.0.1:0", echo, "--name", "web"))
	sockctlOK(t, d, "fault", "add", "web", "latency", "--latency", "1ms")
	for _, tc := range []struct {
		args      []string
		want, not []string
	}{
		{[]string{"proxy", "inspect", ""}, []string{id, "web\t"}, nil},
		{[]string{"fault", "add", "w"}, []string{"web\t"}, nil},
		{[]string{"fault", "add", "web", ""}, []string{"latency\t", "reset_peer\t"}, []string{"loss"}},
		{[]string{"fault", "rm", "web", ""}, []string{"latency_downstream\t"}, nil},
		{[]string{"proxy", "create", ""}, []string{"tcp", "udp"}, nil},
		{[]string{"replay", "x.pcap", "--side", ""}, []string{"client", "server"}, nil},
	} {
		out := sockctlOK(t, d, append([]string{"__complete"}, tc.args...)...)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("completion of %v lacks %q:\n%s", tc.args, w, out)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(out, w) {
				t.Errorf("completion of %v offers %q:\n%s", tc.args, w, out)
			}
		}
	}
}
