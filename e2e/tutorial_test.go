package e2e

import (
	"encoding/base64"
	"math/rand"
	"strconv"
	"strings"
	"testing"
)

// The socket tutorial's flows, driven with grpcurl against the real daemon,
// with Python's socket module as the peer.

// sockd is the TCP server; a Python client sends 300 KB of binary data and
// gets it echoed back byte for byte.
func TestGrpcurlTCPServerPythonClient(t *testing.T) {
	d := startSockd(t)
	l := grpcurl(t, d, "CreateSocket", map[string]any{"protocol": "PROTOCOL_TCP"})
	id := str(l, "id")
	grpcurl(t, d, "SetOption", map[string]any{"id": id, "option": "SO_REUSEADDR", "value": 1})
	b := grpcurl(t, d, "Bind", map[string]any{"id": id, "address": "127.0.0.1:0"})
	port := strings.TrimPrefix(str(b, "localAddress"), "127.0.0.1:")
	if l := grpcurl(t, d, "Listen", map[string]any{"id": id, "backlog": 5}); str(l, "state") != "STATE_LISTENING" {
		t.Fatalf("listen: %v", l)
	}
	const n = 300_000
	py := startPython(t, pyEchoClient, port, strconv.Itoa(n))
	conn := grpcurl(t, d, "Accept", map[string]any{"id": id, "timeout": "20s"})
	cid := str(conn, "id")
	if str(conn, "parentId") != id || str(conn, "state") != "STATE_CONNECTED" {
		t.Fatalf("accepted: %v", conn)
	}
	total := 0
	for {
		r := grpcurl(t, d, "Recv", map[string]any{"id": cid, "max_bytes": 65536, "timeout": "20s"})
		if r["eof"] == true {
			break
		}
		data, err := base64.StdEncoding.DecodeString(str(r, "data"))
		if err != nil || len(data) == 0 {
			t.Fatalf("recv: %v %v", r, err)
		}
		total += len(data)
		s := grpcurl(t, d, "Send", map[string]any{"id": cid, "data": base64.StdEncoding.EncodeToString(data), "all": true})
		if str(s, "bytesSent") != strconv.Itoa(len(data)) {
			t.Fatalf("send: %v", s)
		}
	}
	grpcurl(t, d, "CloseSocket", map[string]any{"id": cid})
	if got := py.line(t); got != "equal" {
		t.Fatalf("python client: %s", got)
	}
	py.wait(t)
	if total != n {
		t.Fatalf("echoed %d bytes, want %d", total, n)
	}
}

// sockd is the TCP client of a Python echo server.
func TestGrpcurlTCPClientPythonServer(t *testing.T) {
	d := startSockd(t)
	py := startPython(t, pyEchoServer)
	port := py.line(t)
	s := grpcurl(t, d, "CreateSocket", map[string]any{"connect_address": "127.0.0.1:" + port})
	id := str(s, "id")
	if str(s, "state") != "STATE_CONNECTED" || str(s, "remoteAddress") != "127.0.0.1:"+port {
		t.Fatalf("connect: %v", s)
	}
	payload := make([]byte, 100_000)
	rand.New(rand.NewSource(1)).Read(payload)
	grpcurl(t, d, "Send", map[string]any{"id": id, "data": base64.StdEncoding.EncodeToString(payload), "all": true})
	grpcurl(t, d, "Shutdown", map[string]any{"id": id, "how": "SHUTDOWN_HOW_WRITE"})
	var got []byte
	for {
		r := grpcurl(t, d, "Recv", map[string]any{"id": id, "max_bytes": 1 << 20, "timeout": "20s"})
		if r["eof"] == true {
			break
		}
		data, _ := base64.StdEncoding.DecodeString(str(r, "data"))
		got = append(got, data...)
	}
	if string(got) != string(payload) {
		t.Fatalf("echo differs: %d bytes back of %d", len(got), len(payload))
	}
	if py.line(t) != "done" {
		t.Fatal("python server did not finish")
	}
	py.wait(t)
	info := grpcurl(t, d, "GetSocket", map[string]any{"id": id})
	if str(info, "bytesSent") != "100000" || str(info, "bytesReceived") != "100000" || info["writeShutdown"] != true {
		t.Fatalf("counters: %v", info)
	}
}

// UDP both ways: sockd as the client of a Python UDP server, and as the
// server of a Python UDP client.
func TestGrpcurlUDPBothWays(t *testing.T) {
	d := startSockd(t)
	py := startPython(t, pyUDPEchoServer, "2")
	server := "127.0.0.1:" + py.line(t)
	c := grpcurl(t, d, "CreateSocket", map[string]any{"protocol": "PROTOCOL_UDP"})
	id := str(c, "id")
	for _, msg := range []string{"first", "second"} {
		grpcurl(t, d, "SendTo", map[string]any{"id": id, "address": server, "text": msg})
	}
	for _, want := range []string{"FIRST", "SECOND"} {
		r := grpcurl(t, d, "RecvFrom", map[string]any{"id": id, "max_bytes": 100, "timeout": "20s", "text": true})
		if str(r, "text") != want || str(r, "address") != server {
			t.Fatalf("recvfrom: %v, want %s from %s", r, want, server)
		}
	}
	py.line(t)
	py.wait(t)

	u := grpcurl(t, d, "CreateSocket", map[string]any{"protocol": "PROTOCOL_UDP", "bind_address": "127.0.0.1:0"})
	uid := str(u, "id")
	port := strings.TrimPrefix(str(u, "localAddress"), "127.0.0.1:")
	client := startPython(t, pyUDPClient, port)
	r := grpcurl(t, d, "RecvFrom", map[string]any{"id": uid, "max_bytes": 100, "timeout": "20s"})
	data, _ := base64.StdEncoding.DecodeString(str(r, "data"))
	if string(data) != "hello udp" {
		t.Fatalf("recvfrom: %v", r)
	}
	grpcurl(t, d, "SendTo", map[string]any{"id": uid, "address": str(r, "address"), "data": base64.StdEncoding.EncodeToString([]byte("HELLO UDP"))})
	if got := client.line(t); got != "HELLO UDP" {
		t.Fatalf("python client got %q", got)
	}
	client.wait(t)
}
