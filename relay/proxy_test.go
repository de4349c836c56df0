package relay_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/relay"
	"github.com/sockd/sockd/sockmgr"
)

// echoServer is a Go TCP server that echoes; it counts its connections.
type echoServer struct {
	l     *net.TCPListener
	mu    sync.Mutex
	conns []net.Conn
}

func newEchoServer(t testing.TB) *echoServer {
	s := &echoServer{l: goListener(t)}
	go func() {
		for {
			c, err := s.l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go echoConn(c)
		}
	}()
	t.Cleanup(func() {
		s.l.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.conns {
			c.Close()
		}
	})
	return s
}

func (s *echoServer) addr() string { return s.l.Addr().String() }

func (s *echoServer) accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (e *env) newProxy(opts relay.ProxyOptions) relay.ProxyInfo {
	e.t.Helper()
	if opts.ListenAddress == "" {
		opts.ListenAddress = "127.0.0.1:0"
	}
	return must[relay.ProxyInfo](e.t)(e.rm.CreateProxy(ctxT(e.t), owner, opts))
}

func dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp4", addr)
	check(t, err)
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// roundTrip writes msg and reads as many bytes back.
func roundTrip(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	_, err := c.Write([]byte(msg))
	check(t, err)
	got := make([]byte, len(msg))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadFull(c, got)
	check(t, err)
	return string(got)
}

func TestTCPProxyWithPythonClient(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	up := newEchoServer(t)
	px := e.newProxy(relay.ProxyOptions{Name: "echo", UpstreamAddress: up.addr()})
	if !px.Enabled || px.ListenerID == "" || strings.HasSuffix(px.ListenAddress, ":0") {
		t.Fatalf("proxy %+v", px)
	}
	out := python(t, `
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
s.sendall(b"hello through sockd")
got = b""
while len(got) < 19:
    got += s.recv(100)
s.shutdown(socket.SHUT_WR)
print(got.decode(), s.recv(100) == b"")
s.close()
`, px.ListenAddress)
	if strings.TrimSpace(out) != "hello through sockd True" {
		t.Fatalf("python printed %q", out)
	}
	waitFor(t, 5*time.Second, "the connection to end", func() bool {
		return must[relay.ProxyInfo](t)(e.rm.Proxy(me, "echo")).Connections == 0
	})
	info := must[relay.ProxyInfo](t)(e.rm.Proxy(me, px.ID))
	if info.TotalConnections != 1 || info.BytesUpstream != 19 || info.BytesDownstream != 19 {
		t.Fatalf("proxy counters %+v", info)
	}
}

func TestProxyConnectionsAreOrdinarySockets(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	up := newEchoServer(t)
	var mu sync.Mutex
	made := map[string]bool{}
	px := e.newProxy(relay.ProxyOptions{UpstreamAddress: up.addr(), OnSocket: func(s *sockmgr.Socket) {
		mu.Lock()
		made[s.ID()] = true
		mu.Unlock()
	}})
	c := dial(t, px.ListenAddress)
	if got := roundTrip(t, c, "x"); got != "x" {
		t.Fatalf("echo %q", got)
	}
	rs, _ := must2[[]relay.RelayInfo, bool](t)(e.rm.ListRelays(me, relay.RelayFilter{Proxy: px.ID}))
	if len(rs) != 1 || rs[0].ProxyID != px.ID {
		t.Fatalf("relays of the proxy: %+v", rs)
	}
	r := rs[0]
	for id, want := range map[string][2]string{px.ListenerID: {px.ID, ""}, r.A: {px.ID, r.ID}, r.B: {px.ID, r.ID}} {
		if pid, rid := e.rm.OwnerOf(id); pid != want[0] || rid != want[1] {
			t.Errorf("OwnerOf(%s) = %q, %q; want %q, %q", id, pid, rid, want[0], want[1])
		}
	}
	socks, _ := e.sm.List(me, sockmgr.Filter{})
	if len(socks) != 3 {
		t.Fatalf("%d sockets listed, want the listener and both legs", len(socks))
	}
	mu.Lock()
	for _, s := range socks {
		if !made[s.ID()] {
			t.Errorf("OnSocket was not told of %s", s.ID())
		}
	}
	mu.Unlock()
	// The downstream leg is the accepted socket; its peer is the client.
	a := must[*sockmgr.Socket](t)(e.sm.Get(me, r.A))
	if a.Info().RemoteAddr.String() != c.LocalAddr().String() || a.Info().ParentID != px.ListenerID {
		t.Fatalf("leg a: %+v", a.Info())
	}
	// Closing one leg by hand ends the connection cleanly.
	b := must[*sockmgr.Socket](t)(e.sm.Get(me, r.B))
	check(t, b.Close())
	got, err := readAll(c, 5*time.Second)
	if err != nil || len(got) != 0 {
		t.Fatalf("client after the upstream leg closed: %q, %v", got, err)
	}
	e.relayGone(r.ID)
	if _, err := e.sm.Get(me, r.A); !errors.Is(err, sockmgr.ErrNotFound) {
		t.Fatalf("leg a after its relay ended: %v", err)
	}
}

func must2[T any, U any](t *testing.T) func(T, U, error) (T, U) {
	return func(v T, u U, err error) (T, U) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v, u
	}
}

func TestProxyFaultsApplyToPresentAndFutureConnections(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	up := newEchoServer(t)
	px := e.newProxy(relay.ProxyOptions{UpstreamAddress: up.addr()})
	c1 := dial(t, px.ListenAddress)
	base := median(rtts(t, c1, 3))
	target := relay.Target{Proxy: px.ID}
	must[relay.Fault](t)(e.rm.AddFault(me, target, relay.Fault{Params: relay.LatencyParams{Latency: 100 * time.Millisecond}}))
	c2 := dial(t, px.ListenAddress)
	for i, c := range []net.Conn{c1, c2} {
		if d := median(rtts(t, c, 3)); d < 100*time.Millisecond || d > 100*time.Millisecond+base+late {
			t.Errorf("connection %d: round trip %v with the proxy's 100ms", i+1, d)
		}
	}
	// A fault on one relay applies to that connection only.
	rs, _ := must2[[]relay.RelayInfo, bool](t)(e.rm.ListRelays(me, relay.RelayFilter{Proxy: px.ID}))
	if len(rs) != 2 {
		t.Fatalf("%d relays", len(rs))
	}
	var r1 relay.RelayInfo
	for _, r := range rs {
		if b, _ := e.sm.Get(me, r.A); b != nil && b.Info().RemoteAddr.String() == c1.LocalAddr().String() {
			r1 = r
		}
	}
	must[relay.Fault](t)(e.rm.RemoveFault(me, target, "latency_downstream"))
	must[relay.Fault](t)(e.rm.AddFault(me, relay.Target{Relay: r1.ID}, relay.Fault{Direction: relay.Upstream, Params: relay.LatencyParams{Latency: 100 * time.Millisecond}}))
	if d := median(rtts(t, c1, 3)); d < 100*time.Millisecond {
		t.Errorf("connection 1: round trip %v with its relay's 100ms", d)
	}
	if d := median(rtts(t, c2, 3)); d > base+late {
		t.Errorf("connection 2: round trip %v with no fault of its own", d)
	}
	info := must[relay.RelayInfo](t)(e.rm.Relay(me, r1.ID))
	if len(info.Faults) != 1 || len(info.ActiveFaults) != 1 {
		t.Errorf("relay 1 faults %v, active %v", info.Faults, info.ActiveFaults)
	}
}

func TestProxyProbabilityIsRolledPerConnection(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	up := newEchoServer(t)
	px := e.newProxy(relay.ProxyOptions{UpstreamAddress: up.addr(), Faults: []relay.Fault{
		{Probability: ptr(0.5), Params: relay.SlowCloseParams{Delay: time.Millisecond}},
	}})
	const n = 60
	for range n {
		roundTrip(t, dial(t, px.ListenAddress), "x")
	}
	active := func() int {
		rs, _ := must2[[]relay.RelayInfo, bool](t)(e.rm.ListRelays(me, relay.RelayFilter{Proxy: px.ID}))
		if len(rs) != n {
			t.Fatalf("%d relays, want %d", len(rs), n)
		}
		k := 0
		for _, r := range rs {
			k += len(r.ActiveFaults)
		}
		return k
	}
	k := active()
	within(t, "connections rolled in", k, n, 0.5, 5, 1)
	fs := must[[]relay.Fault](t)(e.rm.ListFaults(me, relay.Target{Proxy: px.ID}))
	if fs[0].Applied != uint64(k) {
		t.Errorf("Applied = %d, %d relays have the fault", fs[0].Applied, k)
	}
	// Each connection keeps its roll: raising the probability adds the rest.
	target := relay.Target{Proxy: px.ID}
	must[relay.Fault](t)(e.rm.UpdateFault(me, target, relay.Fault{Name: fs[0].Name, Probability: ptr(1.0)}, []string{"probability"}))
	if k := active(); k != n {
		t.Errorf("probability 1: %d of %d connections", k, n)
	}
	must[relay.Fault](t)(e.rm.UpdateFault(me, target, relay.Fault{Name: fs[0].Name, Probability: ptr(0.0)}, []string{"probability"}))
	if k := active(); k != 0 {
		t.Errorf("probability 0: %d connections", k)
	}
	if st := e.rm.Stats(); st.FaultsApplied[relay.FaultSlowClose] != n {
		t.Errorf("faults applied: %v", st.FaultsApplied)
	}
}

func TestProxyDisableResetsAndEnableRebinds(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	up := newEchoServer(t)
	px := e.newProxy(relay.ProxyOptions{UpstreamAddress: up.addr()})
	c := dial(t, px.ListenAddress)
	roundTrip(t, c, "x")
	info := must[relay.ProxyInfo](t)(e.rm.UpdateProxy(ctxT(t), me, px.ID, relay.ProxyUpdate{Enabled: ptr(false)}))
	if info.Enabled || info.ListenerID != "" || info.Connections != 0 {
		t.Fatalf("disabled proxy %+v", info)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("a connection of a disabled proxy: %v, want ECONNRESET", err)
	}
	if _, err := net.Dial("tcp4", px.ListenAddress); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial a disabled proxy: %v, want ECONNREFUSED", err)
	}
	info = must[relay.ProxyInfo](t)(e.rm.UpdateProxy(ctxT(t), me, px.ID, relay.ProxyUpdate{Enabled: ptr(true)}))
	if !info.Enabled || info.ListenAddress != px.ListenAddress || info.ListenerID == px.ListenerID {
		t.Fatalf("re-enabled proxy %+v", info)
	}
	if got := roundTrip(t, dial(t, px.ListenAddress), "again"); got != "again" {
		t.Fatalf("echo %q", got)
	}
}

func TestProxyUpstreamChangesLive(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	one, two := newEchoServer(t), newEchoServer(t)
	px := e.newProxy(relay.ProxyOptions{UpstreamAddress: one.addr()})
	c1 := dial(t, px.ListenAddress)
	roundTrip(t, c1, "1")
	info := must[relay.ProxyInfo](t)(e.rm.UpdateProxy(ctxT(t), me, px.ID, relay.ProxyUpdate{UpstreamAddress: ptr(two.addr())}))
	if info.UpstreamAddress != two.addr() {
		t.Fatalf("upstream %q", info.UpstreamAddress)
	}
	roundTrip(t, dial(t, px.ListenAddress), "2")
	roundTrip(t, c1, "still 1")
	if one.accepted() != 1 || two.accepted() != 1 {
		t.Fatalf("accepted: first %d, second %d", one.accepted(), two.accepted())
	}
}

func TestProxyDeleteClosesEverything(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	evs := e.watch()
	up := newEchoServer(t)
	px := e.newProxy(relay.ProxyOptions{Name: "gone", UpstreamAddress: up.addr()})
	c := dial(t, px.ListenAddress)
	roundTrip(t, c, "x")
	must[relay.ProxyInfo](t)(e.rm.DeleteProxy(ctxT(t), me, "gone"))
	got, err := readAll(c, 5*time.Second)
	if err != nil || len(got) != 0 {
		t.Fatalf("client after delete: %q, %v; want EOF", got, err)
	}
	if _, err := net.Dial("tcp4", px.ListenAddress); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial a deleted proxy: %v", err)
	}
	if _, err := e.rm.Proxy(me, px.ID); !errors.Is(err, relay.ErrProxyNotFound) {
		t.Fatalf("get a deleted proxy: %v", err)
	}
	waitFor(t, 5*time.Second, "no socket left", func() bool { return e.sm.Len() == 0 })
	// The name is free again.
	e.newProxy(relay.ProxyOptions{Name: "gone", UpstreamAddress: up.addr()})
	want := []string{"proxy_created", "relay_created", "relay_ended", "proxy_deleted", "proxy_created"}
	waitFor(t, time.Second, "the events", func() bool { return len(evs.kinds()) >= len(want) })
	if got := evs.kinds(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events %v, want %v", got, want)
	}
}

func TestProxyUpstreamFailureResetsTheClient(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	dead := goListener(t)
	addr := dead.Addr().String()
	dead.Close() // nobody listens there now
	px := e.newProxy(relay.ProxyOptions{UpstreamAddress: addr})
	expectReset(t, px.ListenAddress)
	waitFor(t, 5*time.Second, "the error to be counted", func() bool {
		return must[relay.ProxyInfo](t)(e.rm.Proxy(me, px.ID)).UpstreamErrors == 1
	})
	if st := e.rm.Stats(); st.UpstreamErrors != 1 || st.ProxyConnections != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// denyPort is a policy that refuses one port for one operation.
type denyPort struct {
	op   sockmgr.Op
	port uint16
}

func (d denyPort) Check(op sockmgr.Op, owner string, proto sockmgr.Protocol, addr netip.AddrPort) error {
	if op == d.op && addr.Port() == d.port {
		return fmt.Errorf("%w: port %d", sockmgr.ErrPolicyDenied, d.port)
	}
	return nil
}

func TestProxyObeysThePolicy(t *testing.T) {
	up := newEchoServer(t)
	upPort := addrOf(up.addr()).Port()
	t.Run("connect", func(t *testing.T) {
		e := newEnv(t, sockmgr.Config{Policy: denyPort{sockmgr.OpConnect, upPort}}, relay.Config{})
		_, err := e.rm.CreateProxy(ctxT(t), owner, relay.ProxyOptions{ListenAddress: "127.0.0.1:0", UpstreamAddress: up.addr()})
		var re *relay.Error
		if !errors.Is(err, sockmgr.ErrPolicyDenied) || !errors.As(err, &re) || re.Field != "upstream_address" {
			t.Fatalf("create: %v", err)
		}
		// A host name is checked after DNS.
		_, err = e.rm.CreateProxy(ctxT(t), owner, relay.ProxyOptions{ListenAddress: "127.0.0.1:0", UpstreamAddress: fmt.Sprintf("localhost:%d", upPort)})
		if !errors.Is(err, sockmgr.ErrPolicyDenied) {
			t.Fatalf("create with localhost: %v", err)
		}
		other := newEchoServer(t)
		px := e.newProxy(relay.ProxyOptions{UpstreamAddress: other.addr()})
		_, err = e.rm.UpdateProxy(ctxT(t), me, px.ID, relay.ProxyUpdate{UpstreamAddress: ptr(up.addr())})
		if !errors.Is(err, sockmgr.ErrPolicyDenied) {
			t.Fatalf("update: %v", err)
		}
	})
	t.Run("bind", func(t *testing.T) {
		free := goListener(t)
		port := addrOf(free.Addr().String()).Port()
		free.Close()
		e := newEnv(t, sockmgr.Config{Policy: denyPort{sockmgr.OpBind, port}}, relay.Config{})
		for _, disabled := range []bool{false, true} {
			_, err := e.rm.CreateProxy(ctxT(t), owner, relay.ProxyOptions{ListenAddress: fmt.Sprintf("127.0.0.1:%d", port), UpstreamAddress: up.addr(), Disabled: disabled})
			if !errors.Is(err, sockmgr.ErrPolicyDenied) {
				t.Fatalf("disabled=%v: %v", disabled, err)
			}
		}
	})
}

// expectReset dials addr and expects the connection reset (the RST may come
// before the dial has even looked).
func expectReset(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp4", addr)
	if err == nil {
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("a connection to %s: %v, want ECONNRESET", addr, err)
	}
}

func TestProxyObeysSocketLimits(t *testing.T) {
	// The listener, the socket its waiting accept has reserved, and the
	// two legs of one connection.
	e := newEnv(t, sockmgr.Config{MaxSocketsPerOwner: 4}, relay.Config{})
	up := newEchoServer(t)
	px := e.newProxy(relay.ProxyOptions{UpstreamAddress: up.addr()})
	c1 := dial(t, px.ListenAddress)
	roundTrip(t, c1, "one")
	// Over the owner's limit the upstream socket cannot be made: the
	// connection is reset and counted as an upstream error.
	expectReset(t, px.ListenAddress)
	waitFor(t, 5*time.Second, "the error to be counted", func() bool {
		return must[relay.ProxyInfo](t)(e.rm.Proxy(me, px.ID)).UpstreamErrors == 1
	})
	c1.Close()
	waitFor(t, 5*time.Second, "the first connection to end", func() bool {
		return must[relay.ProxyInfo](t)(e.rm.Proxy(me, px.ID)).Connections == 0
	})
	roundTrip(t, dial(t, px.ListenAddress), "three")
}

func TestProxyEndsWithItsLease(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	up := newEchoServer(t)
	lease := must[sockmgr.LeaseInfo](t)(e.sm.CreateLease(owner, time.Minute))
	px := e.newProxy(relay.ProxyOptions{UpstreamAddress: up.addr(), LeaseID: lease.ID})
	c := dial(t, px.ListenAddress)
	roundTrip(t, c, "x")
	must[sockmgr.LeaseInfo](t)(e.sm.RevokeLease(me, lease.ID))
	waitFor(t, 5*time.Second, "the proxy to go", func() bool {
		_, err := e.rm.Proxy(me, px.ID)
		return errors.Is(err, relay.ErrProxyNotFound)
	})
	waitFor(t, 5*time.Second, "no socket left", func() bool { return e.sm.Len() == 0 })
}

func TestProxyListenerClosedByHandDisablesIt(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	up := newEchoServer(t)
	px := e.newProxy(relay.ProxyOptions{UpstreamAddress: up.addr()})
	c := dial(t, px.ListenAddress)
	roundTrip(t, c, "x")
	check(t, must[*sockmgr.Socket](t)(e.sm.Get(me, px.ListenerID)).Close())
	waitFor(t, 5*time.Second, "the proxy to turn disabled", func() bool {
		return !must[relay.ProxyInfo](t)(e.rm.Proxy(me, px.ID)).Enabled
	})
	// Like the accepted sockets of a plain listener, its connections stay.
	if got := roundTrip(t, c, "still"); got != "still" {
		t.Fatalf("echo %q", got)
	}
	must[relay.ProxyInfo](t)(e.rm.UpdateProxy(ctxT(t), me, px.ID, relay.ProxyUpdate{Enabled: ptr(true)}))
	roundTrip(t, dial(t, px.ListenAddress), "back")
}

func TestProxyAndFaultErrors(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	up := newEchoServer(t)
	ctx := ctxT(t)
	px := e.newProxy(relay.ProxyOptions{Name: "p", UpstreamAddress: up.addr()})
	target := relay.Target{Proxy: "p"}
	must[relay.Fault](t)(e.rm.AddFault(me, target, relay.Fault{Type: relay.FaultBlackhole}))
	type tc struct {
		name  string
		err   error
		want  error
		field string
	}
	var cases []tc
	add := func(name string, err error, want error, field string) {
		cases = append(cases, tc{name, err, want, field})
	}
	_, err := e.rm.AddFault(me, target, relay.Fault{Type: relay.FaultBlackhole})
	add("same name", err, relay.ErrFaultExists, "")
	_, err = e.rm.RemoveFault(me, target, "nope")
	add("remove unknown", err, relay.ErrFaultNotFound, "")
	_, err = e.rm.UpdateFault(me, target, relay.Fault{Name: "nope"}, nil)
	add("update unknown", err, relay.ErrFaultNotFound, "")
	_, err = e.rm.AddFault(sockmgr.Scope{Owner: "other"}, target, relay.Fault{Type: relay.FaultLatency})
	add("another owner's proxy", err, relay.ErrProxyNotFound, "")
	_, err = e.rm.AddFault(me, relay.Target{Relay: "nope"}, relay.Fault{Type: relay.FaultLatency})
	add("unknown relay", err, relay.ErrRelayNotFound, "")
	_, err = e.rm.AddFault(me, target, relay.Fault{Params: relay.LatencyParams{Latency: -time.Second}})
	add("negative latency", err, sockmgr.ErrInvalidArgument, "fault.latency.latency")
	_, err = e.rm.AddFault(me, target, relay.Fault{Type: relay.FaultLatency, Probability: ptr(1.5)})
	add("probability", err, sockmgr.ErrInvalidArgument, "fault.probability")
	_, err = e.rm.AddFault(me, target, relay.Fault{Params: relay.LossParams{Percent: 10}})
	add("loss on TCP", err, sockmgr.ErrInvalidArgument, "fault.type")
	_, err = e.rm.AddFault(me, target, relay.Fault{})
	add("no type", err, sockmgr.ErrInvalidArgument, "fault.type")
	_, err = e.rm.AddFault(me, target, relay.Fault{Type: relay.FaultSlicer, Params: relay.LatencyParams{}})
	add("type and params disagree", err, sockmgr.ErrInvalidArgument, "fault.type")
	_, err = e.rm.AddFault(me, target, relay.Fault{Name: "Bad Name", Type: relay.FaultLatency})
	add("bad name", err, sockmgr.ErrInvalidArgument, "fault.name")
	_, err = e.rm.UpdateFault(me, target, relay.Fault{Name: "blackhole_downstream", Direction: relay.Upstream}, []string{"direction"})
	add("direction change", err, sockmgr.ErrInvalidArgument, "fault.direction")
	_, err = e.rm.UpdateFault(me, target, relay.Fault{Name: "blackhole_downstream"}, []string{"latency.jitter"})
	add("foreign mask", err, sockmgr.ErrInvalidArgument, "update_mask")
	_, err = e.rm.AddFault(me, relay.Target{Proxy: "p", Relay: "r"}, relay.Fault{Type: relay.FaultLatency})
	add("both targets", err, sockmgr.ErrInvalidArgument, "relay_id")
	_, err = e.rm.CreateProxy(ctx, owner, relay.ProxyOptions{Name: "p", ListenAddress: "127.0.0.1:0", UpstreamAddress: up.addr()})
	add("proxy name taken", err, sockmgr.ErrNameInUse, "name")
	_, err = e.rm.CreateProxy(ctx, owner, relay.ProxyOptions{ListenAddress: "127.0.0.1:0"})
	add("no upstream", err, sockmgr.ErrInvalidArgument, "upstream_address")
	_, err = e.rm.CreateProxy(ctx, owner, relay.ProxyOptions{ListenAddress: "127.1:0", UpstreamAddress: up.addr()})
	add("bad listen address", err, sockmgr.ErrInvalidAddress, "listen_address")
	_, err = e.rm.CreateProxy(ctx, owner, relay.ProxyOptions{ListenAddress: px.ListenAddress, UpstreamAddress: up.addr()})
	add("port taken", err, syscall.EADDRINUSE, "listen_address")
	_, err = e.rm.CreateProxy(ctx, owner, relay.ProxyOptions{Protocol: sockmgr.UDP, ListenAddress: "127.0.0.1:0", UpstreamAddress: up.addr(),
		Faults: []relay.Fault{{Params: relay.SlicerParams{AverageSize: 1}}}})
	add("slicer on UDP", err, sockmgr.ErrInvalidArgument, "faults[0].type")
	for _, c := range cases {
		var re *relay.Error
		switch {
		case !errors.Is(c.err, c.want):
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		case !errors.As(c.err, &re):
			t.Errorf("%s: %T is not a *relay.Error", c.name, c.err)
		case re.Field != c.field:
			t.Errorf("%s: field %q, want %q (%v)", c.name, re.Field, c.field, c.err)
		}
	}
	// A good update with a mask.
	f := must[relay.Fault](t)(e.rm.AddFault(me, target, relay.Fault{Params: relay.LatencyParams{Latency: time.Second, Jitter: time.Millisecond}}))
	f = must[relay.Fault](t)(e.rm.UpdateFault(me, target, relay.Fault{Name: f.Name, Params: relay.LatencyParams{Jitter: 5 * time.Millisecond}}, []string{"latency.jitter"}))
	if lp := f.Params.(relay.LatencyParams); lp.Latency != time.Second || lp.Jitter != 5*time.Millisecond {
		t.Errorf("after a masked update: %+v", lp)
	}
}

func TestProxyIPv6(t *testing.T) {
	l, err := net.ListenTCP("tcp6", &net.TCPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go echoConn(c)
		}
	}()
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	px := e.newProxy(relay.ProxyOptions{ListenAddress: "[::1]:0", UpstreamAddress: l.Addr().String()})
	if !strings.HasPrefix(px.ListenAddress, "[::1]:") {
		t.Fatalf("listen address %q", px.ListenAddress)
	}
	c, err := net.Dial("tcp6", px.ListenAddress)
	check(t, err)
	t.Cleanup(func() { c.Close() })
	if got := roundTrip(t, c, "six"); got != "six" {
		t.Fatalf("echo %q", got)
	}
}
