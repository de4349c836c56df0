package e2e

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/client"
)

// One-shot `sockctl listen udp ADDR` creates and binds a UDP socket, as
// nc -u -l does, and prints its id; recvfrom on it gets a Python sender's
// datagram, the bytes on stdout and the source on stderr.
func TestSockctlListenUDP(t *testing.T) {
	d := startSockd(t)
	id := lastLine(sockctlOK(t, d, "listen", "udp", "127.0.0.1:0", "--name", "udp-in"))
	info := sockctlOK(t, d, "inspect", id, "-o", "json")
	if jsonField(t, info, "state") != "STATE_BOUND" || jsonField(t, info, "protocol") != "PROTOCOL_UDP" {
		t.Fatalf("listen udp made: %s", info)
	}
	port := strings.TrimPrefix(jsonField(t, info, "localAddress"), "127.0.0.1:")
	py := startPython(t, `
import socket, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1], flush=True)
    s.sendto(b"datagram from python", ("127.0.0.1", int(sys.argv[1])))
`, port)
	from := py.line(t)
	r := sockctl(t, d, nil, "recvfrom", "udp-in", "--timeout", "20s")
	if r.code != 0 || r.stdout != "datagram from python" || strings.TrimSpace(r.stderr) != "127.0.0.1:"+from {
		t.Fatalf("recvfrom: %+v", r)
	}
	py.wait(t)
}

// `sockctl version`: the client's and the server's versions and the
// server's limits, in a table and as JSON, from a sockd whose limit was set.
func TestSockctlVersion(t *testing.T) {
	d := startSockd(t, "--max-call-bytes", "16777216")
	out := sockctlOK(t, d, "version")
	for _, want := range []string{"Client Version: ", "Server Version: ", "bytes per call:", "16777216 (16.0MiB)", "retained stream bytes:", "Server Policy:"} {
		if !strings.Contains(out, want) {
			t.Errorf("sockctl version lacks %q:\n%s", want, out)
		}
	}
	var v struct {
		ClientVersion struct{ Version, GoVersion string }
		ServerInfo    struct {
			Version string
			Limits  struct{ MaxCallBytes string }
		}
	}
	if err := json.Unmarshal([]byte(sockctlOK(t, d, "version", "-o", "json")), &v); err != nil {
		t.Fatal(err)
	}
	if v.ClientVersion.Version == "" || !strings.HasPrefix(v.ClientVersion.GoVersion, "go") || v.ServerInfo.Version == "" || v.ServerInfo.Limits.MaxCallBytes != "16777216" {
		t.Fatalf("version -o json: %+v", v)
	}
	// Without a sockd: the client's version, then the error.
	r := run(t, nil, "sockctl", "--addr", "127.0.0.1:"+freePort(t), "version")
	if r.code != 24 || !strings.Contains(r.stdout, "Client Version: ") || !strings.Contains(r.stderr, "(UNAVAILABLE)") {
		t.Fatalf("version without sockd: %+v", r)
	}
}

// The client sizes its messages by the server's limits: a 12 MiB Send goes
// through to a sockd started with --max-call-bytes 16777216.
func TestClientLargeSendFollowsServerInfo(t *testing.T) {
	const n = 12 << 20
	d := startSockd(t, "--max-call-bytes", "16777216")
	c := dialClient(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	peer, addr := localPeer(t)
	sock, err := c.Create(ctx, client.CreateOptions{Connect: addr})
	if err != nil {
		t.Fatal(err)
	}
	_, data := seededFile(t, n, 41)
	if sent, err := c.Send(ctx, sock.GetId(), data, true, nil); err != nil || sent != n {
		t.Fatalf("Send of 12 MiB: %d, %v", sent, err)
	}
	c.Shutdown(ctx, sock.GetId(), 2)
	if got := <-peer; len(got) != n {
		t.Fatalf("the peer received %d of %d bytes", len(got), n)
	}
}

// Leases from sockctl: create, get, ls (every page), revoke.
func TestSockctlLeaseGetAndLs(t *testing.T) {
	d := startSockd(t)
	l := lastLine(sockctlOK(t, d, "lease", "create", "--ttl", "1m"))
	sockctlOK(t, d, "create", "tcp", "--lease", l)
	get := sockctlOK(t, d, "lease", "get", l)
	if !strings.Contains(get, "ID") || !strings.Contains(get, l) || !strings.Contains(get, "1m0s") {
		t.Fatalf("lease get:\n%s", get)
	}
	if got := jsonField(t, sockctlOK(t, d, "lease", "get", l, "-o", "json"), "socketCount"); got != "1" {
		t.Fatalf("lease get -o json: socketCount %s", got)
	}
	other := lastLine(sockctlOK(t, d, "lease", "create", "--ttl", "30s"))
	ls := sockctlOK(t, d, "lease", "ls")
	if !strings.Contains(ls, l) || !strings.Contains(ls, other) {
		t.Fatalf("lease ls:\n%s", ls)
	}
	var leases []map[string]any
	if err := json.Unmarshal([]byte(sockctlOK(t, d, "lease", "ls", "-o", "json")), &leases); err != nil || len(leases) != 2 {
		t.Fatalf("lease ls -o json: %v, %v", leases, err)
	}
	if r := sockctl(t, d, nil, "lease", "get", "nosuchlease"); r.code != 15 || !strings.Contains(r.stderr, "(LEASE_NOT_FOUND)") {
		t.Fatalf("lease get of a lease that is not: %+v", r)
	}
	sockctlOK(t, d, "lease", "revoke", l)
}

// Option names pass to sockd as typed (socket(7) names and unique suffixes,
// unicast_hops and tclass included), and completion offers the names sockd
// lists in ServerInfo.
func TestSockctlOptionNamesAsTyped(t *testing.T) {
	d := startSockd(t)
	v6 := lastLine(sockctlOK(t, d, "create", "tcp", "--ipv6"))
	for opt, val := range map[string]string{"unicast_hops": "7", "tclass": "32", "IPV6_UNICAST_HOPS": "9", "reuseaddr": "1", "nodelay": "1"} {
		if got := strings.TrimSpace(sockctlOK(t, d, "setopt", v6, opt, val)); got != val {
			t.Errorf("setopt %s %s printed %s", opt, val, got)
		}
		if got := strings.TrimSpace(sockctlOK(t, d, "getopt", v6, opt)); got != val {
			t.Errorf("getopt %s = %s, want %s", opt, got, val)
		}
	}
	if o := sockctlOK(t, d, "setopt", v6, "nodelay", "1", "-o", "json"); jsonField(t, o, "option") != "TCP_NODELAY" {
		t.Errorf("setopt nodelay -o json names %s", o)
	}
	if r := sockctl(t, d, nil, "setopt", v6, "no_such_option", "1"); r.code != 13 || !strings.Contains(r.stderr, "(INVALID_OPTION)") {
		t.Errorf("an unknown option: %+v", r)
	}
	out := sockctlOK(t, d, "__complete", "setopt", v6, "")
	for _, want := range []string{"SO_REUSEADDR", "TCP_NODELAY", "IPV6_UNICAST_HOPS"} {
		if !strings.Contains(out, want) {
			t.Errorf("completion of option names lacks %s:\n%s", want, out)
		}
	}
	if out := sockctlOK(t, d, "__complete", "getopt", v6, "reuse"); !strings.Contains(out, "reuseaddr") {
		t.Errorf("completion of reuse:\n%s", out)
	}
	if out := sockctlOK(t, d, "__complete", "shutdown", v6, ""); !strings.Contains(out, "write") {
		t.Errorf("completion of shutdown's direction:\n%s", out)
	}
}

// sockctl ls follows next_page_token to the last page: 2,500 sockets, all
// listed once.
func TestSockctlLsEveryPage(t *testing.T) {
	const n = 2500
	d := startSockd(t, "--max-sockets-per-principal", "5000")
	c := dialClient(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range n {
		if _, err := c.Create(ctx, client.CreateOptions{UDP: true, Labels: map[string]string{"page": "test"}, Name: "s" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	var socks []struct{ ID string }
	if err := json.Unmarshal([]byte(sockctlOK(t, d, "ls", "-l", "page=test", "-o", "json")), &socks); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range socks {
		seen[s.ID] = true
	}
	if len(socks) != n || len(seen) != n {
		t.Fatalf("ls listed %d sockets (%d distinct), want %d", len(socks), len(seen), n)
	}
	if lines := strings.Count(sockctlOK(t, d, "ls", "-l", "page=test"), "\n"); lines != n+1 {
		t.Fatalf("ls table: %d lines, want %d", lines, n+1)
	}
}
