package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"crypto/tls"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/test/bufconn"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/service"
	"github.com/sockd/sockd/sockmgr"
)

// run starts sockd and serves until ctx ends (SIGINT/SIGTERM), then shuts
// down: it stops taking calls, lets in-flight calls finish for up to
// --shutdown-timeout, closes every socket (which ends any call still
// blocked on one), and returns nil.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := parseConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	auth, err := authFromConfig(cfg)
	if err != nil {
		return err
	}
	tlsCfg, err := tlsFromConfig(cfg)
	if err != nil {
		return err
	}
	pol, err := policyFromConfig(cfg)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}

	grpcLis, err := net.Listen("tcp", cfg.grpcAddr)
	if err != nil {
		return fmt.Errorf("gRPC listener: %w", err)
	}
	var httpLis net.Listener
	if cfg.httpAddr != "" {
		if httpLis, err = net.Listen("tcp", cfg.httpAddr); err != nil {
			grpcLis.Close()
			return fmt.Errorf("HTTP listener: %w", err)
		}
	}
	// sockd's own ports are never a bind or a destination.
	for _, l := range []net.Listener{grpcLis, httpLis} {
		if l != nil {
			pol.Own = append(pol.Own, l.Addr().(*net.TCPAddr).AddrPort())
		}
	}

	mgr := sockmgr.New(sockmgr.Config{
		Policy:             pol,
		MaxSockets:         cfg.maxSockets,
		MaxSocketsPerOwner: cfg.maxSocketsPerPrincipal,
		IdleTimeout:        cfg.idleTimeout,
		EventHistory:       cfg.eventHistory,
		RetainBytes:        cfg.retainBytes,
		SubscriberBuffer:   cfg.eventBuffer,
	})
	svc := service.New(mgr, service.Config{MaxBytesPerCall: cfg.maxCallBytes})
	streamsDone := make(chan struct{})
	burst := cfg.rateBurst
	if burst == 0 {
		burst = int(cfg.rate)
	}
	unary, stream := service.Interceptors(service.InterceptorConfig{
		Log: log, Auth: auth, RateLimit: service.NewRateLimiter(cfg.rate, burst), StreamsDone: streamsDone,
	})
	// Metrics count every call, refused ones included: outermost.
	metrics := service.NewMetrics(mgr)
	unaryMetrics, streamMetrics := metrics.Interceptors()
	unary = append([]grpc.UnaryServerInterceptor{unaryMetrics}, unary...)
	stream = append([]grpc.StreamServerInterceptor{streamMetrics}, stream...)
	// Requests up to twice the per-call limit reach the service, which
	// answers with a LIMIT_EXCEEDED naming the limit; beyond that gRPC
	// refuses them itself.
	msgLimit := 2*cfg.maxCallBytes + 64<<10
	// Protobuf on the wire; the Attach byte path skips protobuf's copies.
	serverOpts := append(service.ServerOptions(),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.MaxRecvMsgSize(msgLimit),
		grpc.MaxConcurrentStreams(uint32(cfg.maxStreams)),
		// Calls run on reused goroutines whose stacks have already grown,
		// instead of a new goroutine (and stack copies) per call.
		grpc.NumStreamWorkers(uint32(4*runtime.NumCPU())),
		grpc.InitialWindowSize(transportWindow),
		grpc.InitialConnWindowSize(transportWindow),
		grpc.WriteBufferSize(transportBuffer),
		grpc.ReadBufferSize(transportBuffer),
		// Find dead clients (and so end their keep-alive streams and
		// leases), and refuse clients that ping too often.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)
	grpcSrv := grpc.NewServer(serverOpts...)
	// The network listener gets TLS; the gateway's in-process one does not
	// need it (it never leaves the process).
	networkSrv := grpcSrv
	if tlsCfg != nil {
		networkSrv = grpc.NewServer(append(serverOpts, grpc.Creds(credentials.NewTLS(tlsCfg)))...)
	}
	for _, srv := range uniqueServers(grpcSrv, networkSrv) {
		sockdv1.RegisterSocketServiceServer(srv, svc)
	}
	healthSrv := health.NewServer()
	for _, srv := range uniqueServers(grpcSrv, networkSrv) {
		healthpb.RegisterHealthServer(srv, healthSrv)
		reflection.Register(srv)
	}
	healthSrv.SetServingStatus(sockdv1.SocketService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	for _, srv := range uniqueServers(grpcSrv, networkSrv) {
		metrics.InitializeMetrics(srv)
	}

	var wg sync.WaitGroup
	serveErr := make(chan error, 3)
	wg.Go(func() { serveErr <- networkSrv.Serve(grpcLis) })

	var httpSrv *http.Server
	var healthy atomic.Bool
	healthy.Store(true)
	if httpLis != nil {
		// The gateway is a gRPC client of this very server, over an
		// in-memory connection: REST calls pass the same interceptors
		// (request ids, auth, limits, logs) as gRPC calls.
		inproc := bufconn.Listen(1 << 20)
		wg.Go(func() { serveErr <- grpcSrv.Serve(inproc) })
		conn, err := grpc.NewClient("passthrough:///sockd-inprocess",
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return inproc.DialContext(ctx) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(msgLimit), grpc.MaxCallSendMsgSize(msgLimit)),
		)
		if err != nil {
			return err
		}
		defer conn.Close()
		handler, err := newHTTPHandler(ctx, conn, httpOptions{
			healthy: healthy.Load, profiling: cfg.pprof, metrics: metrics.Handler(), auth: auth,
		})
		if tlsCfg != nil {
			httpLis = tls.NewListener(httpLis, tlsCfg)
		}
		if err != nil {
			return err
		}
		httpSrv = &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 10 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		wg.Go(func() {
			if err := httpSrv.Serve(httpLis); !errors.Is(err, http.ErrServerClosed) {
				serveErr <- err
			}
		})
	}
	attrs := []any{"grpc", grpcLis.Addr().String()}
	if httpLis != nil {
		attrs = append(attrs, "http", httpLis.Addr().String())
	}
	attrs = append(attrs, "tls", tlsCfg != nil, "mtls", cfg.tlsClientCA != "", "auth", auth.Required(), "policy", pol.String())
	log.Info("listening", attrs...)

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		log.Error("server failed", "err", err)
	}
	log.Info("shutting down", "drain", cfg.shutdownTimeout)
	healthy.Store(false)
	healthSrv.Shutdown()
	close(streamsDone) // open-ended streams (Attach, WatchEvents) end now

	stopped := make(chan struct{})
	go func() {
		for _, srv := range uniqueServers(grpcSrv, networkSrv) {
			srv.GracefulStop()
		}
		close(stopped)
	}()
	if httpSrv != nil {
		go func() {
			shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout+time.Second)
			defer cancel()
			_ = httpSrv.Shutdown(shutdownCtx)
		}()
	}
	select {
	case <-stopped:
	case <-time.After(cfg.shutdownTimeout):
		log.Warn("in-flight calls still running: closing their sockets")
	}
	// Closing every socket wakes any call still blocked on one.
	if err := mgr.Close(); err != nil {
		log.Warn("closing sockets", "err", err)
	}
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		for _, srv := range uniqueServers(grpcSrv, networkSrv) {
			srv.Stop()
		}
	}
	if httpSrv != nil {
		_ = httpSrv.Close()
	}
	wg.Wait()
	log.Info("stopped")
	return nil
}

// Transport settings, chosen by measurement (docs/benchmarks.md): static
// 16 MiB flow-control windows instead of the BDP estimate, and larger
// read/write buffers, let one Attach stream go several times faster.
const (
	transportWindow = 16 << 20
	transportBuffer = 256 << 10
)

// uniqueServers lists the gRPC servers: one, or two when the network one has
// TLS and the in-process one does not.
func uniqueServers(a, b *grpc.Server) []*grpc.Server {
	if a == b {
		return []*grpc.Server{a}
	}
	return []*grpc.Server{a, b}
}
