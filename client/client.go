package client

import (
	"context"
	"crypto/tls"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// DefaultAddr is where sockd listens by default.
const DefaultAddr = "127.0.0.1:50051"

// Client is a connection to one sockd. It is safe for concurrent use.
type Client struct {
	conn *grpc.ClientConn
	api  sockdv1.SocketServiceClient
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

// maxMessage bounds what one message may carry: twice sockd's default
// per-call limit, as the daemon accepts.
const maxMessage = 2*(4<<20) + 64<<10

// Dial connects to sockd at addr ("127.0.0.1:50051"). It does not wait for
// the connection: the first call does.
func Dial(addr string, opts ...Option) (*Client, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	dialOpts := []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage), grpc.MaxCallSendMsgSize(maxMessage)),
	}
	if o.tls != nil {
		dialOpts = append(dialOpts, grpc.WithTransportCredentials(credentials.NewTLS(o.tls)))
	} else {
		dialOpts = append(dialOpts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if o.token != "" {
		dialOpts = append(dialOpts, grpc.WithPerRPCCredentials(bearer{token: o.token, secure: o.tls != nil}))
	}
	conn, err := grpc.NewClient(addr, append(dialOpts, o.dialOpts...)...)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, api: sockdv1.NewSocketServiceClient(conn)}, nil
}

// Close closes the connection to sockd. Remote sockets stay open.
func (c *Client) Close() error { return c.conn.Close() }

// API is the generated client, for calls and fields this package does not
// wrap.
func (c *Client) API() sockdv1.SocketServiceClient { return c.api }

// Conn is the underlying gRPC connection.
func (c *Client) GRPCConn() *grpc.ClientConn { return c.conn }

// bearer is the per-call token.
type bearer struct {
	token  string
	secure bool
}

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
