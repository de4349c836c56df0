package e2e

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

func wantReason(t *testing.T, err error, code codes.Code, reason string) *client.Error {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Code != code || ce.Reason != reason {
		t.Fatalf("error %v: want %s (%s)", err, client.CodeName(code), reason)
	}
	return ce
}

// Connects to denied addresses are refused before any packet is sent: the
// test runs sockd and its client in a network namespace of its own, where a
// packet to 169.254.0.0/16 or 10.0.0.0/8 would leave through v0 and be
// counted — and a direct connect from Python shows that it would be.
func TestPolicyRefusesBeforeAnyPacket(t *testing.T) {
	if !inNetns(t, "127.0.0.1 localhost\n169.254.169.254 metadata.test\n10.0.0.7 evil.test\n") {
		return
	}
	d := startSockd(t)
	c := dialClient(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := quietTxPackets(t, "v0")
	for _, tc := range []struct {
		addr   string
		ipv6   bool
		code   codes.Code
		reason string
	}{
		{"169.254.169.254:80", false, codes.PermissionDenied, "POLICY_DENIED"},
		{"[::ffff:169.254.169.254]:80", false, codes.PermissionDenied, "POLICY_DENIED"},
		{"[::ffff:169.254.169.254]:80", true, codes.PermissionDenied, "POLICY_DENIED"},
		{"10.0.0.7:80", false, codes.PermissionDenied, "POLICY_DENIED"},
		{"metadata.test:80", false, codes.PermissionDenied, "POLICY_DENIED"},
		{"evil.test:443", false, codes.PermissionDenied, "POLICY_DENIED"},
		{"0x7f000001:80", false, codes.InvalidArgument, "INVALID_ADDRESS"},
		{"2130706433:80", false, codes.InvalidArgument, "INVALID_ADDRESS"},
		{"127.1:80", false, codes.InvalidArgument, "INVALID_ADDRESS"},
		{"010.0.0.1:80", false, codes.InvalidArgument, "INVALID_ADDRESS"},
		{"[fe80::1%lo]:80", true, codes.InvalidArgument, "INVALID_ADDRESS"},
		{"[fe80::1]:80", true, codes.PermissionDenied, "POLICY_DENIED"},
	} {
		sock, err := c.Create(ctx, client.CreateOptions{IPv6: tc.ipv6})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Connect(ctx, sock.GetId(), tc.addr, nil)
		ce := wantReason(t, err, tc.code, tc.reason)
		if tc.reason == "POLICY_DENIED" && !strings.Contains(ce.Message, "rule") {
			t.Errorf("%s: the denial does not name the rule: %s", tc.addr, ce.Message)
		}
		// The same through sendto on UDP.
		u, err := c.Create(ctx, client.CreateOptions{UDP: true, IPv6: tc.ipv6})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.SendTo(ctx, u.GetId(), tc.addr, []byte("x"), nil)
		wantReason(t, err, tc.code, tc.reason)
	}
	if after := txPackets(t, "v0"); after != before {
		t.Fatalf("%d packets left through v0 while sockd refused every address", after-before)
	}
	// Control: a direct connect does send packets there, so the count above
	// would have seen them.
	exec.Command("python3", "-c", `
import socket
s = socket.socket(); s.settimeout(0.3)
try: s.connect(("169.254.169.254", 80))
except OSError: pass`).Run()
	if txPackets(t, "v0") == before {
		t.Fatal("a direct connect sent no packet through v0: the packet count proves nothing")
	}
}

// Bind to port 80, to 0.0.0.0 and to sockd's own port are denied by default
// and allowed when the policy names them.
func TestPolicyBindDefaultsAndRules(t *testing.T) {
	if !inNetns(t, "127.0.0.1 localhost\n") {
		return
	}
	// Fixed ports are safe in a namespace of our own.
	const grpcPort, httpPort = "50051", "8080"
	bind := func(d *daemon, addr string) error {
		c := dialClient(t, d)
		s, err := c.Create(context.Background(), client.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Bind(context.Background(), s.GetId(), addr)
		return err
	}
	d := startSockd(t, "--grpc-addr", "127.0.0.1:"+grpcPort, "--http-addr", "127.0.0.1:"+httpPort)
	for _, addr := range []string{"127.0.0.1:80", "0.0.0.0:8090", "127.0.0.2:" + grpcPort, "127.0.0.1:1023"} {
		wantReason(t, bind(d, addr), codes.PermissionDenied, "POLICY_DENIED")
	}
	if err := bind(d, "127.0.0.1:8090"); err != nil {
		t.Fatalf("a loopback port above 1023: %v", err)
	}
	d.stop(t)

	d = startSockd(t, "--grpc-addr", "127.0.0.1:"+grpcPort, "--http-addr", "127.0.0.1:"+httpPort,
		"--allow-bind", "127.0.0.1:80", "--allow-bind", "0.0.0.0:8090", "--allow-bind", "127.0.0.2:"+grpcPort)
	for _, addr := range []string{"127.0.0.1:80", "0.0.0.0:8090", "127.0.0.2:" + grpcPort} {
		if err := bind(d, addr); err != nil {
			t.Fatalf("bind %s with a rule naming it: %v", addr, err)
		}
	}
	// Rules replace the default: ordinary loopback ports are no longer open.
	wantReason(t, bind(d, "127.0.0.1:8091"), codes.PermissionDenied, "POLICY_DENIED")

	// And sockd on 0.0.0.0 with TLS and tokens starts (inside the namespace).
	p := newPKI(t, "netns")
	cert, key := p.issue(t, "sockd", true)
	tokens := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(tokens, []byte("0123456789abcdef-alice alice\n"), 0o600)
	d2 := startSockd(t, "--grpc-addr", "0.0.0.0:0", "--http-addr", "0.0.0.0:0", "--tls-cert", cert, "--tls-key", key, "--token-file", tokens)
	// 0.0.0.0 is IPv4's wildcard, and the log says so (not [::]).
	if !strings.HasPrefix(d2.GRPC, "0.0.0.0:") || !strings.HasPrefix(d2.HTTP, "0.0.0.0:") {
		t.Fatalf("listening on %s and %s, want 0.0.0.0", d2.GRPC, d2.HTTP)
	}
}

func writeTokens(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const (
	aliceToken = "alice-token-0123456789"
	bobToken   = "bob-token-0123456789ab"
	rootToken  = "root-token-0123456789a"
)

// Tokens: missing or wrong → UNAUTHENTICATED (gRPC) / 401 (REST); health and
// reflection stay open; identity never comes from Grpc-Metadata-* headers.
func TestTokens(t *testing.T) {
	d := startSockd(t, "--token-file", writeTokens(t, aliceToken+" alice", "# a comment", bobToken+" bob"))
	ctx := context.Background()
	for _, tok := range []string{"", "wrong-token-0123456789"} {
		var opts []client.Option
		if tok != "" {
			opts = append(opts, client.WithToken(tok))
		}
		c, err := client.Dial(d.GRPC, opts...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.List(ctx, client.ListOptions{})
		wantReason(t, err, codes.Unauthenticated, "UNAUTHENTICATED")
		c.Close()
	}
	code, body := curl(t, d, "GET", "/v1/sockets", nil)
	if code != 401 || errorReason(body) != "UNAUTHENTICATED" {
		t.Fatalf("REST without a token: %d %v", code, body)
	}
	code, _ = curl(t, d, "GET", "/v1/sockets", nil, "Authorization: Bearer nope-nope-nope-nope")
	if code != 401 {
		t.Fatalf("REST with a wrong token: %d", code)
	}
	code, _ = curl(t, d, "GET", "/v1/sockets", nil, "Grpc-Metadata-Authorization: Bearer "+aliceToken)
	if code != 401 {
		t.Fatalf("a token in Grpc-Metadata-Authorization was believed: %d", code)
	}
	code, body = curl(t, d, "POST", "/v1/sockets", map[string]any{}, "Authorization: Bearer "+aliceToken)
	if code != 200 || str(body, "owner") != "alice" {
		t.Fatalf("REST with alice's token: %d %v", code, body)
	}
	// Health and reflection need no token.
	conn, _ := grpc.NewClient(d.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	defer conn.Close()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health without a token: %v", err)
	}
	if r := run(t, nil, "grpcurl", "-plaintext", d.GRPC, "list"); r.code != 0 || !strings.Contains(r.stdout, "sockd.v1.SocketService") {
		t.Fatalf("reflection without a token: %+v", r)
	}
	if r := run(t, nil, "curl", "-s", "http://"+d.HTTP+"/healthz"); r.stdout != "ok\n" {
		t.Fatalf("/healthz: %q", r.stdout)
	}
	// sockctl takes the token from SOCKD_TOKEN.
	cmd := exec.Command(filepath.Join(binDir, "sockctl"), "--addr", d.GRPC, "create", "tcp")
	cmd.Env = append(os.Environ(), "SOCKD_TOKEN="+bobToken)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sockctl with SOCKD_TOKEN: %v %s", err, out)
	}
	if r := sockctl(t, d, nil, "ls"); r.code != 26 || !strings.Contains(r.stderr, "(UNAUTHENTICATED)") {
		t.Fatalf("sockctl without a token: %+v", r)
	}
}

// Principal B gets NOT_FOUND for A's socket in every RPC and sees none of
// A's events; an admin sees everything.
func TestOwnership(t *testing.T) {
	d := startSockd(t, "--token-file", writeTokens(t, aliceToken+" alice", bobToken+" bob", rootToken+" root"), "--admin", "root")
	dial := func(tok string) *client.Client {
		c, err := client.Dial(d.GRPC, client.WithToken(tok))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	alice, bob, root := dial(aliceToken), dial(bobToken), dial(rootToken)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Bob watches from before alice does anything.
	bobEvents := make(chan *sockdv1.Event, 100)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		for ev, err := range bob.Watch(watchCtx, &sockdv1.WatchEventsRequest{}) {
			if err != nil {
				return
			}
			bobEvents <- ev
		}
	}()
	lease, err := alice.CreateLease(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	l, err := alice.Create(ctx, client.CreateOptions{Name: "shared-name", Bind: "127.0.0.1:0", Listen: true, LeaseID: lease.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	u, err := alice.Create(ctx, client.CreateOptions{UDP: true, Bind: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	api := bob.API()
	id := l.GetId()
	short := durationpb.New(100 * time.Millisecond)
	calls := map[string]func() error{
		"GetSocket": func() error { _, err := api.GetSocket(ctx, &sockdv1.GetSocketRequest{Id: id}); return err },
		"Bind": func() error {
			_, err := api.Bind(ctx, &sockdv1.BindRequest{Id: id, Address: "127.0.0.1:0"})
			return err
		},
		"Listen": func() error { _, err := api.Listen(ctx, &sockdv1.ListenRequest{Id: id}); return err },
		"Accept": func() error { _, err := api.Accept(ctx, &sockdv1.AcceptRequest{Id: id, Timeout: short}); return err },
		"Connect": func() error {
			_, err := api.Connect(ctx, &sockdv1.ConnectRequest{Id: id, Address: l.GetLocalAddress()})
			return err
		},
		"Send": func() error { _, err := api.Send(ctx, &sockdv1.SendRequest{Id: id}); return err },
		"Recv": func() error {
			_, err := api.Recv(ctx, &sockdv1.RecvRequest{Id: id, MaxBytes: 1, Timeout: short})
			return err
		},
		"SendTo": func() error {
			_, err := api.SendTo(ctx, &sockdv1.SendToRequest{Id: u.GetId(), Address: u.GetLocalAddress()})
			return err
		},
		"RecvFrom": func() error {
			_, err := api.RecvFrom(ctx, &sockdv1.RecvFromRequest{Id: u.GetId(), MaxBytes: 1, Timeout: short})
			return err
		},
		"Shutdown": func() error { _, err := api.Shutdown(ctx, &sockdv1.ShutdownRequest{Id: id, How: 3}); return err },
		"SetOption": func() error {
			_, err := api.SetOption(ctx, &sockdv1.SetOptionRequest{Id: id, Option: "SO_KEEPALIVE", Value: 1})
			return err
		},
		"GetOption": func() error {
			_, err := api.GetOption(ctx, &sockdv1.GetOptionRequest{Id: id, Option: "SO_RCVBUF"})
			return err
		},
		"SetTimeout":  func() error { _, err := api.SetTimeout(ctx, &sockdv1.SetTimeoutRequest{Id: id}); return err },
		"CloseSocket": func() error { _, err := api.CloseSocket(ctx, &sockdv1.CloseSocketRequest{Id: id}); return err },
		"by name":     func() error { _, err := api.GetSocket(ctx, &sockdv1.GetSocketRequest{Id: "shared-name"}); return err },
		"Attach": func() error {
			s, err := api.Attach(ctx)
			if err != nil {
				return err
			}
			s.Send(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Open{Open: &sockdv1.AttachOpen{Id: id}}})
			_, err = s.Recv()
			return err
		},
		"RevokeLease": func() error {
			_, err := api.RevokeLease(ctx, &sockdv1.RevokeLeaseRequest{Id: lease.GetId()})
			return err
		},
		"KeepAliveLease": func() error {
			s, err := api.KeepAliveLease(ctx, &sockdv1.KeepAliveLeaseRequest{Id: lease.GetId()})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		},
		"CreateSocket under the lease": func() error {
			_, err := api.CreateSocket(ctx, &sockdv1.CreateSocketRequest{LeaseId: lease.GetId()})
			return err
		},
	}
	for name, call := range calls {
		err := client.FromError(call())
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Code != codes.NotFound {
			t.Errorf("bob's %s on alice's socket: %v, want NOT_FOUND", name, err)
		}
	}
	if socks, err := bob.List(ctx, client.ListOptions{}); err != nil || len(socks) != 0 {
		t.Fatalf("bob lists %d sockets (%v)", len(socks), err)
	}
	// The name is per owner: bob can have his own "shared-name".
	if _, err := bob.Create(ctx, client.CreateOptions{Name: "shared-name"}); err != nil {
		t.Fatalf("bob's own shared-name: %v", err)
	}
	// The admin sees both.
	all, err := root.List(ctx, client.ListOptions{})
	if err != nil || len(all) != 3 {
		t.Fatalf("admin lists %d sockets (%v), want 3", len(all), err)
	}
	if _, err := root.Get(ctx, id); err != nil {
		t.Fatalf("admin get: %v", err)
	}
	// Bob's watch saw only his own socket's events.
	alice.CloseSocket(ctx, u.GetId())
	mine, err := bob.Create(ctx, client.CreateOptions{Name: "marker"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ev := <-bobEvents:
			if ev.GetSocket().GetOwner() != "bob" {
				t.Fatalf("bob saw an event of %s's socket: %v", ev.GetSocket().GetOwner(), ev)
			}
			if ev.GetSocket().GetId() == mine.GetId() {
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatal("bob's watch never saw his own marker socket")
		}
	}
}

// Limits: over-quota create, then close one and create again; a 5 MiB Send
// and a 1 GiB max_bytes Recv are refused naming the limit.
func TestLimits(t *testing.T) {
	d := startSockd(t, "--max-sockets-per-principal", "3")
	c := dialClient(t, d)
	ctx := context.Background()
	var ids []string
	for range 3 {
		s, err := c.Create(ctx, client.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.GetId())
	}
	_, err := c.Create(ctx, client.CreateOptions{})
	ce := wantReason(t, err, codes.ResourceExhausted, "LIMIT_EXCEEDED")
	if !strings.Contains(ce.Message, "maximum of 3 sockets") {
		t.Fatalf("the quota error does not name the limit: %s", ce.Message)
	}
	if _, err := c.CloseSocket(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	u, err := c.Create(ctx, client.CreateOptions{UDP: true, Bind: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("create after closing one: %v", err)
	}
	_, err = c.SendTo(ctx, u.GetId(), u.GetLocalAddress(), make([]byte, 5<<20), nil)
	ce = wantReason(t, err, codes.ResourceExhausted, "LIMIT_EXCEEDED")
	if ce.Metadata["limit"] != "max bytes per call" || ce.Metadata["max"] != strconv.Itoa(4<<20) {
		t.Fatalf("5 MiB send: %v", ce.Metadata)
	}
	_, _, err = c.Recv(ctx, u.GetId(), client.RecvOptions{MaxBytes: 1 << 30})
	ce = wantReason(t, err, codes.ResourceExhausted, "LIMIT_EXCEEDED")
	if ce.Metadata["limit"] != "max bytes per call" {
		t.Fatalf("1 GiB recv: %v", ce.Metadata)
	}
	// And the rate limit.
	d2 := startSockd(t, "--rate", "5", "--rate-burst", "5")
	c2 := dialClient(t, d2)
	var limited error
	for range 20 {
		if _, err := c2.List(ctx, client.ListOptions{}); err != nil {
			limited = err
			break
		}
	}
	wantReason(t, limited, codes.ResourceExhausted, "LIMIT_EXCEEDED")
}

// With RLIMIT_NOFILE lowered, running out of descriptors is a
// RESOURCE_EXHAUSTED answer, and sockd keeps serving.
func TestEMFILEIsAnAnswer(t *testing.T) {
	d := startSockdWith(t, []string{"prlimit", "--nofile=64:64", "--"})
	c := dialClient(t, d)
	ctx := context.Background()
	var ids []string
	var exhausted error
	for range 100 {
		s, err := c.Create(ctx, client.CreateOptions{})
		if err != nil {
			exhausted = err
			break
		}
		ids = append(ids, s.GetId())
	}
	wantReason(t, exhausted, codes.ResourceExhausted, "EMFILE")
	// Still serving: list, close one, create again.
	if socks, err := c.List(ctx, client.ListOptions{}); err != nil || len(socks) != len(ids) {
		t.Fatalf("list after EMFILE: %d %v", len(socks), err)
	}
	if _, err := c.CloseSocket(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, client.CreateOptions{}); err != nil {
		t.Fatalf("create after freeing a descriptor: %v", err)
	}
}

// A client SIGKILLed mid-lease leaves nothing bound: its ports are free
// within the lease's TTL and a few seconds.
func TestCrashedClientLeavesNothingBound(t *testing.T) {
	d := startSockd(t)
	const ttl = 2 * time.Second
	lease := lastLine(sockctlOK(t, d, "lease", "create", "--ttl", ttl.String()))
	keeper := exec.Command(filepath.Join(binDir, "sockctl"), "--addr", d.GRPC, "lease", "keepalive", lease)
	if err := keeper.Start(); err != nil {
		t.Fatal(err)
	}
	l := lastLine(sockctlOK(t, d, "listen", "tcp", "127.0.0.1:0", "--lease", lease, "--opt", "reuseaddr=1"))
	u := lastLine(sockctlOK(t, d, "create", "udp", "--lease", lease))
	sockctlOK(t, d, "bind", u, "127.0.0.1:0")
	tcpAddr := jsonField(t, sockctlOK(t, d, "inspect", l, "-o", "json"), "localAddress")
	udpAddr := jsonField(t, sockctlOK(t, d, "inspect", u, "-o", "json"), "localAddress")
	// Held while the keeper lives, even past the TTL.
	time.Sleep(ttl + 500*time.Millisecond)
	if _, err := net.Listen("tcp4", tcpAddr); err == nil {
		t.Fatal("the port was freed while the lease was kept alive")
	}
	keeper.Process.Signal(syscall.SIGKILL)
	keeper.Wait()
	killed := time.Now()
	waitFor(t, "the lease's ports to be free", func() bool {
		ln, err := net.Listen("tcp4", tcpAddr)
		if err != nil {
			return false
		}
		ln.Close()
		pc, err := net.ListenPacket("udp4", udpAddr)
		if err != nil {
			return false
		}
		pc.Close()
		return true
	})
	took := time.Since(killed)
	t.Logf("ports free %v after the SIGKILL (TTL %v)", took.Round(10*time.Millisecond), ttl)
	if took > ttl+5*time.Second {
		t.Fatalf("ports freed only after %v", took)
	}
	if r := sockctl(t, d, nil, "inspect", l); r.code != 15 {
		t.Fatalf("the lease's socket still exists: %+v", r)
	}
}

// An idle socket is reaped, with a closed (idle) event.
func TestIdleSocketReaped(t *testing.T) {
	d := startSockd(t, "--idle-timeout", "1s")
	id := lastLine(sockctlOK(t, d, "create", "tcp"))
	keep := lastLine(sockctlOK(t, d, "create", "tcp", "--idle-timeout", "0"))
	waitFor(t, "the idle socket to be reaped", func() bool { return sockctl(t, d, nil, "inspect", id).code == 15 })
	if r := sockctl(t, d, nil, "inspect", keep); r.code != 0 {
		t.Fatalf("a socket with --idle-timeout 0 was reaped: %+v", r)
	}
	c := dialClient(t, d)
	zero := uint64(0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ev, err := range c.Watch(ctx, &sockdv1.WatchEventsRequest{Since: &zero, Kinds: []sockdv1.EventKind{sockdv1.EventKind_EVENT_KIND_CLOSED}}) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetSocket().GetId() == id {
			if ev.GetDetail() != "idle" {
				t.Fatalf("closed event detail %q, want idle", ev.GetDetail())
			}
			return
		}
	}
}

// mTLS: a client certificate from sockd's CA names the principal; one from
// an unknown CA, or none, is refused; REST over HTTPS works the same way.
func TestMutualTLS(t *testing.T) {
	p := newPKI(t, "sockd-test")
	stranger := newPKI(t, "stranger")
	serverCert, serverKey := p.issue(t, "127.0.0.1", true)
	aliceCert, aliceKey := p.issue(t, "alice", false)
	evilCert, evilKey := stranger.issue(t, "alice", false)
	d := startSockd(t, "--tls-cert", serverCert, "--tls-key", serverKey, "--tls-client-ca", p.CAFile)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	good, err := client.Dial(d.GRPC, client.WithTLS(clientTLS(t, p.CAFile, aliceCert, aliceKey)))
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	s, err := good.Create(ctx, client.CreateOptions{})
	if err != nil || s.GetOwner() != "alice" {
		t.Fatalf("create with alice's certificate: %v %v", s, err)
	}
	// A certificate of an unknown CA fails the handshake (or, since Go's
	// client sends no certificate the server's CAs did not sign, gets no
	// further than a caller without one).
	c, err := client.Dial(d.GRPC, client.WithTLS(clientTLS(t, p.CAFile, evilCert, evilKey)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.List(ctx, client.ListOptions{})
	var ce *client.Error
	if !errors.As(err, &ce) || (ce.Code != codes.Unavailable && ce.Code != codes.Unauthenticated) {
		t.Errorf("unknown CA: %v, want the connection refused or UNAUTHENTICATED", err)
	}
	c.Close()
	// No certificate: TLS lets it in, so probes get their answer (health,
	// /healthz, /openapi.json), and every other call is UNAUTHENTICATED.
	nocert, err := grpc.NewClient(d.GRPC, grpc.WithTransportCredentials(credentials.NewTLS(clientTLS(t, p.CAFile, "", ""))))
	if err != nil {
		t.Fatal(err)
	}
	defer nocert.Close()
	if resp, err := healthpb.NewHealthClient(nocert).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health check without a certificate: %v %v", resp, err)
	}
	_, err = sockdv1.NewSocketServiceClient(nocert).ListSockets(ctx, &sockdv1.ListSocketsRequest{})
	if st := status.Convert(err); st.Code() != codes.Unauthenticated {
		t.Errorf("ListSockets without a certificate: %v, want UNAUTHENTICATED", err)
	}
	for path, want := range map[string]string{"/healthz": "200", "/openapi.json": "200", "/v1/sockets": "401", "/metrics": "401"} {
		r := run(t, nil, "curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", p.CAFile, "https://"+d.HTTP+path)
		if r.stdout != want {
			t.Errorf("HTTPS %s without a certificate: %s %s, want %s", path, r.stdout, r.stderr, want)
		}
	}
	// REST over HTTPS, with and without a client certificate.
	url := "https://" + d.HTTP + "/v1/sockets"
	r := run(t, nil, "curl", "-sS", "--max-time", "10", "--cacert", p.CAFile, "--cert", aliceCert, "--key", aliceKey, url)
	if r.code != 0 || !strings.Contains(r.stdout, `"owner":"alice"`) {
		t.Fatalf("REST with alice's certificate: %+v", r)
	}
	r = run(t, nil, "curl", "-sS", "--max-time", "10", "--cacert", p.CAFile, "--cert", evilCert, "--key", evilKey, url)
	if r.code == 0 {
		t.Fatalf("REST with a certificate from an unknown CA: %+v", r)
	}
	// sockctl with its TLS flags.
	if r := sockctl(t, d, nil, "--tls-ca", p.CAFile, "--tls-cert", aliceCert, "--tls-key", aliceKey, "ls", "-o", "json"); r.code != 0 || !strings.Contains(r.stdout, "alice") {
		t.Fatalf("sockctl over mTLS: %+v", r)
	}
}

// startSockdWith starts sockd through a wrapper command (prlimit, ...).
func startSockdWith(t *testing.T, wrapper []string, args ...string) *daemon {
	t.Helper()
	prev := sockdWrapper
	sockdWrapper = wrapper
	defer func() { sockdWrapper = prev }()
	return startSockd(t, args...)
}
