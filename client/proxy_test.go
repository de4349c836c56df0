package client

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/relay"
	"github.com/sockd/sockd/service"
	"github.com/sockd/sockd/sockmgr"
)

// startProxyDaemon is startDaemon with both services: proxies and relays
// over the same sockets, and capture on (as sockd runs by default).
func startProxyDaemon(t testing.TB) *daemon {
	t.Helper()
	mgr := sockmgr.New(sockmgr.Config{RetainBytes: 1 << 20})
	caps := service.NewCaptures(mgr, nil, service.CaptureConfig{Memory: 32 << 20})
	relays := relay.New(mgr, relay.Config{Tap: caps.Tap})
	caps.SetRelays(relays)
	svc := service.New(mgr, service.Config{Info: service.ServerInfo{Version: "test"}, Relays: relays, Captures: caps})
	done := make(chan struct{})
	unary, stream := service.Interceptors(service.InterceptorConfig{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), StreamsDone: done})
	srv := grpc.NewServer(append(service.ServerOptions(), grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(stream...))...)
	sockdv1.RegisterSocketServiceServer(srv, svc)
	sockdv1.RegisterProxyServiceServer(srv, service.NewProxyServer(relays, caps))
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		close(done)
		srv.Stop()
		relays.Close()
		caps.Close()
		mgr.Close()
	})
	return &daemon{addr: l.Addr().String(), mgr: mgr, srv: srv}
}

// lineServer is a local TCP peer that answers every line with answer(line),
// for as many connections as come, until the test ends.
func lineServer(t *testing.T, answer func(string) string) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, answer(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return l.Addr().String()
}

// ask sends one line through addr on a new connection and returns the
// answer's line.
func ask(t *testing.T, addr, line string) (string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp4", addr, 10*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSuffix(got, "\n"), err
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// A proxy's life through the client: create, use, list, disable (connect
// refused), enable (the same address again), a new upstream, delete.
func TestProxyLifecycle(t *testing.T) {
	d := startProxyDaemon(t)
	c := dial(t, d.addr)
	ctx := ctxT(t)
	echo := lineServer(t, func(l string) string { return l })
	upper := lineServer(t, strings.ToUpper)

	p, err := c.CreateProxy(ctx, ProxyOptions{Name: "web", Listen: "127.0.0.1:0", Upstream: echo})
	if err != nil {
		t.Fatal(err)
	}
	if !p.GetEnabled() || strings.HasSuffix(p.GetListenAddress(), ":0") || p.GetId() == "" {
		t.Fatalf("created: %v", p)
	}
	if got, err := ask(t, p.GetListenAddress(), "hello"); err != nil || got != "hello" {
		t.Fatalf("through the proxy: %q %v", got, err)
	}
	if got, err := c.GetProxy(ctx, "web"); err != nil || got.GetId() != p.GetId() || got.GetTotalConnections() != 1 {
		t.Fatalf("GetProxy by name: %v %v", got, err)
	}
	if all, err := c.ListProxies(ctx); err != nil || len(all) != 1 || all[0].GetId() != p.GetId() {
		t.Fatalf("ListProxies: %v %v", all, err)
	}

	if got, err := c.EnableProxy(ctx, "web", false); err != nil || got.GetEnabled() {
		t.Fatalf("disable: %v %v", got, err)
	}
	if _, err := ask(t, p.GetListenAddress(), "refused?"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("connect to a disabled proxy: %v, want ECONNREFUSED", err)
	}
	if got, err := c.EnableProxy(ctx, p.GetId(), true); err != nil || !got.GetEnabled() || got.GetListenAddress() != p.GetListenAddress() {
		t.Fatalf("enable: %v %v", got, err)
	}
	if got, err := c.SetProxyUpstream(ctx, "web", upper); err != nil || got.GetUpstreamAddress() != upper {
		t.Fatalf("new upstream: %v %v", got, err)
	}
	if got, err := ask(t, p.GetListenAddress(), "hello"); err != nil || got != "HELLO" {
		t.Fatalf("through the new upstream: %q %v", got, err)
	}

	if got, err := c.DeleteProxy(ctx, "web"); err != nil || got.GetId() != p.GetId() {
		t.Fatalf("delete: %v %v", got, err)
	}
	for _, err := range []error{
		func() error { _, err := c.GetProxy(ctx, "web"); return err }(),
		func() error { _, err := c.DeleteProxy(ctx, p.GetId()); return err }(),
	} {
		if !errors.Is(err, ErrProxyNotFound) || !errors.Is(err, ErrNotFound) {
			t.Fatalf("a deleted proxy: %v, want PROXY_NOT_FOUND", err)
		}
	}
	if _, err := c.CreateProxy(ctx, ProxyOptions{Listen: "127.0.0.1:0"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a proxy with no upstream: %v, want INVALID_ARGUMENT", err)
	}
}

// Faults on a proxy and on one relay: add, list, update a field by its
// mask, remove; the errors of each, as the client's sentinels.
func TestFaults(t *testing.T) {
	d := startProxyDaemon(t)
	c := dial(t, d.addr)
	ctx := ctxT(t)
	echo := lineServer(t, func(l string) string { return l })

	p, err := c.CreateProxy(ctx, ProxyOptions{Listen: "127.0.0.1:0", Upstream: echo,
		Faults: []*sockdv1.Fault{LatencyFault(time.Millisecond, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	pt := OnProxy(p.GetId())
	fs, err := c.ListFaults(ctx, pt)
	if err != nil || len(fs) != 1 || fs[0].GetName() != "latency_downstream" || fs[0].GetLatency().GetLatency().AsDuration() != time.Millisecond {
		t.Fatalf("ListFaults: %v %v", fs, err)
	}
	upd := &sockdv1.Fault{Name: "latency_downstream", Params: &sockdv1.Fault_Latency{Latency: &sockdv1.LatencyParams{Jitter: durationpb.New(2 * time.Millisecond)}}}
	got, err := c.UpdateFault(ctx, pt, upd, "latency.jitter")
	if err != nil || got.GetLatency().GetLatency().AsDuration() != time.Millisecond || got.GetLatency().GetJitter().AsDuration() != 2*time.Millisecond {
		t.Fatalf("UpdateFault of the jitter alone: %v %v", got, err)
	}
	if _, err := c.AddFault(ctx, pt, LatencyFault(time.Second, 0)); !errors.Is(err, ErrFaultExists) {
		t.Fatalf("the same name twice: %v, want FAULT_EXISTS", err)
	}
	if _, err := c.AddFault(ctx, pt, LossFault(10, 0)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a UDP fault on a TCP proxy: %v, want INVALID_ARGUMENT", err)
	}
	if _, err := c.AddFault(ctx, OnProxy("nosuch"), BlackholeFault()); !errors.Is(err, ErrProxyNotFound) {
		t.Fatalf("a fault on no proxy: %v, want PROXY_NOT_FOUND", err)
	}
	if _, err := c.RemoveFault(ctx, pt, "latency_downstream"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RemoveFault(ctx, pt, "latency_downstream"); !errors.Is(err, ErrFaultNotFound) {
		t.Fatalf("a removed fault: %v, want FAULT_NOT_FOUND", err)
	}

	// A relay's own fault: this connection alone is cut after 6 bytes
	// from the server.
	conn, err := net.Dial("tcp4", p.GetListenAddress())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var rs []*sockdv1.Relay
	eventually(t, "the proxy's connection to be relayed", func() bool {
		rs, err = c.ListRelays(ctx, p.GetId())
		return err == nil && len(rs) == 1
	})
	r, err := c.GetRelay(ctx, rs[0].GetId())
	if err != nil || r.GetProxyId() != p.GetId() {
		t.Fatalf("GetRelay: %v %v", r, err)
	}
	f := LimitDataFault(6)
	f.Name = "cut"
	if _, err := c.AddFault(ctx, OnRelay(r.GetId()), f); err != nil {
		t.Fatal(err)
	}
	if fs, err := c.ListFaults(ctx, OnRelay(r.GetId())); err != nil || len(fs) != 1 || fs[0].GetName() != "cut" {
		t.Fatalf("the relay's faults: %v %v", fs, err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "0123456789\n")
	got6, err := io.ReadAll(conn)
	if string(got6) != "012345" {
		t.Fatalf("through a limit_data fault of 6 bytes: %q %v", got6, err)
	}
}

// A relay of two sockets of the caller's: one accepted from a local
// client, one connected to a local server; deleting the relay leaves them.
func TestCreateRelayOfTwoSockets(t *testing.T) {
	d := startProxyDaemon(t)
	c := dial(t, d.addr)
	ctx := ctxT(t)
	server := lineServer(t, strings.ToUpper)

	l, err := c.Create(ctx, CreateOptions{Bind: "127.0.0.1:0", Listen: true})
	if err != nil {
		t.Fatal(err)
	}
	local, err := net.Dial("tcp4", l.GetLocalAddress())
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	a, err := c.Accept(ctx, l.GetId(), nil, "downstream")
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Create(ctx, CreateOptions{Connect: server, Name: "upstream"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.CreateRelay(ctx, RelayOptions{Name: "r1", A: "downstream", B: "upstream"})
	if err != nil || r.GetA() != a.GetId() || r.GetB() != b.GetId() {
		t.Fatalf("CreateRelay: %v %v", r, err)
	}
	local.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(local, "ping\n")
	if got, err := bufio.NewReader(local).ReadString('\n'); got != "PING\n" {
		t.Fatalf("through the relay: %q %v", got, err)
	}
	if _, err := c.CreateRelay(ctx, RelayOptions{A: "downstream", B: "upstream"}); !errors.Is(err, ErrSocketInUse) {
		t.Fatalf("a relayed socket again: %v, want SOCKET_IN_USE", err)
	}
	if got, err := c.DeleteRelay(ctx, "r1", false); err != nil || got.GetId() != r.GetId() {
		t.Fatalf("DeleteRelay: %v %v", got, err)
	}
	for _, id := range []string{a.GetId(), b.GetId()} {
		if s, err := c.Get(ctx, id); err != nil || s.GetState() != sockdv1.State_STATE_CONNECTED {
			t.Fatalf("a socket of a deleted relay: %v %v", s, err)
		}
	}
	if _, err := c.GetRelay(ctx, "r1"); !errors.Is(err, ErrRelayNotFound) {
		t.Fatalf("a deleted relay: %v, want RELAY_NOT_FOUND", err)
	}
}

// pcapngPackets reads a pcapng file to its end and returns the payloads of
// its packets, or an error if the file is cut or malformed.
func pcapngPackets(t *testing.T, file []byte) [][]byte {
	t.Helper()
	var out [][]byte
	blocks := file
	for len(blocks) > 0 {
		if len(blocks) < 12 {
			t.Fatalf("a cut block at the end: % x", blocks)
		}
		n := int(uint32(blocks[4]) | uint32(blocks[5])<<8 | uint32(blocks[6])<<16 | uint32(blocks[7])<<24)
		if n < 12 || n > len(blocks) {
			t.Fatalf("a block of %d bytes with %d left", n, len(blocks))
		}
		if blocks[0] == 6 && blocks[1] == 0 { // an enhanced packet block
			out = append(out, blocks[8:n])
		}
		blocks = blocks[n:]
	}
	return out
}

// A socket's capture read back (the bytes are in it), then its client side
// replayed against a fresh server, which gets the same bytes.
func TestCaptureReadAndReplay(t *testing.T) {
	d := startProxyDaemon(t)
	c := dial(t, d.addr)
	ctx := ctxT(t)
	echo := lineServer(t, func(l string) string { return l })

	s, err := c.Create(ctx, CreateOptions{Connect: echo})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.SetCapture(ctx, s.GetId(), true, 0); err != nil || !got.GetCapture().GetEnabled() {
		t.Fatalf("SetCapture: %v %v", got, err)
	}
	for _, line := range []string{"first line\n", "second line\n"} {
		if _, err := c.Send(ctx, s.GetId(), []byte(line), true, nil); err != nil {
			t.Fatal(err)
		}
		if got, _, err := c.Recv(ctx, s.GetId(), RecvOptions{MaxBytes: int32(len(line)), WaitAll: true, Timeout: ptr(10 * time.Second)}); err != nil || string(got) != line {
			t.Fatalf("echo: %q %v", got, err)
		}
	}
	r, err := c.ReadCapture(ctx, ReadCaptureOptions{IDs: []string{s.GetId()}})
	if err != nil {
		t.Fatal(err)
	}
	file, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if pkts := pcapngPackets(t, file); len(pkts) < 4 || !bytes.Contains(file, []byte("second line")) {
		t.Fatalf("the export has %d packets, and the payload: %v", len(pkts), bytes.Contains(file, []byte("second line")))
	}
	if got, err := c.SetCapture(ctx, s.GetId(), false, 0); err != nil || got.GetCapture().GetEnabled() {
		t.Fatalf("SetCapture off: %v %v", got, err)
	}

	fresh := make(chan []byte, 1)
	peer, addr := listenOnce(t)
	go func() {
		conn, ok := <-peer
		if !ok {
			close(fresh)
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		b, _ := io.ReadAll(conn)
		fresh <- b
	}()
	res, err := c.Replay(ctx, ReplayOptions{File: file, To: addr, Max: true, Timeout: ptr(10 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetBytesSent() != int64(len("first line\nsecond line\n")) || res.GetRemoteAddress() != addr {
		t.Fatalf("replay: %v", res)
	}
	if got := <-fresh; string(got) != "first line\nsecond line\n" {
		t.Fatalf("the fresh server got %q", got)
	}
	if _, err := c.Replay(ctx, ReplayOptions{File: []byte("not a capture"), To: addr}); !errors.Is(err, ErrInvalidCapture) {
		t.Fatalf("replay of no capture: %v, want INVALID_CAPTURE", err)
	}
}

func ptr[T any](v T) *T { return &v }

// lockedBuffer is a bytes.Buffer that one goroutine writes while another
// looks.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}

// A followed capture of a proxy: frames arrive while they happen, and one
// closed mid-way has read whole blocks only.
func TestReadCaptureFollow(t *testing.T) {
	d := startProxyDaemon(t)
	c := dial(t, d.addr)
	ctx := ctxT(t)
	echo := lineServer(t, func(l string) string { return l })
	p, err := c.CreateProxy(ctx, ProxyOptions{Name: "cap", Listen: "127.0.0.1:0", Upstream: echo, Capture: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ask(t, p.GetListenAddress(), "before"); err != nil {
		t.Fatal(err)
	}
	r, err := c.ReadCapture(ctx, ReadCaptureOptions{Proxy: "cap", Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	var file lockedBuffer
	got := make(chan error, 1)
	go func() {
		_, err := io.Copy(&file, r)
		got <- err
	}()
	// Until "live" has arrived in the export, ask again (each ask is a
	// connection, and the follow picks up the proxy's new ones).
	for deadline := time.Now().Add(20 * time.Second); !bytes.Contains(file.Bytes(), []byte("live")) && time.Now().Before(deadline); {
		if _, err := ask(t, p.GetListenAddress(), "live"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.Close()
	if err := <-got; err == nil {
		t.Fatal("a closed follow ended with no error")
	}
	if !bytes.Contains(file.Bytes(), []byte("before")) || !bytes.Contains(file.Bytes(), []byte("live")) {
		t.Fatalf("the followed export lacks the traffic (%d bytes)", len(file.Bytes()))
	}
	pcapngPackets(t, file.Bytes())
}

// The selection's errors are the first Read's.
func TestReadCaptureErrors(t *testing.T) {
	d := startProxyDaemon(t)
	c := dial(t, d.addr)
	ctx := ctxT(t)
	r, err := c.ReadCapture(ctx, ReadCaptureOptions{IDs: []string{"nosuchsocket"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.ReadAll(r); !errors.Is(err, ErrSocketNotFound) {
		t.Fatalf("an unknown socket's capture: %v, want SOCKET_NOT_FOUND", err)
	}
	if _, err := c.SetCapture(ctx, "nosuchsocket", true, 0); !errors.Is(err, ErrSocketNotFound) {
		t.Fatalf("SetCapture of no socket: %v", err)
	}
}

// pcapngBlocks passes a stream cut anywhere as whole blocks, in order, and
// anything that is not pcapng as it comes.
func TestPcapngBlocksCutAnywhere(t *testing.T) {
	d := startProxyDaemon(t)
	c := dial(t, d.addr)
	ctx := ctxT(t)
	echo := lineServer(t, func(l string) string { return l })
	s, err := c.Create(ctx, CreateOptions{Connect: echo})
	if err != nil {
		t.Fatal(err)
	}
	c.SetCapture(ctx, s.GetId(), true, 0)
	c.Send(ctx, s.GetId(), []byte("abc\n"), true, nil)
	c.Recv(ctx, s.GetId(), RecvOptions{MaxBytes: 4, WaitAll: true})
	r, _ := c.ReadCapture(ctx, ReadCaptureOptions{IDs: []string{s.GetId()}})
	file, err := io.ReadAll(r)
	r.Close()
	if err != nil || len(file) < 100 {
		t.Fatalf("export: %d bytes, %v", len(file), err)
	}
	for cut := 0; cut <= len(file); cut++ {
		var b pcapngBlocks
		first := b.add(file[:cut])
		pcapngPackets(t, first) // whole blocks only
		second := b.add(file[cut:])
		if got := append(append(append([]byte(nil), first...), second...), b.rest()...); !bytes.Equal(got, file) {
			t.Fatalf("cut at %d: %d bytes out of %d", cut, len(got), len(file))
		}
		if len(b.rest()) != 0 {
			t.Fatalf("cut at %d: bytes held at the end", cut)
		}
	}
	var b pcapngBlocks
	if got := b.add([]byte("plain text")); string(got) != "plain text" {
		t.Fatalf("not pcapng: %q", got)
	}
	if got := b.add([]byte(" more")); string(got) != " more" {
		t.Fatalf("not pcapng, later: %q", got)
	}
}

// Each fault builder makes a fault sockd takes, of its type, on a proxy of
// a protocol it applies to.
func TestFaultBuilders(t *testing.T) {
	d := startProxyDaemon(t)
	c := dial(t, d.addr)
	ctx := ctxT(t)
	tcp, err := c.CreateProxy(ctx, ProxyOptions{Listen: "127.0.0.1:0", Upstream: "127.0.0.1:9"})
	if err != nil {
		t.Fatal(err)
	}
	udp, err := c.CreateProxy(ctx, ProxyOptions{UDP: true, Listen: "127.0.0.1:0", Upstream: "127.0.0.1:9"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		f   *sockdv1.Fault
		udp bool
	}{
		{LatencyFault(time.Millisecond, time.Microsecond), false}, {BandwidthFault(1000), false},
		{SlicerFault(10, 2, time.Millisecond), false}, {TimeoutFault(time.Second), false},
		{ResetPeerFault(0), false}, {LimitDataFault(5), false}, {SlowCloseFault(time.Millisecond), false},
		{BlackholeFault(), false}, {LossFault(30, 50), true}, {DuplicateFault(5), true},
		{ReorderFault(5, 2), true}, {CorruptFault(1), true},
	} {
		target := OnProxy(tcp.GetId())
		if tc.udp {
			target = OnProxy(udp.GetId())
		}
		got, err := c.AddFault(ctx, target, tc.f)
		if err != nil || got.GetType() != tc.f.GetType() || got.GetDirection() != sockdv1.Direction_DIRECTION_DOWNSTREAM {
			t.Errorf("%v: %v %v", tc.f.GetType(), got, err)
		}
	}
}

// A file too big for one request is refused before it is sent, saying so.
func TestReplayTooBig(t *testing.T) {
	d := startProxyDaemon(t)
	c := dial(t, d.addr)
	_, err := c.Replay(ctxT(t), ReplayOptions{File: make([]byte, 9<<20), To: "127.0.0.1:9"})
	var e *Error
	if !errors.As(err, &e) || e.Code != codes.ResourceExhausted || !strings.Contains(e.Message, "more than the") {
		t.Fatalf("a 9 MiB replay: %v", err)
	}
}
