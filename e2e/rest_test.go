package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The TCP tutorial with curl only: create, bind, listen, accept, receive
// text, send text — no base64 tool needed.
func TestCurlTCPFlow(t *testing.T) {
	d := startSockd(t)
	code, s := curl(t, d, "POST", "/v1/sockets", map[string]any{"protocol": "PROTOCOL_TCP", "name": "web"})
	if code != 200 || str(s, "state") != "STATE_CREATED" {
		t.Fatalf("create: %d %v", code, s)
	}
	id := str(s, "id")
	code, b := curl(t, d, "POST", "/v1/sockets/web:bind", map[string]any{"address": "127.0.0.1:0"})
	if code != 200 {
		t.Fatalf("bind by name: %d %v", code, b)
	}
	// snake_case input works as well as lowerCamelCase.
	if code, l := curl(t, d, "POST", "/v1/sockets/"+id+":listen", map[string]any{"backlog": 5}); code != 200 || str(l, "state") != "STATE_LISTENING" {
		t.Fatalf("listen: %d %v", code, l)
	}
	port := strings.TrimPrefix(str(b, "localAddress"), "127.0.0.1:")
	py := startPython(t, `
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30) as s:
    s.sendall("Hello, wörld".encode())
    print(s.recv(1024).decode())
`, port)
	code, conn := curl(t, d, "POST", "/v1/sockets/"+id+":accept", map[string]any{"timeout": "20s"})
	if code != 200 || str(conn, "parentId") != id {
		t.Fatalf("accept: %d %v", code, conn)
	}
	cid := str(conn, "id")
	code, r := curl(t, d, "POST", "/v1/sockets/"+cid+":recv", map[string]any{"max_bytes": 13, "waitAll": true, "text": true, "timeout": "20s"})
	if code != 200 || str(r, "text") != "Hello, wörld" {
		t.Fatalf("recv text: %d %v", code, r)
	}
	code, sent := curl(t, d, "POST", "/v1/sockets/"+cid+":send", map[string]any{"text": "Hi back", "all": true})
	if code != 200 || str(sent, "bytesSent") != "7" {
		t.Fatalf("send text: %d %v", code, sent)
	}
	if got := py.line(t); got != "Hi back" {
		t.Fatalf("python got %q", got)
	}
	py.wait(t)
	code, opt := curl(t, d, "GET", "/v1/sockets/"+cid+"/options/so_rcvbuf", nil)
	if code != 200 || opt["value"] == nil {
		t.Fatalf("getopt: %d %v", code, opt)
	}
	code, list := curl(t, d, "GET", "/v1/sockets?labelSelector=&state=STATE_CONNECTED", nil)
	if socks, _ := list["sockets"].([]any); code != 200 || len(socks) != 1 {
		t.Fatalf("list connected: %d %v", code, list)
	}
	if code, c := curl(t, d, "DELETE", "/v1/sockets/"+cid, nil); code != 200 || str(c, "state") != "STATE_CLOSED" {
		t.Fatalf("close: %d %v", code, c)
	}
	if code, e := curl(t, d, "DELETE", "/v1/sockets/"+cid, nil); code != 404 || errorReason(e) != "SOCKET_NOT_FOUND" {
		t.Fatalf("second close: %d %v", code, e)
	}
}

// Errors over REST: the HTTP status of the gRPC code, and the same
// ErrorInfo as JSON.
func TestCurlErrors(t *testing.T) {
	d := startSockd(t)
	code, e := curl(t, d, "GET", "/v1/sockets/nosuchsocket", nil)
	if code != http.StatusNotFound || errorReason(e) != "SOCKET_NOT_FOUND" {
		t.Fatalf("unknown id: %d %v", code, e)
	}
	_, l := curl(t, d, "POST", "/v1/sockets", map[string]any{"bindAddress": "127.0.0.1:0", "listen": true})
	code, e = curl(t, d, "POST", "/v1/sockets/"+str(l, "id")+":recv", map[string]any{"maxBytes": 10})
	if code != http.StatusBadRequest || errorReason(e) != "WRONG_STATE" {
		// FAILED_PRECONDITION is HTTP 400 in grpc-gateway's mapping.
		t.Fatalf("recv on a listener: %d %v", code, e)
	}
	code, e = curl(t, d, "POST", "/v1/sockets", map[string]any{"bindAddress": "0x7f000001:80"})
	if code != http.StatusBadRequest || errorReason(e) != "INVALID_ADDRESS" {
		t.Fatalf("malformed address: %d %v", code, e)
	}
	code, e = curl(t, d, "POST", "/v1/sockets", map[string]any{"bindAddress": str(l, "localAddress")})
	if code != http.StatusConflict || errorReason(e) != "EADDRINUSE" {
		t.Fatalf("bind conflict: %d %v", code, e)
	}
	code, _ = curl(t, d, "POST", "/v1/sockets", map[string]any{"protocol": "PROTOCOL_TCP"}, "Origin: http://evil.example")
	if code != http.StatusForbidden {
		t.Fatalf("foreign Origin: %d, want 403", code)
	}
	code, _ = curl(t, d, "POST", "/v1/sockets", map[string]any{"protocol": "PROTOCOL_TCP"}, "Origin: http://"+d.HTTP)
	if code != http.StatusOK {
		t.Fatalf("same Origin: %d, want 200", code)
	}
}

// GET /v1/events streams newline-delimited JSON; a scripted flow shows up as
// create → bind → listen → accept → close, in order. since=0 replays the
// kept history first, so no event can slip by before curl is subscribed.
func TestCurlEventsNDJSON(t *testing.T) {
	d := startSockd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "curl", "-sSN", "http://"+d.HTTP+"/v1/events?since=0&labelSelector=flow%3Devents")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	_, l := curl(t, d, "POST", "/v1/sockets", map[string]any{"labels": map[string]string{"flow": "events"}, "bindAddress": "127.0.0.1:0", "listen": true})
	lid := str(l, "id")
	py := startPython(t, `
import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30).close()
print("ok")
`, strings.TrimPrefix(str(l, "localAddress"), "127.0.0.1:"))
	py.line(t)
	_, conn := curl(t, d, "POST", "/v1/sockets/"+lid+":accept", map[string]any{"timeout": "20s"})
	curl(t, d, "DELETE", "/v1/sockets/"+str(conn, "id"), nil)
	curl(t, d, "DELETE", "/v1/sockets/"+lid, nil)

	want := []struct{ kind, id string }{
		{"EVENT_KIND_CREATED", lid}, {"EVENT_KIND_BOUND", lid}, {"EVENT_KIND_LISTENING", lid},
		{"EVENT_KIND_ACCEPTED", str(conn, "id")}, {"EVENT_KIND_CLOSED", str(conn, "id")}, {"EVENT_KIND_CLOSED", lid},
	}
	sc := bufio.NewScanner(out)
	var lastSeq uint64
	for i, w := range want {
		if !sc.Scan() {
			t.Fatalf("event stream ended after %d events", i)
		}
		var line struct {
			Result struct {
				Seq    string
				Kind   string
				Socket struct{ ID string }
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("not NDJSON: %q: %v", sc.Text(), err)
		}
		seq, _ := strconv.ParseUint(line.Result.Seq, 10, 64)
		if line.Result.Kind != w.kind || line.Result.Socket.ID != w.id || seq <= lastSeq {
			t.Fatalf("event %d: %s", i, sc.Text())
		}
		lastSeq = seq
	}
}
