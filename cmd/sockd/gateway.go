package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/sockd/sockd/gen/openapiv2"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/service"
)

// forwardedHeaders is the allow-list of HTTP headers that become gRPC
// metadata (grpc-gateway adds Authorization and Grpc-Timeout itself).
// Nothing else is forwarded: in particular identity never comes from
// Grpc-Metadata-* headers.
var forwardedHeaders = map[string]string{
	"X-Request-Id": service.RequestIDHeader,
}

// httpOptions are what the HTTP side serves besides the gateway, and the
// limits it applies.
type httpOptions struct {
	healthy      func() bool   // /healthz
	profiling    bool          // /debug/pprof/
	metrics      http.Handler  // /metrics
	auth         *service.Auth // who may read /metrics
	allowedHosts []string      // Host names answered besides IPs and localhost
	maxBodyBytes int64         // the largest request body read
	callTimeout  time.Duration // a REST call's deadline when it sends no Grpc-Timeout
	writeTimeout time.Duration // how long a response may stall
}

// newHTTPHandler serves the REST gateway (through conn, a real gRPC client
// connection to this daemon, so REST passes the same interceptors as gRPC),
// the OpenAPI document, the health check, the metrics and the live view.
// Every request first passes the guards: its Host must be one sockd serves
// (DNS rebinding), a browser page must be of sockd's origin, its path valid
// UTF-8, its body within the limit.
func newHTTPHandler(ctx context.Context, conn *grpc.ClientConn, o httpOptions) (http.Handler, error) {
	gw := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &restMarshaler{JSONPb: runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{},
			UnmarshalOptions: protojson.UnmarshalOptions{}, // accepts lowerCamelCase and proto names
		}}),
		runtime.WithIncomingHeaderMatcher(func(h string) (string, bool) {
			md, ok := forwardedHeaders[textproto.CanonicalMIMEHeaderKey(h)]
			return md, ok
		}),
		// The HTTP client's address (for the call's log line and the
		// failed-login throttle) and a client certificate that the HTTPS
		// server verified (mTLS), which names the caller; the service
		// believes these keys only on the gateway's in-process connection.
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
		runtime.WithErrorHandler(restErrorHandler),
		runtime.WithStreamErrorHandler(func(_ context.Context, err error) *status.Status { return withReason(err) }),
		runtime.WithRoutingErrorHandler(restRoutingErrorHandler),
	)
	if err := sockdv1.RegisterSocketServiceHandler(ctx, gw, conn); err != nil {
		return nil, err
	}
	if err := sockdv1.RegisterProxyServiceHandler(ctx, gw, conn); err != nil {
		return nil, err
	}
	writeErr := func(w http.ResponseWriter, r *http.Request, httpStatus int, st *status.Status) {
		runtime.DefaultHTTPErrorHandler(r.Context(), gw, restJSON, w, r, &runtime.HTTPStatusError{HTTPStatus: httpStatus, Err: st.Err()})
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", restCall(o, gw))
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
	mux.Handle("GET /metrics", requireAuth(o.auth, o.metrics, writeErr))
	if o.profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	registerLiveview(mux)
	return guard(o, mux, writeErr), nil
}

// restJSON is the gateway's marshaler, for the errors written outside it.
var restJSON = &restMarshaler{}

// statusWithInfo is a status carrying sockd's ErrorInfo.
func statusWithInfo(code codes.Code, reason sockdv1.ErrorReason, msg string, md map[string]string) *status.Status {
	st, err := status.New(code, msg).WithDetails(&errdetails.ErrorInfo{Reason: reason.String(), Domain: service.ErrorDomain, Metadata: md})
	if err != nil {
		return status.New(code, msg)
	}
	return st
}

// guard applies the checks every HTTP request passes before anything else
// is done with it, each answered in the REST error shape.
func guard(o httpOptions, next http.Handler, writeErr func(http.ResponseWriter, *http.Request, int, *status.Status)) http.Handler {
	allowed := map[string]bool{"localhost": true}
	for _, h := range o.allowedHosts {
		allowed[h] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// DNS rebinding: a page of evil.example whose name is made to
		// resolve to 127.0.0.1 sends "Host: evil.example". sockd answers
		// only to IP addresses (no name to rebind), localhost and the
		// names it is told.
		if host := requestHost(r.Host); !allowed[host] && !isIP(host) && !strings.HasSuffix(host, ".localhost") {
			writeErr(w, r, http.StatusForbidden, statusWithInfo(codes.PermissionDenied, sockdv1.ErrorReason_HOST_NOT_ALLOWED,
				fmt.Sprintf("host %q is not one sockd answers to (DNS rebinding protection); use an IP address or localhost, or start sockd with --http-allowed-hosts %s", clipText(host), clipText(host)),
				map[string]string{"host": clipText(host)}))
			return
		}
		// A browser page of another origin may not drive sockd; requests
		// without an Origin (curl, programs) pass.
		if origin := r.Header.Get("Origin"); origin != "" {
			u, err := url.Parse(origin)
			if err != nil || !strings.EqualFold(u.Host, r.Host) {
				writeErr(w, r, http.StatusForbidden, statusWithInfo(codes.PermissionDenied, sockdv1.ErrorReason_CROSS_ORIGIN,
					"cross-origin request refused: a page from another origin may not drive sockd", nil))
				return
			}
		}
		if !utf8.ValidString(r.URL.Path) || !validQuery(r.URL.RawQuery) {
			writeErr(w, r, http.StatusBadRequest, statusWithInfo(codes.InvalidArgument, sockdv1.ErrorReason_MALFORMED_REQUEST,
				"the request's path or query is not valid UTF-8", nil))
			return
		}
		if r.ContentLength > o.maxBodyBytes {
			// Refused before a byte of the body is read.
			writeErr(w, r, http.StatusRequestEntityTooLarge, bodyTooLarge(o.maxBodyBytes, r.ContentLength))
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, o.maxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// bodyTooLarge is the 413's status: LIMIT_EXCEEDED naming the limit.
func bodyTooLarge(limit, got int64) *status.Status {
	md := map[string]string{"limit": "request body bytes", "max": strconv.FormatInt(limit, 10)}
	msg := fmt.Sprintf("the request body is over the limit of %d bytes (the per-call data limit in base64, with room for the rest)", limit)
	if got > 0 {
		md["got"] = strconv.FormatInt(got, 10)
		msg = fmt.Sprintf("the request body has %d bytes, over the limit of %d (the per-call data limit in base64, with room for the rest)", got, limit)
	}
	return statusWithInfo(codes.ResourceExhausted, sockdv1.ErrorReason_LIMIT_EXCEEDED, msg, md)
}

// restCall bounds a REST call: a call without a Grpc-Timeout header gets the
// daemon's ceiling as its deadline, and its response may stall at most
// writeTimeout past it; a stream's response may stall writeTimeout between
// two writes (a watcher that never reads is cut off).
func restCall(o httpOptions, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if streamingRoute(r.Method, r.URL.Path) {
			_ = rc.SetWriteDeadline(time.Now().Add(o.writeTimeout))
			next.ServeHTTP(&stallGuard{ResponseWriter: w, rc: rc, timeout: o.writeTimeout}, r)
			return
		}
		timeout := o.callTimeout
		if v := r.Header.Get("Grpc-Timeout"); v != "" {
			if d, ok := decodeGRPCTimeout(v); ok {
				timeout = d
			}
		} else {
			r.Header.Set("Grpc-Timeout", strconv.FormatInt(timeout.Milliseconds(), 10)+"m")
		}
		_ = rc.SetWriteDeadline(time.Now().Add(timeout + o.writeTimeout))
		next.ServeHTTP(w, r)
	})
}

// stallGuard moves a stream's write deadline on at every write.
type stallGuard struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (s *stallGuard) Write(p []byte) (int, error) {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	return s.ResponseWriter.Write(p)
}

func (s *stallGuard) Flush() {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	_ = s.rc.Flush()
}

func (s *stallGuard) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// restErrorHandler gives the gateway's own errors (a body that does not
// parse, an unknown field, a body over the limit) sockd's ErrorInfo, so
// that every error has a reason; errors from the service already have one.
func restErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) || strings.Contains(err.Error(), "http: request body too large") {
		limit := int64(0)
		if tooLarge != nil {
			limit = tooLarge.Limit
		}
		err = &runtime.HTTPStatusError{HTTPStatus: http.StatusRequestEntityTooLarge, Err: bodyTooLarge(limit, 0).Err()}
	} else if _, ok := status.FromError(err); ok {
		err = withReason(err).Err()
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

// withReason is a status error as it is, or, when it carries no ErrorInfo
// (the gateway's own: a body that does not parse; grpc-go's: a call
// cancelled), with the reason its code stands for.
func withReason(err error) *status.Status {
	st := status.Convert(err)
	if hasErrorInfo(st) {
		return st
	}
	reason := sockdv1.ErrorReason_INTERNAL
	switch st.Code() {
	case codes.InvalidArgument:
		reason = sockdv1.ErrorReason_MALFORMED_REQUEST
	case codes.Canceled:
		reason = sockdv1.ErrorReason_CANCELLED
	case codes.DeadlineExceeded:
		reason = sockdv1.ErrorReason_TIMEOUT
	case codes.Unavailable:
		reason = sockdv1.ErrorReason_SHUTTING_DOWN
	case codes.ResourceExhausted:
		reason = sockdv1.ErrorReason_LIMIT_EXCEEDED
	}
	return statusWithInfo(st.Code(), reason, st.Message(), nil)
}

func hasErrorInfo(st *status.Status) bool {
	for _, d := range st.Details() {
		if _, ok := d.(*errdetails.ErrorInfo); ok {
			return true
		}
	}
	return false
}

// restRoutingErrorHandler answers a path that is no route with 404
// (ROUTE_NOT_FOUND), and a route asked with the wrong method with 405 and
// the Allow header, instead of grpc-gateway's 501.
func restRoutingErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	var st *status.Status
	switch httpStatus {
	case http.StatusMethodNotAllowed:
		allow := allowedMethods(r.URL.Path)
		w.Header().Set("Allow", strings.Join(allow, ", "))
		st = statusWithInfo(codes.Unimplemented, sockdv1.ErrorReason_METHOD_NOT_ALLOWED,
			fmt.Sprintf("%s is not a method of %s; it takes %s", r.Method, clipText(r.URL.Path), strings.Join(allow, ", ")),
			map[string]string{"allow": strings.Join(allow, ",")})
	case http.StatusNotFound:
		st = statusWithInfo(codes.NotFound, sockdv1.ErrorReason_ROUTE_NOT_FOUND,
			fmt.Sprintf("no REST route %s %s (see /openapi.json)", r.Method, clipText(r.URL.Path)), nil)
	default:
		st = statusWithInfo(codes.InvalidArgument, sockdv1.ErrorReason_MALFORMED_REQUEST, http.StatusText(httpStatus), nil)
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, &runtime.HTTPStatusError{HTTPStatus: httpStatus, Err: st.Err()})
}

// requireAuth answers 401, in the REST error shape, to a request without
// valid credentials when authentication is configured.
func requireAuth(auth *service.Auth, next http.Handler, writeErr func(http.ResponseWriter, *http.Request, int, *status.Status)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := auth.AuthenticateHTTP(r); err != nil {
			st := status.Convert(err)
			code := http.StatusUnauthorized
			if st.Code() == codes.ResourceExhausted {
				code = http.StatusTooManyRequests
			} else {
				w.Header().Set("WWW-Authenticate", `Bearer realm="sockd"`)
			}
			writeErr(w, r, code, st)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// restMarshaler is grpc-gateway's JSON marshaler with two conveniences for
// curl users: every reply ends with a newline, and a list response shows
// its empty list ({"sockets": []}, not {}).
type restMarshaler struct {
	runtime.JSONPb
}

func (m *restMarshaler) Marshal(v any) ([]byte, error) {
	b, err := m.JSONPb.Marshal(v)
	if err != nil {
		return nil, err
	}
	if msg, ok := v.(proto.Message); ok {
		b = withEmptyLists(msg, b)
	}
	return append(b, '\n'), nil
}

// Delimiter is nothing: every message already ends with its newline, which
// makes a stream newline-delimited JSON.
func (m *restMarshaler) Delimiter() []byte { return nil }

// withEmptyLists adds "name": [] for each empty repeated field of a list
// response (one with a next_page_token or nothing else) to its JSON.
func withEmptyLists(msg proto.Message, b []byte) []byte {
	md := msg.ProtoReflect().Descriptor()
	if !strings.HasPrefix(string(md.Name()), "List") || len(b) < 2 || b[0] != '{' {
		return b
	}
	var add []string
	fields := md.Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		if f.Cardinality() == protoreflect.Repeated && !f.IsMap() && msg.ProtoReflect().Get(f).List().Len() == 0 {
			add = append(add, strconv.Quote(f.JSONName())+":[]")
		}
	}
	if len(add) == 0 {
		return b
	}
	rest := strings.TrimSpace(string(b[1:]))
	sep := ","
	if rest == "}" {
		sep = ""
	}
	return []byte("{" + strings.Join(add, ",") + sep + rest)
}

// requestHost is a Host header's host, lower case, without port or
// brackets.
func requestHost(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
}

func isIP(host string) bool {
	_, err := netip.ParseAddr(host)
	return err == nil
}

// validQuery reports whether every key and value of a raw query decodes to
// valid UTF-8.
func validQuery(raw string) bool {
	if raw == "" {
		return true
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return utf8.ValidString(raw)
	}
	for k, vs := range q {
		if !utf8.ValidString(k) || slices.ContainsFunc(vs, func(v string) bool { return !utf8.ValidString(v) }) {
			return false
		}
	}
	return true
}

// clipText keeps what a client sent short (and valid UTF-8) in a message.
func clipText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if r := []rune(s); len(r) > 100 {
		return string(r[:100]) + "…"
	}
	return s
}

// decodeGRPCTimeout reads a Grpc-Timeout header value: digits and a unit
// (H, M, S, m, u, n), as grpc-gateway does.
func decodeGRPCTimeout(v string) (time.Duration, bool) {
	if len(v) < 2 {
		return 0, false
	}
	n, err := strconv.ParseInt(v[:len(v)-1], 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	unit := map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second, 'm': time.Millisecond, 'u': time.Microsecond, 'n': time.Nanosecond}[v[len(v)-1]]
	if unit == 0 {
		return 0, false
	}
	return time.Duration(n) * unit, true
}
