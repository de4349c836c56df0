package relay_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockd/sockd/relay"
	"github.com/sockd/sockd/sockmgr"
)

func TestMain(m *testing.M) {
	// The runtime opens its poller's descriptors on first use: open them
	// now, so that the first test's descriptor count does not see them.
	if l, err := net.Listen("tcp4", "127.0.0.1:0"); err == nil {
		l.Close()
	}
	goleak.VerifyTestMain(m)
}

// owner is the principal most tests act as.
const owner = "tester"

var me = sockmgr.Scope{Owner: owner}

// env is a socket manager and a relay manager over it, closed when the test
// ends, with a check that every descriptor the test opened is closed again.
type env struct {
	t  testing.TB
	sm *sockmgr.Manager
	rm *relay.Manager
}

func newEnv(t testing.TB, smCfg sockmgr.Config, rmCfg relay.Config) *env {
	t.Helper()
	before := openFDs(t)
	sm := sockmgr.New(smCfg)
	if rmCfg.CloseLinger == 0 {
		rmCfg.CloseLinger = 300 * time.Millisecond
	}
	rm := relay.New(sm, rmCfg)
	e := &env{t: t, sm: sm, rm: rm}
	t.Cleanup(func() {
		if err := rm.Close(); err != nil {
			t.Errorf("relay manager close: %v", err)
		}
		if n := relay.PipesOpen(rm); n != 0 {
			t.Errorf("after Close: %d splice pipes open", n)
		}
		if st := rm.Stats(); st.Relays != 0 || st.Proxies != 0 {
			t.Errorf("after Close: %d relays and %d proxies left", st.Relays, st.Proxies)
		}
		if err := sm.Close(); err != nil {
			t.Errorf("socket manager close: %v", err)
		}
		// Peers close in their own cleanups, which run after this one.
		t.Cleanup(func() {
			deadline := time.Now().Add(5 * time.Second)
			for {
				after := openFDs(t)
				if after <= before || time.Now().After(deadline) {
					if after > before {
						t.Errorf("descriptors leaked: %d open before the test, %d after: %v", before, after, fdNames())
					}
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	})
	return e
}

func fdNames() []string {
	entries, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range entries {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		out = append(out, e.Name()+"="+l)
	}
	return out
}

func openFDs(t testing.TB) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("counting descriptors: %v", err)
	}
	return len(entries)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func ptr[T any](v T) *T { return &v }

// goListener is a plain Go TCP listener on loopback, closed at the end.
func goListener(t testing.TB) *net.TCPListener {
	t.Helper()
	l, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	check(t, err)
	t.Cleanup(func() { l.Close() })
	return l
}

// tcpPair is a relay of two sockd sockets with plain Go peers at both ends:
// client ↔ a ⇄ b ↔ server.
type tcpPair struct {
	client, server *net.TCPConn
	a, b           *sockmgr.Socket
	relay          relay.RelayInfo
}

// newTCPPair connects a Go client to a sockd socket a (accepted by a sockd
// listener), a sockd socket b to a Go server, and relays a and b.
func (e *env) newTCPPair(faults ...relay.Fault) *tcpPair {
	t := e.t
	t.Helper()
	ctx := ctxT(t)
	srv := goListener(t)
	lst := must[*sockmgr.Socket](t)(e.sm.Create(owner, sockmgr.CreateOptions{}))
	check(t, lst.Bind(ctx, "127.0.0.1:0"))
	check(t, lst.Listen(8))
	client, err := net.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(lst.Info().LocalAddr))
	check(t, err)
	t.Cleanup(func() { client.Close() })
	a := must[*sockmgr.Socket](t)(lst.Accept(ctx, sockmgr.AcceptOptions{}))
	check(t, lst.Close())
	b := must[*sockmgr.Socket](t)(e.sm.Create(owner, sockmgr.CreateOptions{}))
	check(t, b.Connect(ctx, srv.Addr().String(), nil))
	server, err := srv.AcceptTCP()
	check(t, err)
	t.Cleanup(func() { server.Close() })
	info := must[relay.RelayInfo](t)(e.rm.CreateRelay(ctx, me, relay.RelayOptions{A: a.ID(), B: b.ID(), Faults: faults}))
	return &tcpPair{client: client, server: server, a: a, b: b, relay: info}
}

// readAll reads from c until EOF or an error, within d.
func readAll(c net.Conn, d time.Duration) ([]byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	return io.ReadAll(c)
}

// waitFor polls cond every 5 ms for at most d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// relayGone waits until the relay has ended.
func (e *env) relayGone(id string) {
	e.t.Helper()
	waitFor(e.t, 10*time.Second, "relay "+id+" to end", func() bool {
		_, err := e.rm.Relay(me, id)
		return errors.Is(err, relay.ErrRelayNotFound)
	})
}

// events collects the feed's relay and proxy events from now on.
type events struct {
	mu  sync.Mutex
	evs []sockmgr.Event
}

func (e *env) watch() *events {
	sub, err := e.sm.Subscribe(sockmgr.SubscribeOptions{Scope: me, Match: func(ev *sockmgr.Event) bool { return ev.Subject != nil }})
	check(e.t, err)
	evs := &events{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := sub.Next(ctx)
			if err != nil {
				return
			}
			evs.mu.Lock()
			evs.evs = append(evs.evs, ev)
			evs.mu.Unlock()
		}
	}()
	e.t.Cleanup(func() { cancel(); <-done; sub.Close() })
	return evs
}

func (evs *events) kinds() []string {
	evs.mu.Lock()
	defer evs.mu.Unlock()
	var out []string
	for _, ev := range evs.evs {
		out = append(out, string(ev.Kind))
	}
	return out
}

func (evs *events) has(kind sockmgr.EventKind) bool {
	for _, k := range evs.kinds() {
		if k == string(kind) {
			return true
		}
	}
	return false
}

// python runs a Python 3 script with args and returns its stdout; the test
// skips when python3 is missing (and fails under CI or SOCKD_TEST_ALL).
func python(t *testing.T, script string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("SOCKD_TEST_ALL") == "1" {
			t.Fatal("python3 is required")
		}
		t.Skip("python3 not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", append([]string{"-c", script}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	return string(out)
}

func addrOf(ap string) netip.AddrPort { return netip.MustParseAddrPort(ap) }
