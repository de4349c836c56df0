package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/client"
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
