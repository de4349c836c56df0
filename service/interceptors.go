package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/sockd/sockd/codec"
)

// RequestIDHeader carries a request id in and out (gRPC metadata, and the
// HTTP header of the same name through the gateway).
const RequestIDHeader = "x-request-id"

// InterceptorConfig is what the interceptors need.
type InterceptorConfig struct {
	Log         *slog.Logger
	Auth        *Auth           // nil: every caller is Anonymous
	RateLimit   *RateLimiter    // nil: no limit
	StreamsDone <-chan struct{} // closed at shutdown: open-ended streams end then
	// MaxStreamsPerPrincipal bounds each principal's open streams; 0: no
	// limit.
	MaxStreamsPerPrincipal int
}

// Interceptors returns the service's interceptor chains, outermost first:
// request id, then the caller's principal (authentication) and the rate
// limit, then one log line per call, then panic recovery.
func Interceptors(cfg InterceptorConfig) ([]grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor) {
	log := cfg.Log
	streams := newStreamLimiter(cfg.MaxStreamsPerPrincipal)
	logOpts := []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithFieldsFromContext(logFields),
		logging.WithLevels(codeLevel),
		// logFields says "protocol": rest or grpc itself.
		logging.WithDisableLoggingFields(logging.SystemTag[0]),
	}
	recoverOpts := []recovery.Option{recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		id := RequestID(ctx)
		loggerFrom(ctx).Error("panic in handler", "panic", fmt.Sprint(p), "requestId", id, "stack", string(debug.Stack()))
		return withInfo(codes.Internal, "internal error (request "+id+")", ReasonInternal, map[string]string{"requestId": id})
	})}
	logger := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		log.Log(ctx, slog.Level(lvl), msg, fields...)
	})
	admit := func(ctx context.Context, method string) (context.Context, error) {
		ctx = withRequestContext(ctx, log)
		ctx, err := cfg.Auth.Authenticate(ctx, method)
		if err != nil {
			return nil, err
		}
		if !openMethod(method) {
			if err := cfg.RateLimit.allow(PrincipalFrom(ctx).Name); err != nil {
				return nil, err
			}
		}
		return ctx, nil
	}
	unary := []grpc.UnaryServerInterceptor{
		func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			ctx, err := admit(ctx, info.FullMethod)
			if err != nil {
				return nil, err
			}
			if err := malformed(ctx, req); err != nil {
				return nil, err
			}
			if r, ok := req.(interface{ GetId() string }); ok && r.GetId() != "" {
				ctx = logging.InjectLogField(ctx, "socketId", r.GetId())
			}
			return handler(ctx, req)
		},
		logging.UnaryServerInterceptor(logger, logOpts...),
		recovery.UnaryServerInterceptor(recoverOpts...),
	}
	stream := []grpc.StreamServerInterceptor{
		func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			ctx, cancel := context.WithCancel(ss.Context())
			defer cancel()
			go func(done <-chan struct{}) {
				select {
				case <-cfg.StreamsDone:
					cancel()
				case <-done:
				}
			}(ctx.Done())
			ctx, err := admit(ctx, info.FullMethod)
			if err != nil {
				return err
			}
			if !openMethod(info.FullMethod) {
				release, err := streams.acquire(PrincipalFrom(ctx).Name)
				if err != nil {
					return err
				}
				defer release()
			}
			return handler(srv, &streamWithContext{ServerStream: ss, ctx: ctx})
		},
		perCallOnly(logging.StreamServerInterceptor(logger, logOpts...)),
		recovery.StreamServerInterceptor(recoverOpts...),
	}
	return unary, stream
}

// dataStreams are the streams that carry a socket's data, message by
// message: Attach.
var dataStreams = map[string]bool{"/sockd.v1.SocketService/Attach": true}

// perCallOnly lets a stream interceptor see a data stream as a call — its
// start, its end, its status — but not its messages one by one: the stream
// that goes on down the chain is the one it would have had without the
// interceptor. Wrapping every message (as the logging and metrics
// middleware do, timing each) cost a sixth of Attach's throughput at 1 KiB;
// what a data stream carries is counted by sockd's byte and datagram
// counters instead. Other streams are left to the interceptor.
func perCallOnly(i grpc.StreamServerInterceptor) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if !dataStreams[info.FullMethod] {
			return i(srv, ss, info, handler)
		}
		return i(srv, ss, info, func(srv any, _ grpc.ServerStream) error { return handler(srv, ss) })
	}
}

// withRequestContext gives a call its request id (the client's, if it sent
// a sane one) and a logger that carries it, and echoes the id back.
func withRequestContext(ctx context.Context, log *slog.Logger) context.Context {
	id := ""
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(RequestIDHeader); len(v) > 0 && len(v[0]) <= 64 && isPrintableASCII(v[0]) {
			id = v[0]
		}
	}
	if id == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs(RequestIDHeader, id))
	ctx = WithRequestID(ctx, id)
	ctx = WithLogger(ctx, log.With("requestId", id))
	return ctx
}

func logFields(ctx context.Context) logging.Fields {
	f := logging.Fields{"requestId", RequestID(ctx), "principal", PrincipalFrom(ctx).Name}
	if viaGateway(ctx) { // a REST call: name the HTTP client, not the gateway
		f = append(f, "protocol", "rest")
		md, _ := metadata.FromIncomingContext(ctx)
		if addr := gatewayValue(ctx, md, HTTPClientHeader); addr != "" {
			f = append(f, "peer.address", addr)
		}
	} else {
		f = append(f, "protocol", "grpc")
	}
	return f
}

// codeLevel is the level of a call's log line by its code. For a socket
// service, a call that fails the way sockets fail — refused, reset, timed
// out, not found, the wrong state, a caller's malformed request — is an
// ordinary outcome (info). What an operator should look at is warn: the
// policy denied an address, credentials were wrong, a limit was reached.
// sockd's own faults are errors. docs/observability.md lists them.
func codeLevel(c codes.Code) logging.Level {
	switch c {
	case codes.PermissionDenied, codes.Unauthenticated, codes.ResourceExhausted:
		return logging.LevelWarn
	case codes.Internal, codes.Unknown, codes.DataLoss, codes.Unimplemented:
		return logging.LevelError
	}
	return logging.LevelInfo
}

func isPrintableASCII(s string) bool {
	for i := range len(s) {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// streamWithContext replaces a stream's context.
type streamWithContext struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *streamWithContext) Context() context.Context { return s.ctx }

// RecvMsg answers a message that did not decode with INVALID_ARGUMENT.
func (s *streamWithContext) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return malformed(s.ctx, m)
}

// malformed is the INVALID_ARGUMENT (MALFORMED_REQUEST) for a request the
// server codec could not decode (codec.Malformed), logged at warn, or nil.
func malformed(ctx context.Context, req any) error {
	why, bad := codec.Malformed(req)
	if !bad {
		return nil
	}
	loggerFrom(ctx).Warn("malformed request", "err", why, "requestId", RequestID(ctx))
	return withInfo(codes.InvalidArgument, "the request does not decode: "+why, ReasonMalformed, nil)
}
