package relay_test

import (
	"net"
	"testing"
	"time"

	"github.com/sockd/sockd/relay"
	"github.com/sockd/sockd/sockmgr"
)

// udpEcho is a Go UDP server that answers each datagram with the address
// it came from (so a client learns which upstream socket its session has).
func udpEcho(t testing.TB) *net.UDPConn {
	s, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	check(t, err)
	t.Cleanup(func() { s.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := s.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = s.WriteToUDP(append([]byte(from.String()+" "), buf[:n]...), from)
		}
	}()
	return s
}

func udpClient(t testing.TB, to string) *net.UDPConn {
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(addrOf(to)))
	check(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func ask(t *testing.T, c *net.UDPConn, msg string) string {
	t.Helper()
	_, err := c.Write([]byte(msg))
	check(t, err)
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	check(t, err)
	return string(buf[:n])
}

func TestUDPProxySessions(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	srv := udpEcho(t)
	px := e.newProxy(relay.ProxyOptions{Protocol: sockmgr.UDP, UpstreamAddress: srv.LocalAddr().String(), SessionIdleTimeout: 300 * time.Millisecond})
	c1, c2 := udpClient(t, px.ListenAddress), udpClient(t, px.ListenAddress)
	r1, r2 := ask(t, c1, "one"), ask(t, c2, "two")
	up1, up2 := r1[:len(r1)-4], r2[:len(r2)-4]
	if up1 == up2 || r1[len(r1)-3:] != "one" || r2[len(r2)-3:] != "two" {
		t.Fatalf("answers %q and %q: each client needs its own upstream socket", r1, r2)
	}
	// The same client keeps its session.
	if again := ask(t, c1, "one"); again != r1 {
		t.Fatalf("second answer %q, first %q", again, r1)
	}
	info := must[relay.ProxyInfo](t)(e.rm.Proxy(me, px.ID))
	if info.Connections != 2 || info.TotalConnections != 2 {
		t.Fatalf("proxy %+v", info)
	}
	// A direction counts a batch once its send returns, which may be after
	// the answer to it came back: wait for the counts to settle.
	var rs []relay.RelayInfo
	waitFor(t, 5*time.Second, "the sessions' datagram counts", func() bool {
		rs, _ = must2[[]relay.RelayInfo, bool](t)(e.rm.ListRelays(me, relay.RelayFilter{Proxy: px.ID}))
		for _, r := range rs {
			if r.DatagramsUpstream != uint64(1+btoi(r.ClientAddr.String() == c1.LocalAddr().String())) {
				return false
			}
		}
		return true
	})
	for _, r := range rs {
		if r.A != px.ListenerID || !r.ClientAddr.IsValid() {
			t.Errorf("session %+v", r)
		}
		if pid, rid := e.rm.OwnerOf(r.B); pid != px.ID || rid != r.ID {
			t.Errorf("OwnerOf(%s) = %q, %q", r.B, pid, rid)
		}
	}
	// Idle sessions are closed, and a new datagram makes a new one.
	waitFor(t, 5*time.Second, "the sessions to be reaped", func() bool {
		return must[relay.ProxyInfo](t)(e.rm.Proxy(me, px.ID)).Connections == 0
	})
	if e.sm.Len() != 1 {
		t.Fatalf("%d sockets after the sessions closed, want the bound socket only", e.sm.Len())
	}
	if r := ask(t, c1, "one"); r == r1 {
		t.Fatalf("a new session answered from the old upstream socket %q", r)
	}
	if info := must[relay.ProxyInfo](t)(e.rm.Proxy(me, px.ID)); info.TotalConnections != 3 || info.Connections != 1 {
		t.Fatalf("proxy %+v", info)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestUDPProxyFaultsAndDisable(t *testing.T) {
	e := newEnv(t, sockmgr.Config{}, relay.Config{})
	srv := udpEcho(t)
	px := e.newProxy(relay.ProxyOptions{Protocol: sockmgr.UDP, UpstreamAddress: srv.LocalAddr().String(),
		Faults: []relay.Fault{{Params: relay.DuplicateParams{Percent: 100}}}})
	c := udpClient(t, px.ListenAddress)
	first := ask(t, c, "x")
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	check(t, err)
	if string(buf[:n]) != first {
		t.Fatalf("the duplicate %q differs from %q", buf[:n], first)
	}
	must[relay.ProxyInfo](t)(e.rm.UpdateProxy(ctxT(t), me, px.ID, relay.ProxyUpdate{Enabled: ptr(false)}))
	if e.sm.Len() != 0 {
		t.Fatalf("%d sockets left by a disabled UDP proxy", e.sm.Len())
	}
	must[relay.ProxyInfo](t)(e.rm.UpdateProxy(ctxT(t), me, px.ID, relay.ProxyUpdate{Enabled: ptr(true)}))
	must[relay.Fault](t)(e.rm.RemoveFault(me, relay.Target{Proxy: px.ID}, "duplicate_downstream"))
	if got := ask(t, c, "y"); got[len(got)-1] != 'y' {
		t.Fatalf("answer %q", got)
	}
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(buf); err == nil {
		t.Fatalf("a second answer %q with no fault", buf[:n])
	}
}
