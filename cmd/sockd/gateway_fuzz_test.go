package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fuzzDaemon is one real sockd (sockmgr, service, gateway) built in the
// test process, shared by the fuzz inputs; its HTTP handler is driven
// directly.
var fuzzDaemon struct {
	once    sync.Once
	handler http.Handler
	err     error
}

func gatewayHandler(t testing.TB) http.Handler {
	fuzzDaemon.once.Do(func() {
		cfg, err := parseConfig([]string{"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-level", "error",
			"--rate", "0", "--max-streams-per-principal", "10000", "--rest-call-timeout", "200ms"}, io.Discard)
		if err != nil {
			fuzzDaemon.err = err
			return
		}
		d, err := build(cfg, io.Discard)
		if err != nil {
			fuzzDaemon.err = err
			return
		}
		go d.serve(context.Background()) // lives as long as the test binary
		fuzzDaemon.handler = d.httpSrv.Handler
	})
	if fuzzDaemon.err != nil {
		t.Fatal(fuzzDaemon.err)
	}
	return fuzzDaemon.handler
}

// FuzzGatewayHTTP sends arbitrary requests — method, path, query, headers,
// body — through the real HTTP side and the real service: whatever comes
// in, the answer is never a 5xx (a client's mistake is never sockd's
// fault), and every error body carries a reason.
func FuzzGatewayHTTP(f *testing.F) {
	for _, seed := range []struct{ method, target, header, body string }{
		{"POST", "/v1/sockets", "Content-Type: application/json", `{"bindAddress":"127.0.0.1:0","listen":true}`},
		{"POST", "/v1/sockets", "", `{"protocol":"PROTOCOL_UDP","name":"u1"}`},
		{"GET", "/v1/sockets?labelSelector=a%3Db&pageSize=2", "", ""},
		{"GET", "/v1/sockets/nosuchsocket000", "", ""},
		{"DELETE", "/v1/sockets/u1", "", ""},
		{"POST", "/v1/sockets/u1:recv", "Grpc-Timeout: 1m", `{"maxBytes":10,"timeout":"0s"}`},
		{"POST", "/v1/sockets/u1:sendTo", "", `{"address":"127.0.0.1:9","text":"hi"}`},
		{"POST", "/v1/sockets/x:send", "", `{"data":"aGk=","offset":"5"}`},
		{"GET", "/v1/sockets/x/options/SO_RCVBUF", "", ""},
		{"POST", "/v1/leases", "", `{"ttl":"5s"}`},
		{"GET", "/v1/events?since=0", "", ""},
		{"GET", "/v1/info", "", ""},
		{"GET", "/v1/proxies", "", ""},
		{"POST", "/v1/proxies", "", `{"listenAddress":"127.0.0.1:0","upstreamAddress":"127.0.0.1:9"}`},
		{"PATCH", "/v1/proxies/p1", "", `{"enabled":false}`},
		{"POST", "/v1/relays", "", `{"a":"x","b":"y"}`},
		{"GET", "/v1/capture?ids=x", "", ""},
		{"PUT", "/v1/sockets", "Origin: http://evil.example", "{"},
		{"GET", "/v1/sockets/%ff", "Host: evil.example", ""},
		{"GET", "/", "", ""},
		{"GET", "/metrics", "", ""},
		{"GET", "/openapi.json", "", ""},
	} {
		f.Add(seed.method, seed.target, seed.header, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, method, target, header string, body []byte) {
		h := gatewayHandler(t)
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, method, "http://127.0.0.1"+target, bytes.NewReader(body))
		if err != nil {
			return // not a request net/http would ever hand the server
		}
		req.Host = "127.0.0.1"
		if k, v, ok := strings.Cut(header, ":"); ok {
			req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		// 504 is grpc-gateway's answer to DEADLINE_EXCEEDED: the call's own
		// timeout (or the REST ceiling) expired, as asked.
		timedOut := rec.Code == 504 && (strings.Contains(rec.Body.String(), `"TIMEOUT"`) || strings.Contains(rec.Body.String(), `"EAGAIN"`))
		if rec.Code >= 500 && !timedOut {
			t.Fatalf("%s %q (%q, %q): %d %s", method, target, header, body, rec.Code, rec.Body.String())
		}
		if rec.Code >= 400 && strings.HasPrefix(target, "/v1/") && !strings.Contains(rec.Body.String(), `"reason"`) {
			t.Fatalf("%s %q: %d without a reason: %s", method, target, rec.Code, rec.Body.String())
		}
	})
}
