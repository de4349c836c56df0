package main

import (
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/cmd/sockd/toxiproxy"
)

// buildToxiproxy makes the HTTP server of toxiproxy 2.x's API
// (--toxiproxy-addr): a translation to sockd's ProxyService, called over
// the gateway's in-process connection so that it passes the same
// interceptors (auth, limits, logs) as every other call, behind the same
// guards as the HTTP side (Host, Origin, body size, timeouts).
func (d *daemon) buildToxiproxy(cc *grpc.ClientConn) (*http.Server, error) {
	h := toxiproxy.NewHandler(cc, toxiproxy.Options{Version: version()})
	o := httpOptions{allowedHosts: d.cfg.allowedHosts(), maxBodyBytes: 1 << 20}
	// toxiproxy's error shape: {"error": "...", "status": N}.
	writeErr := func(w http.ResponseWriter, _ *http.Request, code int, st *status.Status) {
		toxiproxy.WriteError(w, code, st.Message())
	}
	return newHTTPServer(d.cfg, guard(o, h, writeErr), d.log), nil
}
