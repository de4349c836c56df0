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
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
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

	mgr := sockmgr.New(sockmgr.Config{})
	svc := service.New(mgr, service.Config{MaxBytesPerCall: cfg.maxCallBytes})
	streamsDone := make(chan struct{})
	unary, stream := service.Interceptors(log, nil, streamsDone)
	// Requests up to twice the per-call limit reach the service, which
	// answers with a LIMIT_EXCEEDED naming the limit; beyond that gRPC
	// refuses them itself.
	msgLimit := 2*cfg.maxCallBytes + 64<<10
	grpcSrv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.MaxRecvMsgSize(msgLimit),
	)
	sockdv1.RegisterSocketServiceServer(grpcSrv, svc)
	healthSrv := health.NewServer()
	healthpb.RegisterHealthServer(grpcSrv, healthSrv)
	healthSrv.SetServingStatus(sockdv1.SocketService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	reflection.Register(grpcSrv)

	var wg sync.WaitGroup
	serveErr := make(chan error, 3)
	wg.Go(func() { serveErr <- grpcSrv.Serve(grpcLis) })

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
		handler, err := newHTTPHandler(ctx, conn, healthy.Load)
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
		grpcSrv.GracefulStop()
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
		grpcSrv.Stop()
	}
	if httpSrv != nil {
		_ = httpSrv.Close()
	}
	wg.Wait()
	log.Info("stopped")
	return nil
}
