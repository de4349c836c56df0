package e2e

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc/codes"

	"github.com/sockd/sockd/client"
)

// scrape fetches /metrics with curl and parses it with Prometheus' own text
// parser.
func scrape(t *testing.T, d *daemon, headers ...string) map[string]*dto.MetricFamily {
	t.Helper()
	args := []string{"-sSf", "--max-time", "30"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	r := run(t, nil, "curl", append(args, "http://"+d.HTTP+"/metrics")...)
	if r.code != 0 {
		t.Fatalf("curl /metrics: exit %d: %s", r.code, r.stderr)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(r.stdout))
	if err != nil {
		t.Fatalf("/metrics is not valid Prometheus text: %v", err)
	}
	return families
}

// value is the value of the series of family name with exactly these
// labels (the family's other labels may be anything); several matching
// series are summed. A family that is missing fails the test.
func value(t *testing.T, families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f, ok := families[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	sum := 0.0
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		match := true
		for k, v := range want {
			if got[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum
}

// After a scripted flow — a TCP exchange with a Python peer, a UDP one, a
// socket under a lease that is revoked, a refused connect and a lookup of
// an unknown id — /metrics shows exactly what happened.
func TestMetricsCountAScriptedFlow(t *testing.T) {
	d := startSockd(t)
	c := dialClient(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// TCP: a listener, a Python client that sends "hello" and reads "world!".
	l, err := c.Create(ctx, client.CreateOptions{Bind: "127.0.0.1:0", Listen: true})
	if err != nil {
		t.Fatal(err)
	}
	py := startPython(t, `
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(b"hello")
got = b""
while len(got) < 6:
    got += s.recv(6 - len(got))
print(got.decode())
s.close()
`, portOf(t, l.GetLocalAddress()))
	a, err := c.Accept(ctx, l.GetId(), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if data, _, err := c.Recv(ctx, a.GetId(), client.RecvOptions{MaxBytes: 5, WaitAll: true}); err != nil || string(data) != "hello" {
		t.Fatalf("recv: %q, %v", data, err)
	}
	if _, err := c.Send(ctx, a.GetId(), []byte("world!"), true, nil); err != nil {
		t.Fatal(err)
	}
	if got := py.line(t); got != "world!" {
		t.Fatalf("python got %q", got)
	}
	for _, id := range []string{a.GetId(), l.GetId()} {
		if _, err := c.CloseSocket(ctx, id); err != nil {
			t.Fatal(err)
		}
	}

	// UDP: Python sends "ping", sockd answers "pong!".
	u, err := c.Create(ctx, client.CreateOptions{UDP: true, Bind: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	pyu := startPython(t, `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(30)
s.sendto(b"ping", ("127.0.0.1", int(sys.argv[1])))
data, _ = s.recvfrom(100)
print(data.decode())
`, portOf(t, u.GetLocalAddress()))
	data, from, _, err := c.RecvFrom(ctx, u.GetId(), client.RecvOptions{MaxBytes: 100})
	if err != nil || string(data) != "ping" {
		t.Fatalf("recvfrom: %q, %v", data, err)
	}
	if _, err := c.SendTo(ctx, u.GetId(), from, []byte("pong!"), nil); err != nil {
		t.Fatal(err)
	}
	if got := pyu.line(t); got != "pong!" {
		t.Fatalf("python got %q", got)
	}
	if _, err := c.CloseSocket(ctx, u.GetId()); err != nil {
		t.Fatal(err)
	}

	// A socket under a lease, closed by revoking the lease.
	lease, err := c.CreateLease(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, client.CreateOptions{UDP: true, LeaseID: lease.GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RevokeLease(ctx, lease.GetId()); err != nil {
		t.Fatal(err)
	}

	// A refused connect (the step fails, the new socket is closed) and an
	// unknown id.
	_, err = c.Create(ctx, client.CreateOptions{Connect: closedPort(t)})
	wantReason(t, err, codes.Unavailable, "ECONNREFUSED")
	_, err = c.Get(ctx, "aaaaaaaaaaaaaaaaaaaaaaaa")
	wantReason(t, err, codes.NotFound, "SOCKET_NOT_FOUND")

	m := scrape(t, d)
	for _, w := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"sockd_sockets_created_total", []string{"protocol", "tcp"}, 3},
		{"sockd_sockets_created_total", []string{"protocol", "udp"}, 2},
		{"sockd_sockets_closed_total", []string{"reason", "client"}, 4},
		{"sockd_sockets_closed_total", []string{"reason", "lease"}, 1},
		{"sockd_sockets_closed_total", []string{"reason", "idle"}, 0},
		{"sockd_sockets_open", nil, 0},
		{"sockd_bytes_received_total", []string{"protocol", "tcp"}, 5},
		{"sockd_bytes_sent_total", []string{"protocol", "tcp"}, 6},
		{"sockd_bytes_received_total", []string{"protocol", "udp"}, 4},
		{"sockd_bytes_sent_total", []string{"protocol", "udp"}, 5},
		{"sockd_datagrams_received_total", nil, 1},
		{"sockd_datagrams_sent_total", nil, 1},
		{"sockd_accepted_connections_total", nil, 1},
		{"sockd_leases", nil, 0},
		{"sockd_event_subscribers", nil, 0},
		{"sockd_errors_total", []string{"reason", "ECONNREFUSED"}, 1},
		{"sockd_errors_total", []string{"reason", "SOCKET_NOT_FOUND"}, 1},
		{"sockd_errors_total", nil, 2},
		{"grpc_server_handled_total", []string{"grpc_method", "CreateSocket", "grpc_code", "OK"}, 3},
		{"grpc_server_handled_total", []string{"grpc_method", "CreateSocket", "grpc_code", "Unavailable"}, 1},
		{"grpc_server_handled_total", []string{"grpc_method", "Accept", "grpc_code", "OK"}, 1},
		{"grpc_server_handled_total", []string{"grpc_method", "CloseSocket", "grpc_code", "OK"}, 3},
		{"grpc_server_handled_total", []string{"grpc_method", "GetSocket", "grpc_code", "NotFound"}, 1},
		{"grpc_server_handled_total", []string{"grpc_method", "RevokeLease", "grpc_code", "OK"}, 1},
		{"grpc_server_handling_seconds", []string{"grpc_method", "Recv"}, 1},
		{"grpc_server_handling_seconds", []string{"grpc_method", "Send"}, 1},
	} {
		if got := value(t, m, w.name, w.labels...); got != w.want {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.want)
		}
	}
	// Every event of the flow: the listener's created, bound, listening and
	// closed; the accepted socket's accepted and closed; the UDP socket's
	// created, bound and closed; the leased one's created and closed; the
	// refused one's created, error and closed.
	if got := value(t, m, "sockd_events_published_total"); got != 14 {
		t.Errorf("sockd_events_published_total = %v, want 14", got)
	}

	// Bounded labels: sockd's and gRPC's series never carry an id, an
	// address or a principal.
	allowed := map[string]bool{"protocol": true, "state": true, "reason": true, "le": true,
		"direction": true, "type": true, // relay directions and fault types
		"grpc_code": true, "grpc_method": true, "grpc_service": true, "grpc_type": true}
	for name, f := range m {
		if !strings.HasPrefix(name, "sockd_") && !strings.HasPrefix(name, "grpc_") {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, lp := range s.GetLabel() {
				if !allowed[lp.GetName()] {
					t.Errorf("%s has label %s=%q: labels must have bounded values", name, lp.GetName(), lp.GetValue())
				}
				if strings.Contains(lp.GetValue(), l.GetId()) || strings.Contains(lp.GetValue(), "127.0.0.1") {
					t.Errorf("%s{%s=%q} names a socket or an address", name, lp.GetName(), lp.GetValue())
				}
			}
		}
	}
}

// With tokens configured /metrics needs one too; the live view page does
// not (it holds no data: what it shows comes from the API, with the token).
func TestMetricsNeedTheTokenWhenTokensAreConfigured(t *testing.T) {
	d := startSockd(t, "--token-file", writeTokens(t, "metrics-test-token-0123 alice"))
	code, body := curl(t, d, "GET", "/metrics", nil)
	if code != 401 || errorReason(body) != "UNAUTHENTICATED" {
		t.Fatalf("/metrics without a token: %d %v", code, body)
	}
	m := scrape(t, d, "Authorization: Bearer metrics-test-token-0123")
	if _, ok := m["sockd_sockets_open"]; !ok {
		t.Fatal("no sockd_sockets_open with the token")
	}
	r := run(t, nil, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{content_type}", "http://"+d.HTTP+"/")
	if !strings.HasPrefix(r.stdout, "200 text/html") {
		t.Fatalf("GET / without a token: %s", r.stdout)
	}
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// closedPort is a loopback address where nothing listens.
func closedPort(t *testing.T) string { return "127.0.0.1:" + freePort(t) }
