package service

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Token is one line of a token file: a bearer token and the principal it
// stands for.
type Token struct {
	Secret    string
	Principal string
}

// ParseTokens reads a token file: one "TOKEN PRINCIPAL" per line, # comments
// and blank lines ignored.
func ParseTokens(r io.Reader) ([]Token, error) {
	var out []Token
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want TOKEN PRINCIPAL", n)
		}
		if len(f[0]) < 16 {
			return nil, fmt.Errorf("line %d: a token must be at least 16 characters", n)
		}
		if seen[f[0]] {
			return nil, fmt.Errorf("line %d: a token appears twice", n)
		}
		seen[f[0]] = true
		out = append(out, Token{Secret: f[0], Principal: f[1]})
	}
	return out, sc.Err()
}

// Auth decides who a caller is: from a bearer token, else from a verified
// client certificate (mTLS), else — when no authentication is configured —
// Anonymous.
type Auth struct {
	tokens   []tokenDigest
	mtls     bool
	admins   map[string]bool
	required bool
	guard    *authGuard // failed attempts: logged and throttled per client address
}

type tokenDigest struct {
	digest    [sha256.Size]byte
	principal string
}

// AuthConfig configures NewAuth.
type AuthConfig struct {
	Tokens []Token
	MTLS   bool     // client certificates are required and verified by TLS
	Admins []string // principals that see and act on every principal's sockets
	// Log receives the (rate-limited) lines about failed authentications.
	Log *slog.Logger
}

// NewAuth returns the authenticator; with neither tokens nor mTLS every
// caller is Anonymous.
func NewAuth(cfg AuthConfig) *Auth {
	a := &Auth{mtls: cfg.MTLS, admins: map[string]bool{}, required: len(cfg.Tokens) > 0 || cfg.MTLS, guard: newAuthGuard(cfg.Log)}
	for _, t := range cfg.Tokens {
		a.tokens = append(a.tokens, tokenDigest{sha256.Sum256([]byte(t.Secret)), t.Principal})
	}
	for _, p := range cfg.Admins {
		a.admins[p] = true
	}
	return a
}

// Required reports whether callers must authenticate.
func (a *Auth) Required() bool { return a != nil && a.required }

// PeerCertHeader is the metadata key by which the daemon's own REST gateway
// passes on the principal of a client certificate that its HTTPS server
// verified. It is believed only on the in-process connection from the
// gateway, never from the network, and the gateway never forwards it from a
// request.
const PeerCertHeader = "x-sockd-verified-client-cert"

// HTTPClientHeader is the metadata key by which the daemon's own REST
// gateway passes on the address of the HTTP client it serves, so that a
// REST call's log line names its caller rather than the gateway. Believed
// only on the in-process connection, like PeerCertHeader.
const HTTPClientHeader = "x-sockd-http-client"

// viaGateway reports whether a call came through the daemon's own REST
// gateway: only a GatewayListener's connections have a gatewayAddr, and
// nothing on the network can make one.
func viaGateway(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return false
	}
	_, ok = p.Addr.(gatewayAddr)
	return ok
}

// gatewayValue is the one value of a key that the gateway set on a call it
// made, or "" for a call from anywhere else.
func gatewayValue(ctx context.Context, md metadata.MD, key string) string {
	if !viaGateway(ctx) {
		return ""
	}
	if v := md.Get(key); len(v) == 1 {
		return v[0]
	}
	return ""
}

// openMethods need no credentials: health checks and server reflection.
func openMethod(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/") || strings.HasPrefix(fullMethod, "/grpc.reflection.")
}

// Authenticate records the caller's principal in ctx, or fails with
// UNAUTHENTICATED.
func (a *Auth) Authenticate(ctx context.Context, fullMethod string) (context.Context, error) {
	if a == nil || openMethod(fullMethod) || !a.required {
		return ctx, nil
	}
	addr := clientAddr(ctx)
	if err := a.guard.throttled(addr); err != nil {
		return nil, err
	}
	ctx, err := a.authenticate(ctx)
	if err != nil && presentedCredentials(err) {
		a.guard.failed(addr, fullMethod, status.Convert(err).Message())
	}
	return ctx, err
}

// presentedCredentials tells a failed login (a wrong token, a malformed
// authorization header), which is throttled, from a call that brought no
// credentials at all, which is merely refused.
func presentedCredentials(err error) bool {
	return !strings.HasPrefix(status.Convert(err).Message(), missingCredentials)
}

const missingCredentials = "missing credentials"

func (a *Auth) authenticate(ctx context.Context) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if vals := md.Get("authorization"); len(vals) > 0 && len(a.tokens) > 0 {
		scheme, secret, ok := strings.Cut(vals[0], " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return nil, unauthenticated("the authorization header must be \"Bearer <token>\"")
		}
		if p, ok := a.lookupToken(strings.TrimSpace(secret)); ok {
			return WithPrincipal(ctx, a.principal(p)), nil
		}
		return nil, unauthenticated("invalid token")
	}
	if a.mtls {
		if p := certPrincipal(ctx, md); p != "" {
			return WithPrincipal(ctx, a.principal(p)), nil
		}
	}
	how := "send \"authorization: Bearer <token>\""
	if a.mtls {
		how = "present a client certificate, or " + how
	}
	return nil, unauthenticated(missingCredentials + ": " + how)
}

// lookupToken compares the presented token with every known one in constant
// time (digests make the lengths equal), so timing says nothing about which
// or how much matched.
func (a *Auth) lookupToken(secret string) (string, bool) {
	d := sha256.Sum256([]byte(secret))
	found := ""
	for _, t := range a.tokens {
		if subtle.ConstantTimeCompare(d[:], t.digest[:]) == 1 {
			found = t.principal
		}
	}
	return found, found != ""
}

func (a *Auth) principal(name string) Principal {
	return Principal{Name: name, Admin: a.admins[name]}
}

// certPrincipal is the common name of the caller's verified client
// certificate: from the TLS connection itself, or, on the gateway's
// in-process connection, as the gateway passed it on.
func certPrincipal(ctx context.Context, md metadata.MD) string {
	if viaGateway(ctx) {
		return gatewayValue(ctx, md, PeerCertHeader)
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ""
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return ""
	}
	return info.State.VerifiedChains[0][0].Subject.CommonName
}

// AuthenticateHTTP checks the credentials of a plain HTTP request (not a
// gateway call, which Authenticate sees as gRPC metadata): a bearer token
// in Authorization, or a client certificate that the HTTPS server
// verified. With no authentication configured every request is Anonymous.
func (a *Auth) AuthenticateHTTP(r *http.Request) (Principal, error) {
	if !a.Required() {
		return Principal{Name: Anonymous}, nil
	}
	addr := hostOf(r.RemoteAddr)
	if err := a.guard.throttled(addr); err != nil {
		return Principal{}, err
	}
	p, err := a.authenticateHTTP(r)
	if err != nil && presentedCredentials(err) {
		a.guard.failed(addr, r.Method+" "+r.URL.Path, status.Convert(err).Message())
	}
	return p, err
}

func (a *Auth) authenticateHTTP(r *http.Request) (Principal, error) {
	if v := r.Header.Get("Authorization"); v != "" && len(a.tokens) > 0 {
		scheme, secret, ok := strings.Cut(v, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return Principal{}, unauthenticated("the authorization header must be \"Bearer <token>\"")
		}
		if p, ok := a.lookupToken(strings.TrimSpace(secret)); ok {
			return a.principal(p), nil
		}
		return Principal{}, unauthenticated("invalid token")
	}
	if a.mtls && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		return a.principal(r.TLS.VerifiedChains[0][0].Subject.CommonName), nil
	}
	return Principal{}, unauthenticated(missingCredentials + ": send \"Authorization: Bearer <token>\"")
}

func unauthenticated(msg string) error {
	return withInfo(codes.Unauthenticated, msg, ReasonUnauthenticated, nil)
}
