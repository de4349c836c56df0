package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sockd/sockd/gen/openapiv2"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/service"
)

// forwardedHeaders is the allow-list of HTTP headers that become gRPC
// metadata (grpc-gateway adds Authorization itself). Nothing else is
// forwarded: in particular identity never comes from Grpc-Metadata-*
// headers.
var forwardedHeaders = map[string]string{
	"X-Request-Id": service.RequestIDHeader,
}

// httpOptions are what the HTTP side serves besides the gateway.
type httpOptions struct {
	healthy   func() bool   // /healthz
	profiling bool          // /debug/pprof/
	metrics   http.Handler  // /metrics
	auth      *service.Auth // who may read /metrics
}

// newHTTPHandler serves the REST gateway (through conn, a real gRPC client
// connection to this daemon, so REST passes the same interceptors as gRPC),
// the OpenAPI document, the health check, the metrics and the live view.
func newHTTPHandler(ctx context.Context, conn *grpc.ClientConn, o httpOptions) (http.Handler, error) {
	gw := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{},
			UnmarshalOptions: protojson.UnmarshalOptions{}, // accepts lowerCamelCase and proto names
		}),
		runtime.WithIncomingHeaderMatcher(func(h string) (string, bool) {
			md, ok := forwardedHeaders[textproto.CanonicalMIMEHeaderKey(h)]
			return md, ok
		}),
		// The HTTP client's address (for the call's log line) and a client
		// certificate that the HTTPS server verified (mTLS), which names the
		// caller; the service believes these keys only on the in-process
		// connection that this gateway uses.
		runtime.WithMetadata(func(_ context.Context, r *http.Request) metadata.MD {
			md := metadata.Pairs(service.HTTPClientHeader, r.RemoteAddr)
			if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
				md.Set(service.PeerCertHeader, r.TLS.VerifiedChains[0][0].Subject.CommonName)
			}
			return md
		}),
		runtime.WithOutgoingHeaderMatcher(func(md string) (string, bool) {
			if md == service.RequestIDHeader {
				return "X-Request-Id", true
			}
			return "", false
		}),
	)
	if err := sockdv1.RegisterSocketServiceHandler(ctx, gw, conn); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", sameOrigin(gw))
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapiv2.SwaggerJSON)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !o.healthy() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("shutting down\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	// Metrics need a token when tokens are configured, like the API (they
	// hold no socket ids or addresses, but they are not public either).
	mux.Handle("GET /metrics", sameOrigin(requireAuth(o.auth, o.metrics)))
	if o.profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	registerLiveview(mux)
	return mux, nil
}

// requireAuth answers 401, in the REST error shape, to a request without
// valid credentials when authentication is configured.
func requireAuth(auth *service.Auth, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := auth.AuthenticateHTTP(r); err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("WWW-Authenticate", `Bearer realm="sockd"`)
			w.WriteHeader(http.StatusUnauthorized)
			msg, _ := json.Marshal(status.Convert(err).Message())
			_, _ = w.Write([]byte(`{"code":16,"message":` + string(msg) +
				`,"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"UNAUTHENTICATED","domain":"sockd"}]}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sameOrigin answers 403 to a browser request from a foreign page: one whose
// Origin header names another host than the one the request was sent to.
// Requests without an Origin (curl, gRPC clients) pass.
func sameOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" {
			u, err := url.Parse(origin)
			if err != nil || !strings.EqualFold(u.Host, r.Host) {
				// The same error shape as every other REST error.
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				_, _ = w.Write([]byte(`{"code":7,"message":"cross-origin request refused: a page from another origin may not drive sockd",` +
					`"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"CROSS_ORIGIN","domain":"sockd"}]}`))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
