package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/relay"
	"github.com/sockd/sockd/service"
	"github.com/sockd/sockd/sockmgr"
)

// run starts sockd and serves until ctx ends (SIGINT/SIGTERM), then shuts
// down: it stops taking calls, lets in-flight calls finish for up to
// --shutdown-timeout, answers calls still waiting with UNAVAILABLE
// (SHUTTING_DOWN) as it closes every socket, and returns nil.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.version {
		fmt.Fprintf(stdout, "sockd %s\n", version())
		return nil
	}
	d, err := build(cfg, stderr)
	if err != nil {
		return err
	}
	return d.serve(ctx)
}

// daemon is a built sockd: every part made, listeners open, nothing served
// yet.
type daemon struct {
	cfg      *config
	log      *slog.Logger
	mgr      *sockmgr.Manager
	relays   *relay.Manager
	captures *service.Captures // nil: --capture=false
	pol      *policy.Policy
	auth     *service.Auth
	tls      *tls.Config
	metrics  *service.Metrics

	grpcLis    net.Listener
	httpLis    net.Listener // nil: no HTTP side
	toxiLis    net.Listener // nil: no toxiproxy API
	gatewayLis *service.GatewayListener

	networkSrv *grpc.Server // on grpcLis, with TLS when configured
	gatewaySrv *grpc.Server // on gatewayLis: the REST gateway's (the same server when there is no TLS)
	healthSrv  *health.Server
	gatewayCC  *grpc.ClientConn
	httpSrv    *http.Server
	toxiSrv    *http.Server

	streamsDone chan struct{} // closed at shutdown: open-ended streams end
	healthy     atomic.Bool

	// undo closes what build made, last first (on a build error, and at
	// the end of shutdown).
	undo []func()
}

// build makes every part of the daemon and opens its listeners. On error,
// whatever it made is closed again: no listener or goroutine is left.
func build(cfg *config, stderr io.Writer) (d *daemon, err error) {
	d = &daemon{cfg: cfg, log: newLogger(cfg, stderr), streamsDone: make(chan struct{})}
	defer func() {
		if err != nil {
			d.close()
			d = nil
		}
	}()
	setGRPCLogger(d.log)
	if d.auth, err = authFromConfig(cfg, d.log); err != nil {
		return nil, err
	}
	if d.tls, err = tlsFromConfig(cfg); err != nil {
		return nil, err
	}
	if d.pol, err = policyFromConfig(cfg); err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := d.listen(); err != nil {
		return nil, err
	}
	d.mgr = sockmgr.New(sockmgr.Config{
		Policy:             d.pol,
		MaxSockets:         cfg.maxSockets,
		MaxSocketsPerOwner: cfg.maxSocketsPerPrincipal,
		IdleTimeout:        cfg.idleTimeout,
		EventHistory:       cfg.eventHistory,
		SubscriberBuffer:   cfg.eventBuffer,
		RetainBytes:        cfg.retainBytes,
	})
	d.undo = append(d.undo, func() { _ = d.mgr.Close() })
	// Proxies and relays over the same sockets; closed (drained) before the
	// sockets are (undo runs last first).
	var rcfg relay.Config
	if cfg.capture {
		d.captures = service.NewCaptures(d.mgr, nil, service.CaptureConfig{Memory: cfg.captureMemory, RingBytes: cfg.captureRing, Retain: cfg.captureRetain})
		d.undo = append(d.undo, d.captures.Close)
		rcfg.Tap = d.captures.Tap // a relayed socket that records goes through user space
	}
	d.relays = relay.New(d.mgr, rcfg)
	d.undo = append(d.undo, func() { _ = d.relays.Close() })
	if d.captures != nil {
		d.captures.SetRelays(d.relays)
	}
	d.buildGRPC()
	if d.httpLis != nil {
		if err := d.buildHTTP(); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// listen opens the gRPC and HTTP listeners; sockd's own ports then join the
// policy (never a bind or a destination).
func (d *daemon) listen() error {
	lis, err := net.Listen(listenNetwork(d.cfg.grpcAddr), d.cfg.grpcAddr)
	if err != nil {
		return fmt.Errorf("gRPC listener: %w", err)
	}
	d.undo = append(d.undo, func() { lis.Close() })
	d.grpcLis = newConnLimitListener(lis, d.cfg.grpcMaxConns, d.log)
	if d.cfg.httpAddr != "" {
		lis, err := net.Listen(listenNetwork(d.cfg.httpAddr), d.cfg.httpAddr)
		if err != nil {
			return fmt.Errorf("HTTP listener: %w", err)
		}
		d.undo = append(d.undo, func() { lis.Close() })
		d.httpLis = lis
	}
	if d.cfg.toxiproxyAddr != "" {
		lis, err := net.Listen(listenNetwork(d.cfg.toxiproxyAddr), d.cfg.toxiproxyAddr)
		if err != nil {
			return fmt.Errorf("toxiproxy API listener: %w", err)
		}
		d.undo = append(d.undo, func() { lis.Close() })
		d.toxiLis = lis
	}
	for _, l := range []net.Listener{d.grpcLis, d.httpLis, d.toxiLis} {
		if l != nil {
			d.pol.Own = append(d.pol.Own, l.Addr().(*net.TCPAddr).AddrPort())
		}
	}
	return nil
}

// listenNetwork is "tcp4" for an IPv4 address, "tcp6" for an IPv6 one, and
// "tcp" for a name: 0.0.0.0 means IPv4's wildcard, as it says (Go's "tcp"
// would listen on IPv6's too, and report [::]).
func listenNetwork(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "tcp"
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Is4() {
			return "tcp4"
		}
		return "tcp6"
	}
	return "tcp"
}

// Transport settings, chosen by measurement (docs/benchmarks.md): static
// 16 MiB flow-control windows instead of the BDP estimate, and larger
// read/write buffers, let one Attach stream go several times faster.
const (
	transportWindow = 16 << 20
	transportBuffer = 256 << 10
)

// msgLimit is the largest gRPC message sockd takes: requests up to twice
// the per-call limit reach the service, which answers LIMIT_EXCEEDED naming
// the limit; beyond that gRPC refuses them itself.
func (c *config) msgLimit() int { return 2*c.maxCallBytes + 64<<10 }

func (d *daemon) buildGRPC() {
	cfg := d.cfg
	svc := service.New(d.mgr, service.Config{MaxBytesPerCall: cfg.maxCallBytes, Info: d.serverInfo(), Relays: d.relays, Captures: d.captures})
	proxies := service.NewProxyServer(d.relays, d.captures)
	burst := cfg.rateBurst
	if burst == 0 {
		burst = int(cfg.rate)
	}
	unary, stream := service.Interceptors(service.InterceptorConfig{
		Log: d.log, Auth: d.auth, RateLimit: service.NewRateLimiter(cfg.rate, burst), StreamsDone: d.streamsDone,
		MaxStreamsPerPrincipal: cfg.maxStreamsPerPrincipal,
	})
	// Metrics count every call, refused ones included: outermost.
	d.metrics = service.NewMetrics(d.mgr).WithRelays(d.relays).WithCaptures(d.captures)
	unaryMetrics, streamMetrics := d.metrics.Interceptors()
	unary = append([]grpc.UnaryServerInterceptor{unaryMetrics}, unary...)
	stream = append([]grpc.StreamServerInterceptor{streamMetrics}, stream...)
	opts := append(service.ServerOptions(),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.MaxRecvMsgSize(cfg.msgLimit()),
		grpc.MaxConcurrentStreams(uint32(cfg.maxStreams)),
		// Calls run on reused goroutines whose stacks have already grown,
		// instead of a new goroutine (and stack copies) per call.
		grpc.NumStreamWorkers(uint32(4*runtime.NumCPU())),
		grpc.InitialWindowSize(transportWindow),
		grpc.InitialConnWindowSize(transportWindow),
		grpc.WriteBufferSize(transportBuffer),
		grpc.ReadBufferSize(transportBuffer),
		// A client has 10 s for its HTTP/2 preface and settings (a
		// connection that says nothing holds a descriptor for no more).
		grpc.ConnectionTimeout(10*time.Second),
		// Find dead clients (and so end their keep-alive streams and
		// leases), refuse clients that ping too often, and let connections
		// idle for long go (clients reconnect when they need to).
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, MaxConnectionIdle: 15 * time.Minute}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)
	d.gatewaySrv = grpc.NewServer(opts...)
	// The network listener gets TLS; the gateway's in-process one does not
	// need it (it never leaves the process).
	d.networkSrv = d.gatewaySrv
	if d.tls != nil {
		d.networkSrv = grpc.NewServer(append(opts, grpc.Creds(credentials.NewTLS(d.tls)))...)
	}
	d.undo = append(d.undo, func() {
		for _, srv := range d.servers() {
			srv.Stop() // a server made but never served still has its workers
		}
	})
	d.healthSrv = health.NewServer()
	for _, srv := range d.servers() {
		sockdv1.RegisterSocketServiceServer(srv, svc)
		sockdv1.RegisterProxyServiceServer(srv, proxies)
		healthpb.RegisterHealthServer(srv, d.healthSrv)
		reflection.Register(srv)
		d.metrics.InitializeMetrics(srv)
	}
	d.healthSrv.SetServingStatus(sockdv1.SocketService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	d.healthSrv.SetServingStatus(sockdv1.ProxyService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
}

// buildHTTP makes the REST gateway, a gRPC client of this very server over
// an in-process connection (so REST calls pass the same interceptors as
// gRPC: request ids, auth, limits, logs), and the HTTP server around it.
func (d *daemon) buildHTTP() error {
	cfg := d.cfg
	d.gatewayLis = service.NewGatewayListener()
	d.undo = append(d.undo, func() { d.gatewayLis.Close() })
	cc, err := grpc.NewClient("passthrough:///sockd-gateway",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return d.gatewayLis.Dial(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(cfg.msgLimit()), grpc.MaxCallSendMsgSize(cfg.msgLimit())),
	)
	if err != nil {
		return err
	}
	d.gatewayCC = cc
	d.undo = append(d.undo, func() { cc.Close() })
	d.healthy.Store(true)
	handler, err := newHTTPHandler(context.Background(), cc, httpOptions{
		healthy: d.healthy.Load, profiling: cfg.pprof, metrics: d.metrics.Handler(), auth: d.auth,
		allowedHosts: cfg.allowedHosts(), maxBodyBytes: maxBodyBytes(cfg.maxCallBytes),
		callTimeout: cfg.restCallTimeout, writeTimeout: cfg.httpWriteTimeout,
	})
	if err != nil {
		return err
	}
	if d.tls != nil {
		d.httpLis = tls.NewListener(d.httpLis, d.tls)
	}
	d.httpSrv = newHTTPServer(cfg, handler, d.log)
	if d.toxiLis != nil {
		if d.toxiSrv, err = d.buildToxiproxy(cc); err != nil {
			return err
		}
		if d.tls != nil {
			d.toxiLis = tls.NewListener(d.toxiLis, d.tls)
		}
	}
	return nil
}

// maxBodyBytes bounds a REST request body: the per-call data limit as
// base64 (4/3 of it) with 64 KiB for the rest of the request.
func maxBodyBytes(maxCallBytes int) int64 {
	return int64(maxCallBytes)*4/3 + 64<<10
}

// serverInfo is what GetServerInfo reports of the daemon.
func (d *daemon) serverInfo() service.ServerInfo {
	cfg := d.cfg
	rules := func(rs []policy.Rule) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = r.String()
		}
		return out
	}
	features := []string{"proxies"}
	if cfg.capture {
		features = append(features, "capture")
	}
	if cfg.toxiproxyAddr != "" {
		features = append(features, "toxiproxy")
	}
	if d.tls != nil {
		features = append(features, "tls")
	}
	if cfg.tlsClientCA != "" {
		features = append(features, "mtls")
	}
	if cfg.tokenFile != "" {
		features = append(features, "tokens")
	}
	return service.ServerInfo{
		Version: version(), MaxMessageBytes: cfg.msgLimit(), MaxSockets: cfg.maxSockets,
		MaxSocketsPerPrincipal: cfg.maxSocketsPerPrincipal, MaxStreamsPerPrincipal: cfg.maxStreamsPerPrincipal,
		IdleTimeout: cfg.idleTimeout, CallsPerSecond: cfg.rate, RESTCallTimeout: cfg.restCallTimeout,
		AllowBind: rules(d.pol.Bind), AllowConnect: rules(d.pol.Connect), Features: features,
	}
}

// servers lists the gRPC servers: one, or two when the network one has TLS
// and the gateway's does not.
func (d *daemon) servers() []*grpc.Server {
	if d.networkSrv == d.gatewaySrv {
		return []*grpc.Server{d.networkSrv}
	}
	return []*grpc.Server{d.networkSrv, d.gatewaySrv}
}

// serve serves until ctx ends or a server fails, then shuts down.
func (d *daemon) serve(ctx context.Context) error {
	var wg sync.WaitGroup
	serveErr := make(chan error, 3)
	wg.Go(func() { serveErr <- d.networkSrv.Serve(d.grpcLis) })
	if d.httpSrv != nil {
		wg.Go(func() { serveErr <- d.gatewaySrv.Serve(d.gatewayLis) })
		wg.Go(func() {
			if err := d.httpSrv.Serve(d.httpLis); !errors.Is(err, http.ErrServerClosed) {
				serveErr <- err
			}
		})
	}
	if d.toxiSrv != nil {
		wg.Go(func() {
			if err := d.toxiSrv.Serve(d.toxiLis); !errors.Is(err, http.ErrServerClosed) {
				serveErr <- err
			}
		})
	}
	stopNudge := startMemoryNudge(d.log, memoryNudgeEvery)
	attrs := []any{"grpc", d.grpcLis.Addr().String()}
	if d.httpLis != nil {
		attrs = append(attrs, "http", d.httpLis.Addr().String())
	}
	if d.toxiLis != nil {
		attrs = append(attrs, "toxiproxy", d.toxiLis.Addr().String())
	}
	attrs = append(attrs, "version", version(), "tls", d.tls != nil, "mtls", d.cfg.tlsClientCA != "", "auth", d.auth.Required(), "policy", d.pol.String())
	d.log.Info("listening", attrs...)

	var failed error
	select {
	case <-ctx.Done():
	case failed = <-serveErr:
		d.log.Error("server failed", "err", failed)
	}
	stopNudge()
	d.shutdown()
	wg.Wait()
	d.log.Info("stopped")
	return failed
}

// shutdown stops taking calls, lets in-flight ones finish for up to
// --shutdown-timeout, then closes every socket (calls still waiting get
// UNAVAILABLE, SHUTTING_DOWN) and everything else.
func (d *daemon) shutdown() {
	d.log.Info("shutting down", "drain", d.cfg.shutdownTimeout)
	d.healthy.Store(false)
	d.healthSrv.Shutdown()
	close(d.streamsDone) // open-ended streams (Attach, WatchEvents) end now

	stopped := make(chan struct{})
	go func() {
		for _, srv := range d.servers() {
			srv.GracefulStop()
		}
		close(stopped)
	}()
	httpDone := make(chan struct{})
	if d.httpSrv != nil {
		go func() {
			defer close(httpDone)
			shutdownCtx, cancel := context.WithTimeout(context.Background(), d.cfg.shutdownTimeout+time.Second)
			defer cancel()
			_ = d.httpSrv.Shutdown(shutdownCtx)
		}()
	} else {
		close(httpDone)
	}
	select {
	case <-stopped:
	case <-time.After(d.cfg.shutdownTimeout):
		d.log.Warn("in-flight calls still running: closing their sockets")
	}
	// Relays drain (each writes out what it holds, within a second), then
	// closing every socket wakes any call still blocked on one; it answers
	// SHUTTING_DOWN.
	if err := d.relays.Close(); err != nil {
		d.log.Warn("stopping relays", "err", err)
	}
	if err := d.mgr.Close(); err != nil {
		d.log.Warn("closing sockets", "err", err)
	}
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		for _, srv := range d.servers() {
			srv.Stop()
		}
		<-stopped
	}
	if d.httpSrv != nil {
		_ = d.httpSrv.Close()
	}
	if d.toxiSrv != nil {
		_ = d.toxiSrv.Close()
	}
	<-httpDone
	d.close()
}

// close undoes build, last made first.
func (d *daemon) close() {
	for i := len(d.undo) - 1; i >= 0; i-- {
		d.undo[i]()
	}
	d.undo = nil
}
