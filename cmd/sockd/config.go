package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/sockd/sockd/capture"
	"github.com/sockd/sockd/service"
	"github.com/sockd/sockd/sockmgr"
)

// config is sockd's settings. Every flag is also read from the environment as
// SOCKD_<FLAG> (upper case, dashes as underscores), and from the YAML file
// --config names (every flag a key, without its dashes); a flag on the
// command line wins over the environment, which wins over the file.
type config struct {
	grpcAddr        string
	httpAddr        string
	toxiproxyAddr   string
	maxCallBytes    int
	retainBytes     int
	logLevel        string
	logFormat       string
	shutdownTimeout time.Duration
	insecure        bool
	pprof           bool
	version         bool
	configFile      string

	// the listeners' own limits
	httpAllowedHosts      listFlag
	httpReadHeaderTimeout time.Duration
	httpReadTimeout       time.Duration
	httpWriteTimeout      time.Duration
	httpIdleTimeout       time.Duration
	httpMaxConns          int
	grpcMaxConns          int
	restCallTimeout       time.Duration

	// security
	tokenFile   string
	tlsCert     string
	tlsKey      string
	tlsClientCA string
	admins      listFlag

	// address policy
	allowBind    listFlag
	allowConnect listFlag
	policyFile   string

	// limits and lifetimes
	maxSockets             int
	maxSocketsPerPrincipal int
	maxStreams             int
	maxStreamsPerPrincipal int
	rate                   float64
	rateBurst              int
	idleTimeout            time.Duration

	// events
	eventHistory int
	eventBuffer  int

	// capture
	capture       bool
	captureMemory int64
	captureRing   int64
	captureRetain time.Duration
}

// listFlag is a repeatable flag. From the environment it takes a
// whitespace-separated list.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// Defaults of the limits (docs/security.md lists them all).
const (
	defaultMaxSockets             = 16384
	defaultMaxSocketsPerPrincipal = 4096
	defaultMaxStreams             = 256
	defaultHTTPMaxConns           = 512
	defaultGRPCMaxConns           = 1024
	defaultRESTCallTimeout        = time.Minute
	defaultRate                   = 50000
	defaultIdleTimeout            = time.Hour
)

// errUsage is a bad command line: exit code 2, as flag's own errors.
var errUsage = errors.New("usage")

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

func parseConfig(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("sockd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.grpcAddr, "grpc-addr", "127.0.0.1:50051", "gRPC listen address (host:port; port 0 picks a free one)")
	fs.StringVar(&c.httpAddr, "http-addr", "127.0.0.1:8080", "HTTP address for the live view (/), the REST gateway, /openapi.json, /healthz and /metrics; empty disables")
	fs.StringVar(&c.toxiproxyAddr, "toxiproxy-addr", "", "serve toxiproxy 2.x's HTTP API here (toxiproxy's own port is 8474), so that toxiproxy-cli and toxiproxy's client libraries drive sockd's proxies; empty: off")
	fs.IntVar(&c.maxCallBytes, "max-call-bytes", service.DefaultMaxBytesPerCall, "most data in one Send, Recv, SendTo, RecvFrom or Attach message")
	fs.IntVar(&c.retainBytes, "retain-bytes", sockmgr.DefaultRetainBytes, "delivered bytes a TCP socket keeps for a client that asks again from an offset (Recv from_offset, Attach resume); a Recv that uses offsets returns at most this much")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 2*time.Second, "on SIGTERM, how long in-flight calls may finish before the sockets are closed under them")
	fs.BoolVar(&c.insecure, "insecure", false, "allow listening on a non-loopback address without TLS and authentication")
	fs.BoolVar(&c.version, "version", false, "print sockd's version and exit")
	fs.StringVar(&c.configFile, "config", "", "a YAML file of settings: each flag a key (max-sockets: 512; allow-connect: [10.0.0.0/8]); flags and SOCKD_* win over it")
	fs.Var(&c.httpAllowedHosts, "http-allowed-hosts", "more host names the HTTP side answers to (repeatable, or comma-separated); by default only IP addresses and localhost, so that a web page cannot reach sockd through DNS rebinding")
	fs.DurationVar(&c.httpReadHeaderTimeout, "http-read-header-timeout", 10*time.Second, "how long an HTTP client may take to send a request's headers")
	fs.DurationVar(&c.httpReadTimeout, "http-read-timeout", time.Minute, "how long an HTTP client may take to send a whole request, body included")
	fs.DurationVar(&c.httpWriteTimeout, "http-write-timeout", time.Minute, "how long an HTTP response may stall because the client does not read it (streams: between two writes)")
	fs.DurationVar(&c.httpIdleTimeout, "http-idle-timeout", time.Minute, "how long an idle keep-alive HTTP connection is kept")
	fs.IntVar(&c.httpMaxConns, "http-max-conns", defaultHTTPMaxConns, "open HTTP connections at most; at the limit an idle one is closed for a new one, or the new one is refused")
	fs.IntVar(&c.grpcMaxConns, "grpc-max-conns", defaultGRPCMaxConns, "open gRPC connections at most; more are refused")
	fs.DurationVar(&c.restCallTimeout, "rest-call-timeout", defaultRESTCallTimeout, "the longest a REST call waits when it sends no Grpc-Timeout header (a blocking recv or accept, say); send Grpc-Timeout (e.g. 10M) to wait longer")
	fs.BoolVar(&c.pprof, "pprof", false, "serve Go's profiler at /debug/pprof/ on the HTTP address (for measuring; keep it off on a network)")
	fs.StringVar(&c.tokenFile, "token-file", "", "bearer tokens, one \"TOKEN PRINCIPAL\" per line; callers must present one")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "serve gRPC and HTTP over TLS with this certificate (PEM)")
	fs.StringVar(&c.tlsKey, "tls-key", "", "the TLS certificate's key (PEM)")
	fs.StringVar(&c.tlsClientCA, "tls-client-ca", "", "require client certificates signed by this CA (mTLS); the principal is the certificate's common name")
	fs.Var(&c.admins, "admin", "a principal that sees and acts on every principal's sockets (repeatable)")
	fs.Var(&c.allowBind, "allow-bind", "allow binding to CIDR[:PORTS] (repeatable; replaces the default 127.0.0.0/8:0,1024-65535 and [::1/128]:0,1024-65535)")
	fs.Var(&c.allowConnect, "allow-connect", "allow connecting and sending to CIDR[:PORTS] (repeatable; replaces the default 127.0.0.0/8 and ::1/128)")
	fs.StringVar(&c.policyFile, "policy-file", "", "more rules, one \"allow-bind RULE\" or \"allow-connect RULE\" per line")
	fs.IntVar(&c.maxSockets, "max-sockets", defaultMaxSockets, "open sockets in all")
	fs.IntVar(&c.maxSocketsPerPrincipal, "max-sockets-per-principal", defaultMaxSocketsPerPrincipal, "open sockets per principal")
	fs.IntVar(&c.maxStreams, "max-streams", defaultMaxStreams, "concurrent gRPC calls and streams per client connection")
	fs.IntVar(&c.maxStreamsPerPrincipal, "max-streams-per-principal", service.DefaultMaxStreamsPerPrincipal, "open streams (Attach, WatchEvents, ReadCapture, lease keep-alives; REST ones too) per principal")
	fs.Float64Var(&c.rate, "rate", defaultRate, "calls per second per principal (0: no limit)")
	fs.IntVar(&c.rateBurst, "rate-burst", 0, "burst of calls above --rate (default: one second's worth)")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", defaultIdleTimeout, "close sockets idle this long (no call in flight, no traffic); 0: never; a socket may set its own")
	fs.IntVar(&c.eventHistory, "event-history", sockmgr.DefaultEventHistory, "socket events kept for subscribers that resume (WatchEvents since, GET /v1/events?since=N)")
	fs.BoolVar(&c.capture, "capture", true, "allow capture (SetCapture, ReadCapture): captures hold payloads, so --capture=false turns the feature off entirely")
	fs.Int64Var(&c.captureMemory, "capture-memory", capture.DefaultBudgetBytes, "bytes all capture rings hold together; past it the oldest records are dropped (and marked)")
	fs.Int64Var(&c.captureRing, "capture-ring", capture.DefaultRingBytes, "bytes one socket's capture ring holds unless SetCapture says otherwise")
	fs.DurationVar(&c.captureRetain, "capture-retain", service.DefaultCaptureRetain, "how long the capture of a closed socket is kept for export")
	fs.IntVar(&c.eventBuffer, "event-buffer", sockmgr.DefaultSubscriberBuffer, "events queued per subscriber; one that falls further behind is told how many it missed")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: sockd [flags]\n\nsockd holds real kernel TCP/UDP sockets for remote clients (gRPC, REST, sockctl).\nEvery flag can also be set as SOCKD_<FLAG>, e.g. SOCKD_GRPC_ADDR.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		env := "SOCKD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && !set[f.Name] {
			values := []string{v}
			if _, isList := f.Value.(*listFlag); isList {
				values = strings.Fields(v)
			}
			for _, v := range values {
				if err := fs.Set(f.Name, v); err != nil && envErr == nil {
					envErr = fmt.Errorf("%w: %s=%q: %v", errUsage, env, v, err)
				}
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if c.configFile != "" {
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true }) // the environment's too
		if err := applyConfigFile(fs, c.configFile, set); err != nil {
			return nil, err
		}
	}
	return c, c.validate()
}

func (c *config) validate() error {
	if c.maxCallBytes <= 0 || c.maxCallBytes > 64<<20 {
		return fmt.Errorf("%w: --max-call-bytes must be from 1 to %d", errUsage, 64<<20)
	}
	if c.retainBytes < 64<<10 || c.retainBytes > 256<<20 {
		return fmt.Errorf("%w: --retain-bytes must be from %d to %d", errUsage, 64<<10, 256<<20)
	}
	if c.shutdownTimeout < 0 {
		return fmt.Errorf("%w: --shutdown-timeout must not be negative", errUsage)
	}
	switch c.logFormat {
	case "text", "json":
	default:
		return fmt.Errorf("%w: --log-format must be text or json", errUsage)
	}
	if _, err := parseLevel(c.logLevel); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return fmt.Errorf("%w: --tls-cert and --tls-key go together", errUsage)
	}
	if c.tlsClientCA != "" && c.tlsCert == "" {
		return fmt.Errorf("%w: --tls-client-ca needs --tls-cert and --tls-key", errUsage)
	}
	if c.maxSockets <= 0 || c.maxSocketsPerPrincipal <= 0 || c.maxStreams <= 0 || c.maxStreamsPerPrincipal <= 0 || c.rate < 0 || c.rateBurst < 0 || c.idleTimeout < 0 ||
		c.eventHistory <= 0 || c.eventBuffer <= 0 || c.httpMaxConns <= 0 || c.grpcMaxConns <= 0 ||
		c.captureMemory <= 0 || c.captureRing <= 0 || c.captureRetain <= 0 {
		return fmt.Errorf("%w: limits and event sizes must be positive (--rate and --idle-timeout may be 0: none)", errUsage)
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--http-read-header-timeout", c.httpReadHeaderTimeout}, {"--http-read-timeout", c.httpReadTimeout},
		{"--http-write-timeout", c.httpWriteTimeout}, {"--http-idle-timeout", c.httpIdleTimeout}, {"--rest-call-timeout", c.restCallTimeout}} {
		if d.v <= 0 {
			return fmt.Errorf("%w: %s must be positive", errUsage, d.flag)
		}
	}
	for _, h := range c.allowedHosts() {
		if h == "" || strings.ContainsAny(h, "/ :") {
			return fmt.Errorf("%w: --http-allowed-hosts: %q is not a host name (no scheme, port or path)", errUsage, h)
		}
	}
	tls := c.tlsCert != ""
	auth := c.tokenFile != "" || c.tlsClientCA != ""
	if c.toxiproxyAddr != "" && c.httpAddr == "" {
		return fmt.Errorf("%w: --toxiproxy-addr needs the HTTP side (--http-addr): it calls sockd through the same gateway", errUsage)
	}
	for _, l := range []struct{ flag, addr string }{{"--grpc-addr", c.grpcAddr}, {"--http-addr", c.httpAddr}, {"--toxiproxy-addr", c.toxiproxyAddr}} {
		if l.addr == "" {
			continue
		}
		loopback, err := isLoopback(l.addr)
		if err != nil {
			return fmt.Errorf("%w: %s %q: %v", errUsage, l.flag, l.addr, err)
		}
		if loopback || c.insecure || (tls && auth) {
			continue
		}
		var missing []string
		if !tls {
			missing = append(missing, "TLS (--tls-cert, --tls-key)")
		}
		if !auth {
			missing = append(missing, "authentication (--token-file or --tls-client-ca)")
		}
		return fmt.Errorf("refusing to listen on %s %s without %s: anyone who can reach it could open sockets on this host; "+
			"listen on loopback (127.0.0.1), configure them, or pass --insecure if this network is trusted",
			l.flag, l.addr, strings.Join(missing, " and "))
	}
	return nil
}

// isLoopback reports whether a listen address is on loopback only. An empty
// host or a name other than localhost is not.
func isLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	if host == "localhost" {
		return true, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false, nil
	}
	return ip.Unmap().IsLoopback(), nil
}

// allowedHosts are the extra Host names of --http-allowed-hosts, lower case,
// split at commas.
func (c *config) allowedHosts() []string {
	var out []string
	for _, v := range c.httpAllowedHosts {
		for _, h := range strings.Split(v, ",") {
			out = append(out, strings.ToLower(strings.TrimSpace(h)))
		}
	}
	return out
}

// applyConfigFile sets every flag the YAML file names that was not set on
// the command line or in the environment. A key that is no flag, or a value
// the flag refuses, is an error naming the key.
func applyConfigFile(fs *flag.FlagSet, path string, set map[string]bool) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: --config: %v", errUsage, err)
	}
	var doc map[string]any
	// Numbers stay as written (json.Number), not floats: 4194304, not 4.194304e+06.
	if err := yaml.Unmarshal(raw, &doc, func(d *json.Decoder) *json.Decoder { d.UseNumber(); return d }); err != nil {
		return fmt.Errorf("%w: --config %s: not a YAML mapping of settings: %v", errUsage, path, err)
	}
	for _, key := range slices.Sorted(maps.Keys(doc)) {
		f := fs.Lookup(key)
		if f == nil || key == "config" {
			return fmt.Errorf("%w: --config %s: unknown key %q (keys are sockd's flags without their dashes: see sockd --help)", errUsage, path, key)
		}
		if set[key] {
			continue
		}
		var values []any
		switch v := doc[key].(type) {
		case []any:
			if _, isList := f.Value.(*listFlag); !isList {
				return fmt.Errorf("%w: --config %s: %s takes one value, not a list", errUsage, path, key)
			}
			values = v
		case map[string]any:
			return fmt.Errorf("%w: --config %s: %s takes a value, not a mapping", errUsage, path, key)
		default:
			values = []any{v}
		}
		for _, v := range values {
			text := fmt.Sprint(v)
			if v == nil {
				text = ""
			}
			if err := fs.Set(key, text); err != nil {
				return fmt.Errorf("%w: --config %s: %s: %q: %v", errUsage, path, key, text, err)
			}
		}
	}
	return nil
}
