package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// pyMultiEcho is an echo server for many connections: prints its port,
// echoes every connection until the script is killed.
const pyMultiEcho = `
import socket, threading
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
print(s.getsockname()[1], flush=True)
def serve(c):
    with c:
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`

// rtt is one round trip of a small message through addr, on a new
// connection, as a Go peer measures it.
func rtt(t *testing.T, addr string) time.Duration {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("echo through %s: %q, %v", addr, line, err)
	}
	return time.Since(start)
}

// A TCP proxy made and driven over REST: traffic flows through it to a
// real echo server; a latency fault adds its delay to the round trip, one
// with probability 0 does not apply; disabling refuses connections,
// enabling takes them again; its sockets are listed with proxy_id; events
// and metrics say what happened; deleting it closes its listener.
func TestProxyOverRESTWithFaults(t *testing.T) {
	d := startSockd(t)
	echo := startPython(t, pyMultiEcho)
	upstream := "127.0.0.1:" + echo.line(t)

	code, p := curl(t, d, "POST", "/v1/proxies", map[string]any{"name": "echo", "listenAddress": "127.0.0.1:0", "upstreamAddress": upstream})
	if code != 200 || p["enabled"] != true || str(p, "listenerId") == "" {
		t.Fatalf("create proxy: %d %v", code, p)
	}
	listen := str(p, "listenAddress")
	if base := rtt(t, listen); base > 80*time.Millisecond {
		t.Logf("a round trip without faults took %v (a loaded machine)", base)
	}
	code, f := curl(t, d, "POST", "/v1/proxies/echo/faults", map[string]any{"type": "FAULT_TYPE_LATENCY", "latency": map[string]any{"latency": "0.15s"}})
	if code != 200 || str(f, "name") != "latency_downstream" || str(f, "direction") != "DIRECTION_DOWNSTREAM" {
		t.Fatalf("add fault: %d %v", code, f)
	}
	if got := rtt(t, listen); got < 150*time.Millisecond {
		t.Fatalf("with 150 ms of latency a round trip took %v", got)
	}
	// Never applied: probability 0 on the upstream direction.
	code, _ = curl(t, d, "POST", "/v1/proxies/echo/faults", map[string]any{"name": "never", "type": "FAULT_TYPE_LATENCY", "direction": "DIRECTION_UPSTREAM", "probability": 0, "latency": map[string]any{"latency": "5s"}})
	if code != 200 {
		t.Fatalf("add a fault of probability 0: %d", code)
	}
	if got := rtt(t, listen); got > 4*time.Second {
		t.Fatalf("a fault of probability 0 applied: %v", got)
	}
	// Update the live fault to 0 latency, remove the other: fast again.
	code, _ = curl(t, d, "PATCH", "/v1/proxies/echo/faults/latency_downstream", map[string]any{"latency": map[string]any{"latency": "0s"}})
	if code != 200 {
		t.Fatalf("update fault: %d", code)
	}
	if code, _ := curl(t, d, "DELETE", "/v1/proxies/echo/faults/never", nil); code != 200 {
		t.Fatalf("remove fault: %d", code)
	}
	_, list := curl(t, d, "GET", "/v1/proxies/echo/faults", nil)
	if faults, _ := list["faults"].([]any); len(faults) != 1 {
		t.Fatalf("faults after remove: %v", list)
	}
	// Its sockets are ordinary sockets, with their proxy.
	_, socks := curl(t, d, "GET", "/v1/sockets", nil)
	var mine int
	for _, s := range socks["sockets"].([]any) {
		if s.(map[string]any)["proxyId"] == str(p, "id") {
			mine++
		}
	}
	if mine < 1 {
		t.Fatalf("no socket lists the proxy: %v", socks)
	}
	// Disabled: connect is refused; enabled: it works again.
	if code, u := curl(t, d, "PATCH", "/v1/proxies/echo", map[string]any{"enabled": false}); code != 200 || u["enabled"] == true {
		t.Fatalf("disable: %d %v", code, u)
	}
	if c, err := net.DialTimeout("tcp", listen, 2*time.Second); err == nil {
		c.Close()
		t.Fatal("a disabled proxy accepted a connection")
	}
	if code, _ := curl(t, d, "PATCH", "/v1/proxies/echo", map[string]any{"enabled": true}); code != 200 {
		t.Fatalf("enable: %d", code)
	}
	rtt(t, listen)
	// An update naming a field that cannot change is refused.
	if code, body := curl(t, d, "PATCH", "/v1/proxies/echo", map[string]any{"name": "other"}); code != 400 || errorReason(body) != "INVALID_ARGUMENT" {
		t.Fatalf("update of name: %d %v", code, body)
	}
	// Metrics and events.
	resp, err := http.Get("http://" + d.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics := readAll(t, resp)
	for _, want := range []string{`sockd_proxies 1`, `sockd_faults_applied_total{type="latency"}`, `sockd_relay_bytes_total{direction="upstream"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	events := eventKinds(t, d)
	for _, want := range []string{"EVENT_KIND_PROXY_CREATED", "EVENT_KIND_FAULT_ADDED", "EVENT_KIND_FAULT_UPDATED", "EVENT_KIND_FAULT_REMOVED", "EVENT_KIND_PROXY_UPDATED", "EVENT_KIND_RELAY_CREATED"} {
		if !events[want] {
			t.Errorf("no %s event (saw %v)", want, events)
		}
	}
	// Deleted: the listener is gone.
	if code, _ := curl(t, d, "DELETE", "/v1/proxies/echo", nil); code != 200 {
		t.Fatalf("delete: %d", code)
	}
	if c, err := net.DialTimeout("tcp", listen, 2*time.Second); err == nil {
		c.Close()
		t.Fatal("a deleted proxy accepted a connection")
	}
	if code, body := curl(t, d, "GET", "/v1/proxies/echo", nil); code != 404 || errorReason(body) != "PROXY_NOT_FOUND" {
		t.Fatalf("get a deleted proxy: %d %v", code, body)
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return b.String()
}

// eventKinds are the kinds of every event the feed kept.
func eventKinds(t *testing.T, d *daemon) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := d.client(t).WatchEvents(ctx, &sockdv1.WatchEventsRequest{Since: new(uint64(0))})
	if err != nil {
		t.Fatal(err)
	}
	last := d.lastSeq(t)
	kinds := map[string]bool{}
	for {
		ev, err := st.Recv()
		if err != nil {
			t.Fatalf("events: %v", err)
		}
		kinds[ev.GetKind().String()] = true
		if ev.GetSeq() >= last {
			return kinds
		}
	}
}

// lastSeq is the feed's newest sequence number, from /metrics.
func (d *daemon) lastSeq(t *testing.T) uint64 {
	t.Helper()
	resp, err := http.Get("http://" + d.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(readAll(t, resp), "\n") {
		if strings.HasPrefix(line, "sockd_events_published_total ") {
			f, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return uint64(f)
		}
	}
	t.Fatal("no sockd_events_published_total")
	return 0
}

// Proxies, relays and faults belong to their creator: another principal
// finds nothing, in every RPC.
func TestProxyOwnership(t *testing.T) {
	d := startSockd(t, "--token-file", writeTokens(t, aliceToken+" alice", bobToken+" bob"))
	echo := startPython(t, pyMultiEcho)
	upstream := "127.0.0.1:" + echo.line(t)
	alice, bob := "Authorization: Bearer "+aliceToken, "Authorization: Bearer "+bobToken
	code, p := curl(t, d, "POST", "/v1/proxies", map[string]any{"name": "mine", "listenAddress": "127.0.0.1:0", "upstreamAddress": upstream}, alice)
	if code != 200 {
		t.Fatalf("create: %d %v", code, p)
	}
	id := str(p, "id")
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/proxies/" + id, nil},
		{"GET", "/v1/proxies/mine", nil},
		{"PATCH", "/v1/proxies/" + id, map[string]any{"enabled": false}},
		{"DELETE", "/v1/proxies/" + id, nil},
		{"POST", "/v1/proxies/" + id + "/faults", map[string]any{"type": "FAULT_TYPE_TIMEOUT"}},
		{"GET", "/v1/proxies/" + id + "/faults", nil},
		{"GET", "/v1/relays?proxyId=" + id, nil},
	} {
		code, body := curl(t, d, tc.method, tc.path, tc.body, bob)
		if code != 404 || errorReason(body) != "PROXY_NOT_FOUND" {
			t.Errorf("bob %s %s: %d %v, want 404 PROXY_NOT_FOUND", tc.method, tc.path, code, body)
		}
	}
	if _, list := curl(t, d, "GET", "/v1/proxies", nil, bob); len(list["proxies"].([]any)) != 0 {
		t.Errorf("bob lists alice's proxy: %v", list)
	}
	if code, _ := curl(t, d, "GET", "/v1/proxies/"+id, nil); code != 401 {
		t.Errorf("no token: %d", code)
	}
	rtt(t, str(p, "listenAddress")) // bob changed nothing
}

// The listen address passes the bind policy and the upstream the connect
// policy (in a namespace of the test's own, where nothing may leave).
func TestProxyPolicy(t *testing.T) {
	if !inNetns(t, "127.0.0.1 localhost\n169.254.169.254 metadata.test\n") {
		return
	}
	d := startSockd(t)
	before := quietTxPackets(t, "v0")
	for _, tc := range []struct {
		listen, upstream string
		code             int
		reason           string
	}{
		{"0.0.0.0:0", "127.0.0.1:9", 403, "POLICY_DENIED"},
		{"127.0.0.1:80", "127.0.0.1:9", 403, "POLICY_DENIED"},
		{"127.0.0.1:0", "169.254.169.254:80", 403, "POLICY_DENIED"},
		{"127.0.0.1:0", "metadata.test:80", 403, "POLICY_DENIED"},
		{"127.0.0.1:0", "10.0.0.7:80", 403, "POLICY_DENIED"},
		{"127.0.0.1:0", "127.1:80", 400, "INVALID_ADDRESS"},
	} {
		code, body := curl(t, d, "POST", "/v1/proxies", map[string]any{"listenAddress": tc.listen, "upstreamAddress": tc.upstream})
		if code != tc.code || errorReason(body) != tc.reason {
			t.Errorf("proxy %s → %s: %d %v, want %d %s", tc.listen, tc.upstream, code, body, tc.code, tc.reason)
		}
	}
	// Changed to a denied upstream: refused too.
	_, p := curl(t, d, "POST", "/v1/proxies", map[string]any{"name": "p", "listenAddress": "127.0.0.1:0", "upstreamAddress": "127.0.0.1:9"})
	if code, body := curl(t, d, "PATCH", "/v1/proxies/p", map[string]any{"upstreamAddress": "169.254.169.254:80"}); code != 403 || errorReason(body) != "POLICY_DENIED" {
		t.Errorf("update to a denied upstream: %d %v", code, body)
	}
	_ = p
	if after := txPackets(t, "v0"); after != before {
		t.Fatalf("%d packets left through v0", after-before)
	}
}

// A relay of two sockd sockets passes half-close through: the side that
// finished sending gets its EOF across while the other direction still
// flows. Made over gRPC.
func TestRelayPassesHalfClose(t *testing.T) {
	d := startSockd(t)
	c := d.client(t)
	pc := d.proxyClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Two Go peers, each connected to a sockd socket.
	peer := func() (net.Conn, *sockdv1.Socket) {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		s, err := c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{ConnectAddress: l.Addr().String()})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn, s
	}
	client, a := peer()
	server, b := peer()
	r, err := pc.CreateRelay(ctx, &sockdv1.CreateRelayRequest{A: a.GetId(), B: b.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if r.GetUpstreamPath() != "splice" || r.GetDownstreamPath() != "splice" {
		t.Errorf("a relay with no fault moves by %s/%s, want splice", r.GetUpstreamPath(), r.GetDownstreamPath())
	}
	client.Write([]byte("request"))
	client.(*net.TCPConn).CloseWrite()
	buf := make([]byte, 64)
	server.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _ := server.Read(buf)
	if string(buf[:n]) != "request" {
		t.Fatalf("server got %q", buf[:n])
	}
	if n, err := server.Read(buf); n != 0 || err == nil {
		t.Fatalf("server did not see EOF: %d %v", n, err)
	}
	// The other way still flows after the half-close.
	server.Write([]byte("answer"))
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _ = client.Read(buf)
	if string(buf[:n]) != "answer" {
		t.Fatalf("client got %q after its half-close", buf[:n])
	}
	// The relay's sockets carry its id; another relay of them is refused.
	got, _ := c.GetSocket(ctx, &sockdv1.GetSocketRequest{Id: a.GetId()})
	if got.GetRelayId() != r.GetId() {
		t.Errorf("socket relay_id %q, want %q", got.GetRelayId(), r.GetId())
	}
	_, err = pc.CreateRelay(ctx, &sockdv1.CreateRelayRequest{A: a.GetId(), B: b.GetId()})
	wantStatus(t, err, codes.FailedPrecondition, "SOCKET_IN_USE")
	if _, err := pc.DeleteRelay(ctx, &sockdv1.DeleteRelayRequest{Id: r.GetId()}); err != nil {
		t.Fatal(err)
	}
	_, err = pc.GetRelay(ctx, &sockdv1.GetRelayRequest{Id: r.GetId()})
	wantStatus(t, err, codes.NotFound, "RELAY_NOT_FOUND")
}

// A UDP proxy: one session per client address, the answer comes back to
// each client; LOSS 100 drops every datagram.
func TestUDPProxy(t *testing.T) {
	d := startSockd(t)
	echo := startPython(t, pyUDPEchoServer, "1000")
	code, p := curl(t, d, "POST", "/v1/proxies", map[string]any{"protocol": "PROTOCOL_UDP", "listenAddress": "127.0.0.1:0", "upstreamAddress": "127.0.0.1:" + echo.line(t)})
	if code != 200 {
		t.Fatalf("create: %d %v", code, p)
	}
	listen := str(p, "listenAddress")
	ask := func(msg string) (string, error) {
		c, err := net.Dial("udp", listen)
		if err != nil {
			return "", err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		c.Write([]byte(msg))
		buf := make([]byte, 100)
		n, err := c.Read(buf)
		return string(buf[:n]), err
	}
	for i := range 3 {
		if got, err := ask(fmt.Sprintf("hello %d", i)); err != nil || got != fmt.Sprintf("HELLO %d", i) {
			t.Fatalf("client %d: %q %v", i, got, err)
		}
	}
	_, info := curl(t, d, "GET", "/v1/proxies/"+str(p, "id"), nil)
	if info["connections"] != 3.0 {
		t.Errorf("sessions: %v, want 3 (one per client address)", info["connections"])
	}
	curl(t, d, "POST", "/v1/proxies/"+str(p, "id")+"/faults", map[string]any{"type": "FAULT_TYPE_LOSS", "direction": "DIRECTION_UPSTREAM", "loss": map[string]any{"percent": 100}})
	if got, err := ask("lost"); err == nil {
		t.Fatalf("with 100%% loss an answer came: %q", got)
	}
}

// proxyClient is a ProxyService client on the daemon's gRPC port.
func (d *daemon) proxyClient(t *testing.T) sockdv1.ProxyServiceClient {
	t.Helper()
	conn := d.conn(t)
	return sockdv1.NewProxyServiceClient(conn)
}
