package e2e

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/service"
)

// logLines are the daemon's JSON log records so far.
func logLines(t *testing.T, d *daemon) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(d.logs.String(), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("a log line that is not JSON (--log-format json): %q", line)
		}
		out = append(out, rec)
	}
	return out
}

// One structured line per call at info — method, code, duration, principal,
// socket id, request id — and, at debug, a line per data-path call with its
// byte counts. At the default level the debug lines stay out.
func TestLogsOneLinePerCall(t *testing.T) {
	for _, level := range []string{"debug", "info"} {
		t.Run(level, func(t *testing.T) {
			d := startSockd(t, "--log-level", level)
			c := dialClient(t, d)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			l, err := c.Create(ctx, client.CreateOptions{Bind: "127.0.0.1:0", Listen: true})
			if err != nil {
				t.Fatal(err)
			}
			s, err := c.Create(ctx, client.CreateOptions{Connect: l.GetLocalAddress()})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Send(ctx, s.GetId(), []byte("hello"), true, nil); err != nil {
				t.Fatal(err)
			}
			_, err = c.Get(ctx, "bbbbbbbbbbbbbbbbbbbbbbbb")
			if err == nil {
				t.Fatal("lookup of an unknown id succeeded")
			}
			d.stop(t) // all lines written

			var calls, sends []map[string]any
			for _, rec := range logLines(t, d) {
				switch rec["msg"] {
				case "finished call":
					if rec["grpc.method"] == "GetServerInfo" {
						continue // the client asks once per connection, to size its calls
					}
					calls = append(calls, rec)
				case "send":
					sends = append(sends, rec)
				}
			}
			want := []struct{ method, code, socket string }{
				{"CreateSocket", "OK", ""}, {"CreateSocket", "OK", ""}, {"Send", "OK", s.GetId()}, {"GetSocket", "NotFound", "bbbbbbbbbbbbbbbbbbbbbbbb"},
			}
			if len(calls) != len(want) {
				t.Fatalf("%d call lines, want %d (one per call): %v", len(calls), len(want), calls)
			}
			for i, w := range want {
				rec := calls[i]
				if rec["grpc.method"] != w.method || rec["grpc.code"] != w.code || rec["principal"] != "anonymous" {
					t.Errorf("call %d: %v, want %s %s by anonymous", i, rec, w.method, w.code)
				}
				if w.socket != "" && rec["socketId"] != w.socket {
					t.Errorf("call %d: socketId %v, want %s", i, rec["socketId"], w.socket)
				}
				if _, ok := rec["grpc.time_ms"]; !ok {
					t.Errorf("call %d has no duration: %v", i, rec)
				}
				if id, _ := rec["requestId"].(string); len(id) != 16 {
					t.Errorf("call %d has no request id: %v", i, rec)
				}
			}
			if want := map[string]int{"debug": 1, "info": 0}[level]; len(sends) != want {
				t.Fatalf("at %s, %d data-path lines for the send, want %d", level, len(sends), want)
			}
			if level == "debug" && (sends[0]["bytes"] != 5.0 || sends[0]["sent"] != 5.0 || sends[0]["socketId"] != s.GetId()) {
				t.Errorf("debug send line: %v", sends[0])
			}
		})
	}
}

// The default format, text (logfmt, as slog writes it): the same one line
// per call, with the same keys, readable by eye and by logfmt tools.
func TestLogsInTextFormat(t *testing.T) {
	d := startSockd(t, "--log-format", "text")
	c := dialClient(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Create(ctx, client.CreateOptions{Bind: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "bbbbbbbbbbbbbbbbbbbbbbbb"); err == nil {
		t.Fatal("lookup of an unknown id succeeded")
	}
	d.stop(t)

	var calls []string
	for _, line := range strings.Split(strings.TrimSpace(d.logs.String()), "\n") {
		if strings.HasPrefix(line, "{") || !strings.HasPrefix(line, "time=") {
			t.Fatalf("not a text log line: %q", line)
		}
		if strings.Contains(line, ` msg="finished call" `) {
			calls = append(calls, line)
		}
	}
	want := [][]string{
		{"level=INFO", "grpc.method=CreateSocket", "grpc.code=OK", "principal=anonymous", "grpc.time_ms="},
		{"level=INFO", "grpc.method=GetSocket", "grpc.code=NotFound", "socketId=bbbbbbbbbbbbbbbbbbbbbbbb", "principal=anonymous"},
	}
	if len(calls) != len(want) {
		t.Fatalf("%d call lines, want %d:\n%s", len(calls), len(want), strings.Join(calls, "\n"))
	}
	for i, keys := range want {
		for _, k := range append(keys, "requestId=") {
			if !strings.Contains(calls[i], " "+k) {
				t.Errorf("call %d: no %q in %s", i, k, calls[i])
			}
		}
	}
}

// A REST call's line names the HTTP client (the address curl connected
// from), not the gateway's in-process connection; and nobody can put
// another address there, neither by an HTTP header nor by gRPC metadata.
func TestLogsNameTheRESTCaller(t *testing.T) {
	d := startSockd(t)
	const spoof = "203.0.113.9:1"
	curl(t, d, "GET", "/v1/sockets/rest-caller", nil,
		"X-Sockd-Http-Client: "+spoof, "Grpc-Metadata-X-Sockd-Http-Client: "+spoof)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, service.HTTPClientHeader, spoof)
	if _, err := d.client(t).GetSocket(ctx, &sockdv1.GetSocketRequest{Id: "grpc-caller"}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetSocket of an unknown name: %v, want NotFound", err)
	}
	d.stop(t)

	peers := map[string]string{}
	for _, rec := range logLines(t, d) {
		if rec["msg"] == "finished call" {
			addr, _ := rec["peer.address"].(string)
			peers[rec["socketId"].(string)] = addr
		}
	}
	for _, who := range []string{"rest-caller", "grpc-caller"} {
		addr := peers[who]
		if _, port, err := net.SplitHostPort(addr); err != nil || !strings.HasPrefix(addr, "127.0.0.1:") || port == "0" {
			t.Errorf("%s's log line has peer.address %q, want the loopback address it called from", who, addr)
		}
	}
	if strings.Contains(d.logs.String(), spoof) {
		t.Errorf("a caller put %s into the log:\n%s", spoof, d.logs.String())
	}
}

// The level of a call's line follows its code (docs/observability.md):
// the ways sockets fail are info, what an operator should see is warn; and
// a REST call says protocol=rest.
func TestLogLevelsByCode(t *testing.T) {
	d := startSockd(t)
	c := d.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{BindAddress: "127.0.0.1:0", Listen: true})
	if err != nil {
		t.Fatal(err)
	}
	c.CloseSocket(ctx, &sockdv1.CloseSocketRequest{Id: l.GetId()})
	c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{ConnectAddress: l.GetLocalAddress()})  // refused: Unavailable
	c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{ConnectAddress: "169.254.169.254:80"}) // policy: PermissionDenied
	c.GetSocket(ctx, &sockdv1.GetSocketRequest{Id: "bbbbbbbbbbbbbbbbbbbbbbbb"})             // NotFound
	c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{BindAddress: "127.1:80"})              // InvalidArgument
	curl(t, d, "GET", "/v1/sockets", nil)                                                   // OK, over REST
	d.stop(t)
	want := map[string]string{"Unavailable": "INFO", "PermissionDenied": "WARN", "NotFound": "INFO", "InvalidArgument": "INFO"}
	seen := map[string]bool{}
	rest := false
	for _, rec := range logLines(t, d) {
		if rec["msg"] != "finished call" {
			continue
		}
		code, _ := rec["grpc.code"].(string)
		if lvl, ok := want[code]; ok {
			seen[code] = true
			if rec["level"] != lvl {
				t.Errorf("%s logged at %v, want %s", code, rec["level"], lvl)
			}
		}
		switch {
		case rec["grpc.method"] == "ListSockets":
			rest = true
			if rec["protocol"] != "rest" {
				t.Errorf("a REST call says protocol=%v", rec["protocol"])
			}
		case rec["protocol"] != "grpc":
			t.Errorf("a gRPC call says protocol=%v", rec["protocol"])
		}
	}
	if len(seen) != len(want) || !rest {
		t.Errorf("saw codes %v and a REST call: %v", seen, rest)
	}
}
