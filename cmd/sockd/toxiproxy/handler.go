package toxiproxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/service"
)

// Options tune the handler.
type Options struct {
	Version string // what GET /version answers
	// CallTimeout bounds one request, all its calls to sockd included
	// (toxiproxy's own API gives a request 25 s). 0: 25 s.
	CallTimeout time.Duration
}

// DefaultCallTimeout is toxiproxy's own bound on a request (its
// timeoutMiddleware).
const DefaultCallTimeout = 25 * time.Second

// requestIDHeader is where toxiproxy (and so this handler) names a
// request's id in the response; sockd's logs carry the same id.
const requestIDHeader = "X-Toxiproxy-Request-Id"

// handler serves the API; it keeps no state but the client.
type handler struct {
	proxies sockdv1.ProxyServiceClient
	opts    Options
	mux     *http.ServeMux
}

// NewHandler serves toxiproxy's API, calling sockd's ProxyService over
// conn. The caller puts it behind the HTTP side's guards (Host, Origin,
// body size, read timeouts).
func NewHandler(conn grpc.ClientConnInterface, o Options) http.Handler {
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	h := &handler{proxies: sockdv1.NewProxyServiceClient(conn), opts: o, mux: http.NewServeMux()}
	// toxiproxy's routes (api.go), each answering its methods and 405 to
	// the others.
	h.route("/proxies", methods{http.MethodGet: h.proxyIndex, http.MethodPost: h.proxyCreate})
	h.route("/proxies/{proxy}", methods{http.MethodGet: h.proxyShow, http.MethodPost: h.proxyUpdate, http.MethodDelete: h.proxyDelete})
	h.route("/proxies/{proxy}/toxics", methods{http.MethodGet: h.toxicIndex, http.MethodPost: h.toxicCreate})
	h.route("/proxies/{proxy}/toxics/{toxic}", methods{http.MethodGet: h.toxicShow, http.MethodPost: h.toxicUpdate, http.MethodDelete: h.toxicDelete})
	h.route("/populate", methods{http.MethodPost: h.populate})
	h.route("/reset", methods{http.MethodPost: h.reset})
	h.route("/version", methods{http.MethodGet: h.version})
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeAPIError(w, errRouteNotFound) })
	return h
}

// call is one request's context for its calls to sockd, and what they
// need to know of the request.
type call struct {
	ctx context.Context
	r   *http.Request
}

type methods map[string]func(http.ResponseWriter, *call)

func (h *handler) route(pattern string, ms methods) {
	allow := make([]string, 0, len(ms))
	for m := range ms {
		allow = append(allow, m)
	}
	slices.Sort(allow)
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		f, ok := ms[r.Method]
		if !ok {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			WriteError(w, http.StatusMethodNotAllowed, r.Method+" is not a method of "+pattern+"; it takes "+strings.Join(allow, ", "))
			return
		}
		ctx, cancel, err := h.callContext(r, w.Header().Get(requestIDHeader))
		if err != nil {
			writeAPIError(w, err)
			return
		}
		defer cancel()
		f(w, &call{ctx: ctx, r: r})
	})
}

// ServeHTTP implements http.Handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// As toxiproxy (stopBrowsersMiddleware): a browser is refused, so that
	// no web page can drive the API with simple requests (a form POST
	// needs no CORS preflight). The guards before this refuse a foreign
	// Origin and Host too.
	if strings.HasPrefix(r.UserAgent(), "Mozilla/") {
		WriteError(w, http.StatusForbidden, "User agent not allowed")
		return
	}
	w.Header().Set(requestIDHeader, newRequestID())
	// A request may stall its response at most a little past its deadline
	// (toxiproxy: a 30 s write timeout for its 25 s).
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(h.opts.CallTimeout + 5*time.Second))
	h.mux.ServeHTTP(w, r)
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// callContext is the context of a request's calls to sockd: its deadline,
// and as metadata what the daemon's REST gateway passes too — the
// caller's credentials (Authorization, or a client certificate the HTTPS
// server verified), its address, and the request's id. The connection is
// the gateway's in-process one, on which sockd believes those keys.
func (h *handler) callContext(r *http.Request, requestID string) (context.Context, context.CancelFunc, *apiError) {
	md := metadata.Pairs(service.HTTPClientHeader, r.RemoteAddr, service.RequestIDHeader, requestID)
	if auth := r.Header.Get("Authorization"); auth != "" {
		// gRPC carries header values of printable ASCII only (and grpc-go
		// would refuse the call): anything else is a malformed request.
		if !printableASCII(auth) {
			return nil, nil, &apiError{"malformed Authorization header: want \"Bearer <token>\" in printable ASCII", http.StatusBadRequest}
		}
		md.Set("authorization", auth)
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		md.Set(service.PeerCertHeader, r.TLS.VerifiedChains[0][0].Subject.CommonName)
	}
	ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(r.Context(), md), h.opts.CallTimeout)
	return ctx, cancel, nil
}

func printableASCII(s string) bool {
	for i := range len(s) {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// version answers toxiproxy's GET /version: the version as plain text.
// It needs credentials like every other route (a cheap call checks them).
func (h *handler) version(w http.ResponseWriter, c *call) {
	if _, err := h.proxies.ListProxies(c.ctx, &sockdv1.ListProxiesRequest{PageSize: 1}); err != nil {
		writeAPIError(w, fromStatus(err, ""))
		return
	}
	w.Header().Set("Content-Type", "text/plain;charset=utf-8")
	_, _ = w.Write([]byte(h.opts.Version))
}
