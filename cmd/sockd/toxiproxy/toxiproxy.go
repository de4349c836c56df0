// Package toxiproxy serves toxiproxy 2.x's HTTP API over sockd's
// ProxyService, so that toxiproxy-cli and toxiproxy's client libraries drive
// sockd's proxies unchanged. It is part of the daemon: it calls the
// ProxyService through a gRPC connection (the gateway's in-process one), and
// imports gen and grpc only.
package toxiproxy

import (
	"encoding/json"
	"net/http"

	"google.golang.org/grpc"
)

// Options tune the handler.
type Options struct {
	Version string // what GET /version answers
}

// NewHandler serves toxiproxy's API, calling sockd over conn.
func NewHandler(conn grpc.ClientConnInterface, o Options) http.Handler {
	return http.NotFoundHandler()
}

// WriteError writes toxiproxy's error body: {"error": msg, "status": code}.
func WriteError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": msg, "status": code})
}
