package client

import (
	"context"
	"crypto/tls"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sockd/sockd/codec"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// DefaultAddr is where sockd listens by default.
const DefaultAddr = "127.0.0.1:50051"

// Client is a connection to one sockd. It is safe for concurrent use.
type Client struct {
	conn *grpc.ClientConn
	api  sockdv1.SocketServiceClient

	infoMu sync.Mutex                 // one GetServerInfo at a time
	info   atomic.Pointer[serverInfo] // nil until GetServerInfo answered (or was found missing)

	positions positions // where this client stands in its stream sockets

	// reached: sockd has answered this client at least once. Until then a
	// call that cannot get through is not retried: sockd is not there.
	reached atomic.Bool
}

type options struct {
	token    string
	tls      *tls.Config
	dialOpts []grpc.DialOption
}

// Option configures Dial.
type Option func(*options)

// WithToken sends a bearer token with every call (sockd's --token-file).
func WithToken(token string) Option { return func(o *options) { o.token = token } }

// WithTLS connects over TLS with the given configuration (which may carry a
// client certificate for mTLS). Without it the connection is plaintext.
func WithTLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// WithDialOptions adds gRPC dial options.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOpts = append(o.dialOpts, opts...) }
}

// Transport settings, the same as sockd's own: large flow-control windows
// and buffers so that one Attach stream can fill a fast link, and the
// codec's buffer pool, which does not zero what the transport overwrites.
const (
	transportWindow = 16 << 20
	transportBuffer = 256 << 10
)

// Dial connects to sockd at addr ("127.0.0.1:50051"). It does not wait for
// the connection: the first call does.
func Dial(addr string, opts ...Option) (*Client, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	dialOpts := []grpc.DialOption{
		// Until GetServerInfo says otherwise: room for the largest answer
		// any sockd sends (its per-call limit is at most 64 MiB), and
		// requests up to twice the default per-call limit.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxReceive), grpc.MaxCallSendMsgSize(defaultLimits.maxMessage)),
		grpc.WithInitialWindowSize(transportWindow),
		grpc.WithInitialConnWindowSize(transportWindow),
		grpc.WithWriteBufferSize(transportBuffer),
		grpc.WithReadBufferSize(transportBuffer),
		experimental.WithBufferPool(codec.BufferPool()),
		// A dead connection is found within 30 s even with no traffic on
		// it (sockd permits a ping every 10 s), and is redialled quickly:
		// calls that use offsets retry on it.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 20 * time.Second, Timeout: 10 * time.Second}),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	}
	if o.tls != nil {
		dialOpts = append(dialOpts, grpc.WithTransportCredentials(credentials.NewTLS(o.tls)))
	} else {
		dialOpts = append(dialOpts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if o.token != "" {
		dialOpts = append(dialOpts, grpc.WithPerRPCCredentials(bearer{token: o.token}))
	}
	c := &Client{}
	dialOpts = append(dialOpts, grpc.WithChainUnaryInterceptor(c.noteAnswer), grpc.WithChainStreamInterceptor(c.noteStream))
	conn, err := grpc.NewClient(addr, append(dialOpts, o.dialOpts...)...)
	if err != nil {
		return nil, err
	}
	c.conn, c.api = conn, sockdv1.NewSocketServiceClient(conn)
	return c, nil
}

// Close closes the connection to sockd. Remote sockets stay open.
func (c *Client) Close() error { return c.conn.Close() }

// API is the generated client, for calls and fields this package does not
// wrap.
func (c *Client) API() sockdv1.SocketServiceClient { return c.api }

// GRPCConn is the underlying gRPC connection.
func (c *Client) GRPCConn() *grpc.ClientConn { return c.conn }

// noteAnswer records that sockd answered a call (an error of its own is an
// answer too).
func (c *Client) noteAnswer(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	var e *Error
	if err == nil || (errors.As(FromError(err), &e) && e.fromSockd) {
		c.reached.Store(true)
	}
	return err
}

// noteStream records that a stream was opened.
func (c *Client) noteStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err == nil {
		c.reached.Store(true)
	}
	return s, err
}

// bearer is the per-call token.
type bearer struct{ token string }

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity is false so that a token also works over
// plaintext loopback, sockd's default; over a network use TLS.
func (b bearer) RequireTransportSecurity() bool { return false }

func durationOrNil(d *time.Duration) *durationpb.Duration {
	if d == nil {
		return nil
	}
	return durationpb.New(*d)
}
