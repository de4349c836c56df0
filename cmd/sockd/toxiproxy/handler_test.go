package toxiproxy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sockd/sockd/cmd/sockd/toxiproxy"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/relay"
	"github.com/sockd/sockd/service"
	"github.com/sockd/sockd/sockmgr"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// stack is the handler in front of a real ProxyService (sockmgr and relay
// underneath, the service's interceptors), reached as in the daemon: over
// a gateway connection, through a real HTTP server on loopback.
type stack struct {
	url  string
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newStack(t *testing.T, auth service.AuthConfig) *stack {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	sm := sockmgr.New(sockmgr.Config{})
	rm := relay.New(sm, relay.Config{CloseLinger: 200 * time.Millisecond})
	done := make(chan struct{})
	auth.Log = log
	unary, stream := service.Interceptors(service.InterceptorConfig{Log: log, Auth: service.NewAuth(auth), StreamsDone: done})
	srv := grpc.NewServer(append(service.ServerOptions(), grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(stream...))...)
	sockdv1.RegisterProxyServiceServer(srv, service.NewProxyServer(rm, nil))
	gl := service.NewGatewayListener()
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(gl) }()
	cc, err := grpc.NewClient("passthrough:///sockd-gateway",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return gl.Dial(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: toxiproxy.NewHandler(cc, toxiproxy.Options{Version: "test-version"}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(l) }()
	t.Cleanup(func() {
		_ = hs.Close()
		_ = cc.Close()
		close(done)
		srv.Stop()
		<-served
		_ = rm.Close()
		_ = sm.Close()
	})
	return &stack{url: "http://" + l.Addr().String(), logs: logs}
}

// do makes a request and decodes a JSON answer into out (if not nil).
func (s *stack) do(t *testing.T, method, path, body string, out any, header ...string) (int, http.Header) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range header {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v in %q", method, path, err, raw)
		}
	}
	return resp.StatusCode, resp.Header
}

func (s *stack) want(t *testing.T, code int, method, path, body string, out any, header ...string) {
	t.Helper()
	var raw json.RawMessage
	got, _ := s.do(t, method, path, body, &raw, header...)
	if got != code {
		t.Fatalf("%s %s %s: %d %s, want %d", method, path, body, got, raw, code)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatal(err)
		}
	}
}

type proxy struct {
	Name, Listen, Upstream, Protocol string
	Enabled                          bool
	Toxics                           []toxic
}

type toxic struct {
	Name, Type, Stream string
	Toxicity           float64
	Attributes         map[string]float64
}

type apiErr struct {
	Error  string
	Status int
}

// listener is a TCP peer that accepts and holds connections.
func listener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func TestToxicUpdateLaysAttributesOver(t *testing.T) {
	s := newStack(t, service.AuthConfig{})
	up := listener(t)
	s.want(t, 201, "POST", "/proxies", `{"name":"db","listen":"127.0.0.1:0","upstream":"`+up+`"}`, nil)
	var tx toxic
	s.want(t, 200, "POST", "/proxies/db/toxics", `{"type":"slicer","toxicity":0.25,"attributes":{"average_size":100,"size_variation":10,"delay":1500}}`, &tx)
	if tx.Name != "slicer_downstream" || tx.Toxicity != 0.25 || tx.Attributes["average_size"] != 100 || tx.Attributes["size_variation"] != 10 || tx.Attributes["delay"] != 1500 {
		t.Fatalf("slicer: %+v", tx)
	}
	// Only delay changes; the toxicity stays without one in the body.
	s.want(t, 200, "POST", "/proxies/db/toxics/slicer_downstream", `{"attributes":{"delay":20}}`, &tx)
	if tx.Toxicity != 0.25 || tx.Attributes["average_size"] != 100 || tx.Attributes["size_variation"] != 10 || tx.Attributes["delay"] != 20 {
		t.Fatalf("after the update: %+v", tx)
	}
	s.want(t, 200, "POST", "/proxies/db/toxics/slicer_downstream", `{"toxicity":1}`, &tx)
	if tx.Toxicity != 1 || tx.Attributes["delay"] != 20 {
		t.Fatalf("after the toxicity update: %+v", tx)
	}
	// A blackhole (sockd's type, no attributes) updates its toxicity.
	tx = toxic{}
	s.want(t, 200, "POST", "/proxies/db/toxics", `{"type":"blackhole","stream":"UpStream","toxicity":0}`, &tx)
	if tx.Name != "blackhole_upstream" || tx.Stream != "upstream" || tx.Toxicity != 0 || len(tx.Attributes) != 0 {
		t.Fatalf("blackhole: %+v", tx)
	}
	s.want(t, 200, "POST", "/proxies/db/toxics/blackhole_upstream", `{"toxicity":0.5}`, &tx)
	// The listing: upstream toxics first.
	var list []toxic
	s.want(t, 200, "GET", "/proxies/db/toxics", "", &list)
	if len(list) != 2 || list[0].Name != "blackhole_upstream" || list[0].Toxicity != 0.5 || list[1].Name != "slicer_downstream" {
		t.Fatalf("toxics: %+v", list)
	}
	var e apiErr
	s.want(t, 400, "POST", "/proxies/db/toxics/slicer_downstream", `{"attributes":{"size_variation":100}}`, &e)
	if !strings.Contains(e.Error, "attributes.size_variation") {
		t.Errorf("a bad update: %+v", e)
	}
}

// A new listen address that is taken leaves the proxy as toxiproxy does:
// disabled at the new address, its toxics kept.
func TestMovingToATakenPortLeavesTheProxyDisabled(t *testing.T) {
	s := newStack(t, service.AuthConfig{})
	up := listener(t)
	var a, b proxy
	s.want(t, 201, "POST", "/proxies", `{"name":"a","listen":"127.0.0.1:0","upstream":"`+up+`"}`, &a)
	s.want(t, 201, "POST", "/proxies", `{"name":"b","listen":"127.0.0.1:0","upstream":"`+up+`"}`, &b)
	s.want(t, 200, "POST", "/proxies/b/toxics", `{"type":"latency","attributes":{"latency":5}}`, nil)
	var e apiErr
	s.want(t, 500, "POST", "/proxies/b", `{"listen":"`+a.Listen+`"}`, &e)
	if e.Error != "listen tcp "+a.Listen+": bind: address already in use" {
		t.Errorf("moving onto a taken port: %+v", e)
	}
	var got proxy
	s.want(t, 200, "GET", "/proxies/b", "", &got)
	if got.Enabled || got.Listen != a.Listen || len(got.Toxics) != 1 || got.Upstream != up {
		t.Errorf("after the failed move: %+v", got)
	}
	// An address sockd refuses outright leaves it as it was.
	s.want(t, 200, "POST", "/proxies/b", `{"listen":"127.0.0.1:0","enabled":true}`, &b)
	s.want(t, 400, "POST", "/proxies/b", `{"listen":"no-port"}`, nil)
	s.want(t, 200, "GET", "/proxies/b", "", &got)
	if got.Listen != b.Listen || !got.Enabled || len(got.Toxics) != 1 {
		t.Errorf("after a refused move: %+v, was %+v", got, b)
	}
}

func TestPopulateKeepsReplacesAndStopsAtAFailure(t *testing.T) {
	s := newStack(t, service.AuthConfig{})
	up := listener(t)
	var keep, repl, taken proxy
	s.want(t, 201, "POST", "/proxies", `{"name":"keep","listen":"127.0.0.1:0","upstream":"`+up+`"}`, &keep)
	s.want(t, 201, "POST", "/proxies", `{"name":"repl","listen":"127.0.0.1:0","upstream":"`+up+`"}`, &repl)
	s.want(t, 201, "POST", "/proxies", `{"name":"taken","listen":"127.0.0.1:0","upstream":"`+up+`"}`, &taken)
	for _, name := range []string{"keep", "repl"} {
		s.want(t, 200, "POST", "/proxies/"+name+"/toxics", `{"type":"timeout"}`, nil)
	}
	var resp struct {
		Error   string
		Status  int
		Proxies []proxy
	}
	// keep: as it is (kept, toxic and all); fresh: new; repl: a new
	// listen that is taken — the request ends there; never: not made.
	body := `[{"name":"keep","listen":"` + keep.Listen + `","upstream":"` + up + `"},` +
		`{"name":"fresh","listen":"127.0.0.1:0","upstream":"` + up + `","enabled":false},` +
		`{"name":"repl","listen":"` + taken.Listen + `","upstream":"` + up + `"},` +
		`{"name":"never","listen":"127.0.0.1:0","upstream":"` + up + `"}]`
	s.want(t, 500, "POST", "/populate", body, &resp)
	if resp.Status != 500 || !strings.Contains(resp.Error, "address already in use") || len(resp.Proxies) != 2 ||
		resp.Proxies[0].Name != "keep" || len(resp.Proxies[0].Toxics) != 1 || resp.Proxies[1].Name != "fresh" || resp.Proxies[1].Enabled {
		t.Fatalf("populate: %+v", resp)
	}
	all := map[string]proxy{}
	s.want(t, 200, "GET", "/proxies", "", &all)
	if _, ok := all["never"]; ok || len(all) != 4 {
		t.Errorf("after populate: %+v", all)
	}
	// repl failed to be replaced: the old one, stopped, toxic kept.
	if r := all["repl"]; r.Enabled || r.Listen != repl.Listen || len(r.Toxics) != 1 {
		t.Errorf("repl after the failed replace: %+v, was %+v", r, repl)
	}
	// A successful replace: a new proxy, without the toxics.
	resp.Proxies = nil
	s.want(t, 201, "POST", "/populate", `[{"name":"repl","listen":"127.0.0.1:0","upstream":"`+up+`"}]`, &resp)
	if len(resp.Proxies) != 1 || !resp.Proxies[0].Enabled || len(resp.Proxies[0].Toxics) != 0 || resp.Proxies[0].Listen == repl.Listen {
		t.Errorf("replaced: %+v", resp)
	}

	// reset: every proxy enabled, every toxic removed.
	s.want(t, 204, "POST", "/reset", "", nil)
	all = map[string]proxy{}
	s.want(t, 200, "GET", "/proxies", "", &all)
	for name, p := range all {
		if !p.Enabled || len(p.Toxics) != 0 {
			t.Errorf("after reset %s: %+v", name, p)
		}
	}
}

// Requests reach sockd as the gateway's do: with the caller's token, its
// address and the request's id, which sockd's log line shows.
func TestCallsCarryTheCallersCredentialsAndAddress(t *testing.T) {
	s := newStack(t, service.AuthConfig{
		Tokens: []service.Token{{Secret: "alice-token-0123456789", Principal: "alice"}, {Secret: "bob-token-0123456789ab", Principal: "bob"}, {Secret: "root-token-0123456789a", Principal: "root"}},
		Admins: []string{"root"},
	})
	up := listener(t)
	var e apiErr
	code, hdr := s.do(t, "GET", "/proxies", "", &e)
	if code != 401 || e.Status != 401 || !strings.Contains(e.Error, "missing credentials") || hdr.Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d %+v %v", code, e, hdr)
	}
	alice, bob, root := "Authorization: Bearer alice-token-0123456789", "Authorization: Bearer bob-token-0123456789ab", "Authorization: Bearer root-token-0123456789a"
	code, hdr = s.do(t, "POST", "/proxies", `{"name":"redis","listen":"127.0.0.1:0","upstream":"`+up+`"}`, nil, alice)
	if code != 201 {
		t.Fatalf("alice creates: %d", code)
	}
	id := hdr.Get("X-Toxiproxy-Request-Id")
	var line struct {
		RequestID, Principal, Method string
		PeerAddress                  string `json:"peer.address"`
	}
	for _, l := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(l, id) && strings.Contains(l, "CreateProxy") {
			_ = json.Unmarshal([]byte(l), &line)
		}
	}
	if line.RequestID != id || line.Principal != "alice" || !strings.HasPrefix(line.PeerAddress, "127.0.0.1:") {
		t.Errorf("sockd's log line of the create (request id %s): %+v\n%s", id, line, s.logs.String())
	}
	s.want(t, 201, "POST", "/proxies", `{"name":"redis","listen":"127.0.0.1:0","upstream":"`+up+`"}`, nil, bob)
	// An admin sees both: the second "redis" under its id.
	all := map[string]proxy{}
	s.want(t, 200, "GET", "/proxies", "", &all, root)
	if len(all) != 2 || all["redis"].Name != "redis" {
		t.Fatalf("the admin's list: %+v", all)
	}
	for key, p := range all {
		if key != p.Name {
			t.Errorf("listed as %q, named %q", key, p.Name)
		}
		if key != "redis" {
			var byID proxy
			s.want(t, 200, "GET", "/proxies/"+key, "", &byID, root)
			if byID.Name != key || byID.Upstream != up {
				t.Errorf("by id: %+v", byID)
			}
		}
	}
}

// Routes that are not toxiproxy's, methods a route does not take, and
// /version's plain text.
func TestUnknownRoutesAndMethods(t *testing.T) {
	s := newStack(t, service.AuthConfig{})
	var e apiErr
	code, hdr := s.do(t, "PATCH", "/proxies/x/toxics/y", "", &e)
	if code != 405 || e.Status != 405 || hdr.Get("Allow") != "DELETE, GET, POST" {
		t.Errorf("PATCH: %d %+v %v", code, e, hdr)
	}
	code, _ = s.do(t, "GET", "/proxies/x/toxics/y/z", "", &e)
	if code != 404 || e.Status != 404 {
		t.Errorf("a deeper path: %d %+v", code, e)
	}
	var text string
	req, _ := http.NewRequest("GET", s.url+"/version", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text = string(b)
	if resp.StatusCode != 200 || text != "test-version" || resp.Header.Get("Content-Type") != "text/plain;charset=utf-8" {
		t.Errorf("version: %d %q %v", resp.StatusCode, text, resp.Header)
	}
	http.DefaultClient.CloseIdleConnections()
}
