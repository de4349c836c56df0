package e2e

import (
	"net"
	"testing"
)

// The error model through grpcurl: code and ErrorInfo reason per case.
func TestGrpcurlErrors(t *testing.T) {
	d := startSockd(t)
	l := grpcurl(t, d, "CreateSocket", map[string]any{"bind_address": "127.0.0.1:0", "listen": true})
	lid := str(l, "id")

	// Bind conflict → ALREADY_EXISTS / EADDRINUSE.
	s := grpcurl(t, d, "CreateSocket", map[string]any{})
	code, reason, body := grpcurlErr(t, d, "Bind", map[string]any{"id": str(s, "id"), "address": str(l, "localAddress")})
	if code != 6 || reason != "EADDRINUSE" {
		t.Fatalf("bind conflict: code %d reason %s", code, reason)
	}
	if md := errorMetadata(body); md["errno"] != "98" || md["op"] != "bind" || md["socketId"] != str(s, "id") {
		t.Fatalf("bind conflict metadata: %v", md)
	}

	// Connect to a closed port → UNAVAILABLE / ECONNREFUSED.
	free, _ := net.Listen("tcp4", "127.0.0.1:0")
	closedPort := free.Addr().String()
	free.Close()
	code, reason, body = grpcurlErr(t, d, "Connect", map[string]any{"id": str(s, "id"), "address": closedPort})
	if code != 14 || reason != "ECONNREFUSED" || errorMetadata(body)["errno"] != "111" {
		t.Fatalf("connect refused: code %d reason %s %v", code, reason, body)
	}

	// Unknown id → NOT_FOUND.
	if code, reason, _ = grpcurlErr(t, d, "GetSocket", map[string]any{"id": "nosuchsocketatall"}); code != 5 || reason != "SOCKET_NOT_FOUND" {
		t.Fatalf("unknown id: code %d reason %s", code, reason)
	}

	// Recv timeout → DEADLINE_EXCEEDED / TIMEOUT.
	c := grpcurl(t, d, "CreateSocket", map[string]any{"connect_address": str(l, "localAddress")})
	if code, reason, _ = grpcurlErr(t, d, "Recv", map[string]any{"id": str(c, "id"), "max_bytes": 10, "timeout": "0.05s"}); code != 4 || reason != "TIMEOUT" {
		t.Fatalf("recv timeout: code %d reason %s", code, reason)
	}
	// Non-blocking recv with nothing there → DEADLINE_EXCEEDED / EAGAIN.
	if code, reason, _ = grpcurlErr(t, d, "Recv", map[string]any{"id": str(c, "id"), "max_bytes": 10, "timeout": "0s"}); code != 4 || reason != "EAGAIN" {
		t.Fatalf("non-blocking recv: code %d reason %s", code, reason)
	}

	// Recv on a listener → FAILED_PRECONDITION / WRONG_STATE.
	if code, reason, _ = grpcurlErr(t, d, "Recv", map[string]any{"id": lid, "max_bytes": 10}); code != 9 || reason != "WRONG_STATE" {
		t.Fatalf("recv on listener: code %d reason %s", code, reason)
	}
	// Malformed address → INVALID_ARGUMENT / INVALID_ADDRESS naming the field.
	code, reason, body = grpcurlErr(t, d, "Connect", map[string]any{"id": str(s, "id"), "address": "127.0.0.1:99999"})
	if code != 3 || reason != "INVALID_ADDRESS" || errorMetadata(body)["field"] != "address" {
		t.Fatalf("malformed address: code %d reason %s %v", code, reason, body)
	}
	// Unknown option → INVALID_ARGUMENT / INVALID_OPTION.
	if code, reason, _ = grpcurlErr(t, d, "SetOption", map[string]any{"id": lid, "option": "SO_NONSENSE", "value": 1}); code != 3 || reason != "INVALID_OPTION" {
		t.Fatalf("unknown option: code %d reason %s", code, reason)
	}
	// EISCONN keeps its errno name.
	if code, reason, _ = grpcurlErr(t, d, "Connect", map[string]any{"id": str(c, "id"), "address": str(l, "localAddress")}); code != 9 || reason != "EISCONN" {
		t.Fatalf("connect twice: code %d reason %s", code, reason)
	}
}

func errorMetadata(body map[string]any) map[string]any {
	details, _ := body["details"].([]any)
	for _, d := range details {
		if m, ok := d.(map[string]any); ok && m["@type"] == "type.googleapis.com/google.rpc.ErrorInfo" {
			md, _ := m["metadata"].(map[string]any)
			return md
		}
	}
	return nil
}
