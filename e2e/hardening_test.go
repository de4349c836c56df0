package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// httpDo makes one HTTP request to sockd with a fresh connection.
func httpDo(t *testing.T, d *daemon, method, path string, body io.Reader, header http.Header) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+d.HTTP+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Add(k, v)
			}
		}
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp, out
}

func socketCount(t *testing.T, d *daemon) int {
	t.Helper()
	code, body := curl(t, d, "GET", "/v1/sockets", nil)
	if code != 200 {
		t.Fatalf("list: %d %v", code, body)
	}
	list, _ := body["sockets"].([]any)
	return len(list)
}

// DNS rebinding: a page of evil.example whose name resolves to 127.0.0.1
// sends its own Host and Origin, which match each other: sockd must refuse
// the Host before doing anything.
func TestDNSRebindingIsRefused(t *testing.T) {
	d := startSockd(t, "--http-allowed-hosts", "sockd.test,other.test")
	_, port, _ := net.SplitHostPort(d.HTTP)
	attack := http.Header{
		"Host":         {"evil.example:" + port},
		"Origin":       {"http://evil.example:" + port},
		"Content-Type": {"text/plain"},
	}
	resp, body := httpDo(t, d, "POST", "/v1/sockets", strings.NewReader(`{"bindAddress":"127.0.0.1:0","listen":true}`), attack)
	if resp.StatusCode != 403 || errorReason(body) != "HOST_NOT_ALLOWED" {
		t.Fatalf("rebinding attack: %d %v", resp.StatusCode, body)
	}
	if n := socketCount(t, d); n != 0 {
		t.Fatalf("the refused request made %d sockets", n)
	}
	// Every path is guarded, the live view and metrics too.
	for _, path := range []string{"/", "/metrics", "/openapi.json", "/v1/events"} {
		if resp, _ := httpDo(t, d, "GET", path, nil, http.Header{"Host": {"evil.example"}}); resp.StatusCode != 403 {
			t.Errorf("GET %s with a foreign Host: %d", path, resp.StatusCode)
		}
	}
	// What sockd serves: IP addresses, localhost and the allowed names.
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port, "sockd.test:" + port, "OTHER.test", "api.localhost"} {
		if resp, body := httpDo(t, d, "GET", "/v1/sockets", nil, http.Header{"Host": {host}}); resp.StatusCode != 200 {
			t.Errorf("Host %s: %d %v", host, resp.StatusCode, body)
		}
	}
	// A same-origin page of an allowed name may drive sockd; one of
	// another origin may not.
	if resp, _ := httpDo(t, d, "GET", "/v1/sockets", nil, http.Header{"Host": {"sockd.test:" + port}, "Origin": {"http://sockd.test:" + port}}); resp.StatusCode != 200 {
		t.Errorf("same-origin page: %d", resp.StatusCode)
	}
	if resp, body := httpDo(t, d, "GET", "/v1/sockets", nil, http.Header{"Host": {"sockd.test:" + port}, "Origin": {"http://other.test:" + port}}); resp.StatusCode != 403 || errorReason(body) != "CROSS_ORIGIN" {
		t.Errorf("cross-origin page: %d %v", resp.StatusCode, body)
	}
}

// zeroBody is a huge JSON body — {"data":"AAAA… — whose decoding goes on
// until the body ends, counting what was read of it.
type zeroBody struct {
	mu   sync.Mutex
	read int64
	max  int64
}

func (z *zeroBody) Read(p []byte) (int, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.read >= z.max {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), z.max-z.read))
	for i := range p[:n] {
		p[i] = 'A'
	}
	if z.read == 0 {
		n = copy(p, `{"data":"`)
	}
	z.read += int64(n)
	return n, nil
}

// A 100 MiB body is answered 413 before it is read (with a length) or once
// the limit is passed (chunked), before authentication.
func TestHugeBodiesAreRefusedBeforeTheyAreRead(t *testing.T) {
	d := startSockd(t, "--token-file", writeTokens(t, aliceToken+" alice"))
	const huge = 100 << 20
	var wg sync.WaitGroup
	codes := make([]int, 4)
	readOf := make([]*zeroBody, 4)
	for i := range 4 {
		wg.Go(func() {
			z := &zeroBody{max: huge}
			readOf[i] = z
			req, _ := http.NewRequest("POST", "http://"+d.HTTP+"/v1/sockets", z)
			if i%2 == 0 {
				req.ContentLength = huge // declared: refused from the headers
			} // else chunked: refused once past the limit
			resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
			if err != nil {
				codes[i] = -1 // the server may cut the upload short: fine, if it said 413 first
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != 413 && c != -1 {
			t.Errorf("upload %d: HTTP %d, want 413", i, c)
		}
	}
	// The chunked one is read no further than the limit plus buffers.
	for i := 1; i < 4; i += 2 {
		readOf[i].mu.Lock()
		if readOf[i].read > 32<<20 {
			t.Errorf("chunked upload %d: %d bytes were read before the refusal", i, readOf[i].read)
		}
		readOf[i].mu.Unlock()
	}
	// With a length, the answer comes before the body.
	for _, declared := range []bool{true, false} {
		z := &zeroBody{max: huge}
		req, _ := http.NewRequest("POST", "http://"+d.HTTP+"/v1/sockets", z)
		if declared {
			req.ContentLength = huge
		}
		resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
		if err != nil {
			t.Errorf("declared %v: %v", declared, err)
			continue
		}
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 413 || errorReason(body) != "LIMIT_EXCEEDED" {
			t.Errorf("100 MiB body (length declared: %v): %d %v", declared, resp.StatusCode, body)
		}
	}
	// (That the memory comes back afterwards is measured by sockbench, on
	// a sockd built without the race detector, whose shadow memory the
	// system never gets back.)
	// A body within the limit still works (with the token).
	resp, body := httpDo(t, d, "POST", "/v1/sockets", strings.NewReader(`{}`), http.Header{"Authorization": {"Bearer " + aliceToken}})
	if resp.StatusCode != 200 {
		t.Fatalf("a normal create: %d %v", resp.StatusCode, body)
	}
}

// Idle keep-alive connections without a token cannot make a token-protected
// sockd unreachable: at the cap, an idle connection gives way to a new one,
// and the descriptors stay bounded.
func TestIdleHTTPConnectionsCannotLockOut(t *testing.T) {
	d := startSockd(t, "--token-file", writeTokens(t, aliceToken+" alice"), "--http-max-conns", "50")
	before := d.fds(t)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 200 {
		c, err := net.Dial("tcp", d.HTTP)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		// Each makes one (refused) request, then sits idle with keep-alive.
		fmt.Fprintf(c, "GET /v1/sockets HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		r := bufio.NewReader(c)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(r, nil)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	if fds := d.fds(t); fds > before+70 {
		t.Errorf("200 idle connections hold %d descriptors (cap 50)", fds-before)
	}
	code, body := curl(t, d, "GET", "/v1/sockets", nil, "Authorization: Bearer "+aliceToken)
	if code != 200 {
		t.Fatalf("with 200 idle connections open, a client with a token got %d %v", code, body)
	}
}

// A body sent one byte every two seconds is cut off by the read timeout.
func TestSlowBodiesAreCut(t *testing.T) {
	d := startSockd(t, "--http-read-timeout", "2s")
	c, err := net.Dial("tcp", d.HTTP)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /v1/sockets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{")
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, c) // returns when sockd closes the connection
		close(closed)
	}()
	for i := 0; i < 15; i++ {
		select {
		case <-closed:
			return
		case <-time.After(2 * time.Second):
			c.Write([]byte(" "))
		}
	}
	t.Fatal("a body trickling in at a byte per 2 s was held for 30 s")
}

// The gRPC listener refuses connections over its cap, and connections that
// never speak are dropped after the handshake timeout, so a client gets in.
func TestGRPCConnectionCap(t *testing.T) {
	d := startSockd(t, "--grpc-max-conns", "20")
	before := d.fds(t)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 60 {
		c, err := net.Dial("tcp", d.GRPC)
		if err == nil {
			conns = append(conns, c)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if fds := d.fds(t); fds > before+25 {
		t.Errorf("60 silent connections hold %d descriptors (cap 20)", fds-before)
	}
	// Silent connections are dropped after 10 s; a real client then works.
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var lastErr error
	for ctx.Err() == nil {
		c, closeConn := d.dial(t)
		callCtx, callCancel := context.WithTimeout(ctx, 3*time.Second)
		_, lastErr = c.ListSockets(callCtx, &sockdv1.ListSocketsRequest{})
		callCancel()
		closeConn()
		if lastErr == nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("no gRPC call got through within 40 s: %v", lastErr)
}

// A UDP socket connected to an amplifier port cannot send there: connect
// gets the same rule as sendto. In a namespace of the test's own, where a
// packet to 10.0.0.0/8 would leave through v0 and be counted.
func TestUDPConnectGetsTheAmplifierRule(t *testing.T) {
	if !inNetns(t, "127.0.0.1 localhost\n") {
		return
	}
	d := startSockd(t, "--allow-connect", "10.0.0.0/8", "--allow-connect", "127.0.0.0/8")
	c := d.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	udp := &sockdv1.CreateSocketRequest{Protocol: sockdv1.Protocol_PROTOCOL_UDP}
	before := quietTxPackets(t, "v0")
	for _, addr := range []string{"10.0.0.7:123", "10.0.0.7:53", "127.0.0.1:53", "127.0.0.1:11211", "10.0.0.7:19"} {
		u, err := c.CreateSocket(ctx, udp)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Connect(ctx, &sockdv1.ConnectRequest{Id: u.GetId(), Address: addr})
		wantStatus(t, err, codes.PermissionDenied, "POLICY_DENIED")
		_, err = c.SendTo(ctx, &sockdv1.SendToRequest{Id: u.GetId(), Address: addr, Payload: &sockdv1.SendToRequest_Text{Text: "x"}})
		wantStatus(t, err, codes.PermissionDenied, "POLICY_DENIED")
		// The one-call form is refused too.
		_, err = c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{Protocol: sockdv1.Protocol_PROTOCOL_UDP, ConnectAddress: addr})
		wantStatus(t, err, codes.PermissionDenied, "POLICY_DENIED")
	}
	if after := txPackets(t, "v0"); after != before {
		t.Fatalf("%d packets left through v0 towards amplifier ports", after-before)
	}
	// Control: a port that is no amplifier is reached (so the count works).
	u, err := c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{Protocol: sockdv1.Protocol_PROTOCOL_UDP, ConnectAddress: "10.0.0.7:9999"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, &sockdv1.SendRequest{Id: u.GetId(), Payload: &sockdv1.SendRequest_Text{Text: "x"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the control datagram on v0", func() bool { return txPackets(t, "v0") > before })
}

// Invalid UTF-8 anywhere is INVALID_ARGUMENT / 400, never INTERNAL / 500.
func TestInvalidUTF8IsInvalidArgument(t *testing.T) {
	d := startSockd(t)
	for _, tc := range []struct {
		method, path, body string
	}{
		{"GET", "/v1/sockets/%ff%fe", ""},
		{"DELETE", "/v1/sockets/ab%c3", ""},
		{"GET", "/v1/sockets?labelSelector=a%3D%ff", ""},
		{"POST", "/v1/sockets", "{\"name\":\"\xff\xfe\"}"},
		{"POST", "/v1/sockets", "{\"labels\":{\"k\":\"\xc3\"}}"},
		{"POST", "/v1/sockets", "{\"bindAddress\":\"127.0.0.1:\xff\"}"},
		{"POST", "/v1/sockets/%ff:bind", `{"address":"127.0.0.1:0"}`},
	} {
		resp, body := httpDo(t, d, tc.method, tc.path, strings.NewReader(tc.body), nil)
		if resp.StatusCode != 400 || errorReason(body) == "" {
			t.Errorf("%s %s %q: %d %v, want 400 with a reason", tc.method, tc.path, tc.body, resp.StatusCode, body)
		}
	}
	// Over gRPC: a request whose id field holds invalid UTF-8.
	raw := protowire.AppendTag(nil, 1, protowire.BytesType)
	raw = protowire.AppendBytes(raw, []byte("\xff\xfe"))
	err := rawCall(t, d, "/sockd.v1.SocketService/GetSocket", raw)
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || reasonOf(st) != "MALFORMED_REQUEST" {
		t.Errorf("gRPC GetSocket with invalid UTF-8: %v", err)
	}
}

// rawCodec sends and receives messages as the bytes they are.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

var _ encoding.Codec = rawCodec{}

// rawCall sends wire bytes as the request of a unary method.
func rawCall(t *testing.T, d *daemon, method string, req []byte) error {
	t.Helper()
	conn, err := grpc.NewClient(d.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var resp []byte
	return conn.Invoke(ctx, method, &req, &resp, grpc.ForceCodec(rawCodec{}))
}

// reasonOf is a status's ErrorInfo reason.
func reasonOf(st *status.Status) string {
	for _, det := range st.Details() {
		if info, ok := det.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// wantStatus checks a gRPC error's code and reason.
func wantStatus(t *testing.T, err error, code codes.Code, reason string) {
	t.Helper()
	if st := status.Convert(err); st.Code() != code || reasonOf(st) != reason {
		t.Fatalf("error %v: want %s %s", err, code, reason)
	}
}

// Malformed wire data is INVALID_ARGUMENT and logged, never INTERNAL.
func TestMalformedWireDataIsInvalidArgument(t *testing.T) {
	d := startSockd(t)
	for _, raw := range [][]byte{
		{0xff, 0xff, 0xff, 0xff, 0xff},      // a tag that never ends
		{0x0a, 0x7f, 'a'},                   // a length past the end
		{0x12, 0x03, 0xff, 0xfe, 0xfd},      // invalid UTF-8 in a string
		bytes.Repeat([]byte{0x0a, 0x00}, 9), // fine, empty ids: a validation error
	} {
		for _, method := range []string{"GetSocket", "CreateSocket", "Recv", "Bind"} {
			err := rawCall(t, d, "/sockd.v1.SocketService/"+method, raw)
			if st := status.Convert(err); st.Code() == codes.Internal || st.Code() == codes.Unknown || st.Code() == codes.OK && method != "CreateSocket" {
				t.Errorf("%s %x: %v", method, raw, err)
			}
		}
	}
	waitFor(t, "a log line about the malformed request", func() bool { return strings.Contains(d.logs.String(), "malformed request") })
}

// A route asked with a method it does not take is 405 with Allow.
func TestWrongMethodIs405(t *testing.T) {
	d := startSockd(t)
	for _, tc := range []struct{ method, path, allow string }{
		{"PUT", "/v1/sockets", "GET, POST"},
		{"PATCH", "/v1/sockets/abc", "DELETE, GET"},
		{"HEAD", "/v1/sockets/abc", "DELETE, GET"},
		{"GET", "/v1/replays", "POST"},
		{"PUT", "/v1/info", "GET"},
		{"DELETE", "/v1/events", "GET"},
	} {
		resp, body := httpDo(t, d, tc.method, tc.path, nil, nil)
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q, want 405 Allow %q (%v)", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), tc.allow, body)
		}
		if tc.method != "HEAD" && errorReason(body) != "METHOD_NOT_ALLOWED" {
			t.Errorf("%s %s: body %v", tc.method, tc.path, body)
		}
	}
	if resp, body := httpDo(t, d, "GET", "/v1/nothing", nil, nil); resp.StatusCode != 404 || errorReason(body) != "ROUTE_NOT_FOUND" {
		t.Errorf("no such route: %d %v", resp.StatusCode, body)
	}
}

// 3,000 wrong tokens: after the first few, the address is throttled
// (AUTH_THROTTLED) without its guesses being checked, and the log says so
// in a few lines, not thousands.
func TestFailedLoginsAreLoggedAndThrottled(t *testing.T) {
	d := startSockd(t, "--token-file", writeTokens(t, aliceToken+" alice"))
	c, closeConn := d.dial(t)
	defer closeConn()
	var unauth, throttled int
	for i := range 3000 {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", fmt.Sprintf("Bearer wrong-token-%08d", i))
		_, err := c.ListSockets(ctx, &sockdv1.ListSocketsRequest{})
		switch st := status.Convert(err); {
		case st.Code() == codes.Unauthenticated:
			unauth++
		case st.Code() == codes.ResourceExhausted && reasonOf(st) == "AUTH_THROTTLED":
			throttled++
		default:
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if unauth > 40 || throttled < 2900 {
		t.Errorf("3000 guesses: %d checked, %d throttled", unauth, throttled)
	}
	// REST is throttled the same way (the same address). The bucket
	// refills one failure a second, so a REST call that comes more than a
	// second after the last guess (a slow machine) may be checked (401); the
	// next one, right after it, finds the bucket empty again.
	for try := 1; ; try++ {
		code, body := curl(t, d, "GET", "/v1/sockets", nil, "Authorization: Bearer nope-nope-nope-nope")
		if code == 429 && errorReason(body) == "AUTH_THROTTLED" {
			break
		}
		if code != 401 || try == 5 {
			t.Fatalf("REST while throttled, try %d: %d %v", try, code, body)
		}
	}
	lines := strings.Count(d.logs.String(), "authentication failed")
	if lines == 0 || lines > 5 {
		t.Errorf("%d log lines for 3000 failed logins, want a few", lines)
	}
	// The bucket refills: the right token works again after a while.
	waitFor(t, "the throttle to lift", func() bool {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+aliceToken)
		_, err := c.ListSockets(ctx, &sockdv1.ListSocketsRequest{})
		return err == nil
	})
}

// A principal's open streams are capped, REST watchers included; closing
// one makes room.
func TestStreamsPerPrincipalAreCapped(t *testing.T) {
	d := startSockd(t, "--max-streams-per-principal", "4")
	c, closeConn := d.dial(t)
	defer closeConn()
	var cancels []context.CancelFunc
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		if _, err := c.WatchEvents(ctx, &sockdv1.WatchEventsRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	// The fourth is a REST watcher that never reads.
	rest, err := net.Dial("tcp", d.HTTP)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(rest, "GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	waitFor(t, "four streams", func() bool { return streamCount(t, d) == 4 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.WatchEvents(ctx, &sockdv1.WatchEventsRequest{})
	if err == nil {
		_, err = st.Recv()
	}
	if s := status.Convert(err); s.Code() != codes.ResourceExhausted || reasonOf(s) != "LIMIT_EXCEEDED" {
		t.Fatalf("a fifth stream: %v", err)
	}
	code, body := curl(t, d, "GET", "/v1/events", nil)
	// A stream's error comes in grpc-gateway's stream envelope: {"error": Status}.
	if inner, ok := body["error"].(map[string]any); ok {
		body = inner
	}
	if code != 429 || errorReason(body) != "LIMIT_EXCEEDED" {
		t.Fatalf("a fifth stream over REST: %d %v", code, body)
	}
	rest.Close()
	waitFor(t, "the REST watcher's stream to end", func() bool { return streamCount(t, d) == 3 })
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	if _, err := c.WatchEvents(ctx2, &sockdv1.WatchEventsRequest{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new stream after one closed", func() bool { return streamCount(t, d) == 4 })
}

// streamCount reads the open WatchEvents streams from /metrics.
func streamCount(t *testing.T, d *daemon) int {
	t.Helper()
	resp, err := http.Get("http://" + d.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	started, handled := 0.0, 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `grpc_method="WatchEvents"`) {
			continue
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		switch {
		case strings.HasPrefix(line, "grpc_server_started_total"):
			started += v
		case strings.HasPrefix(line, "grpc_server_handled_total"):
			handled += v
		}
	}
	return int(started - handled)
}

// On SIGTERM a call waiting on a socket gets UNAVAILABLE SHUTTING_DOWN —
// not a fake end of stream from its peer being closed first — and every
// log line stays in the configured format.
func TestSIGTERMAnswersWaitingCallsShuttingDown(t *testing.T) {
	d := startSockd(t, "--shutdown-timeout", "500ms")
	c := d.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{BindAddress: "127.0.0.1:0", Listen: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{ConnectAddress: l.GetLocalAddress()}); err != nil {
		t.Fatal(err)
	}
	b, err := c.Accept(ctx, &sockdv1.AcceptRequest{Id: l.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	go func() {
		_, err := c.Recv(ctx, &sockdv1.RecvRequest{Id: b.GetId(), MaxBytes: 100})
		errs <- err
	}()
	// And a REST watcher, whose cut-off would print "Failed to flush".
	go func() {
		resp, err := http.Get("http://" + d.HTTP + "/v1/events")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	time.Sleep(300 * time.Millisecond)
	d.stop(t)
	wantStatus(t, <-errs, codes.Unavailable, "SHUTTING_DOWN")
	for _, line := range strings.Split(strings.TrimSpace(d.logs.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("a log line not in the JSON format: %q", line)
		}
	}
}
