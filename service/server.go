package service

import (
	"cmp"
	"context"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/experimental"

	"github.com/sockd/sockd/codec"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/relay"
	"github.com/sockd/sockd/sockmgr"
)

// DefaultMaxBytesPerCall is the default limit on the data of one Send, Recv,
// SendTo, RecvFrom or Attach message.
const DefaultMaxBytesPerCall = 4 << 20

// Config tunes the service.
type Config struct {
	MaxBytesPerCall int // data in one call; 0: DefaultMaxBytesPerCall
	// Info is what GetServerInfo reports of the daemon.
	Info ServerInfo
	// Relays, if set, are the proxies and relays over the manager's sockets
	// (a socket's proxy_id and relay_id come from there).
	Relays *relay.Manager
	// Captures, if set, are the sockets' capture rings; nil: capture is
	// off on this daemon (--capture=false).
	Captures *Captures
}

// Server implements sockd.v1.SocketService over a sockmgr.Manager.
type Server struct {
	sockdv1.UnimplementedSocketServiceServer
	m   *sockmgr.Manager
	cfg Config
}

var _ sockdv1.SocketServiceServer = (*Server)(nil)

// New returns the service for a manager.
func New(m *sockmgr.Manager, cfg Config) *Server {
	cfg.MaxBytesPerCall = cmp.Or(cfg.MaxBytesPerCall, DefaultMaxBytesPerCall)
	return &Server{m: m, cfg: cfg}
}

// ServerOptions are the gRPC server options the service needs: its codec,
// which receives Attach bytes without copying them (codec.AttachIn), and the
// codec's buffer pool for the transport.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ForceServerCodecV2(codec.NewServer()),
		experimental.BufferPool(codec.BufferPool()),
	}
}

// Manager returns the registry the service drives.
func (s *Server) Manager() *sockmgr.Manager { return s.m }

func scopeOf(ctx context.Context) sockmgr.Scope {
	p := PrincipalFrom(ctx)
	return sockmgr.Scope{Owner: p.Name, Admin: p.Admin}
}

// lookup finds the caller's socket by id or name.
func (s *Server) lookup(ctx context.Context, id string) (*sockmgr.Socket, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	sock, err := s.m.Get(scopeOf(ctx), id)
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return sock, nil
}

// CreateSocket implements sockd.v1.SocketService.
func (s *Server) CreateSocket(ctx context.Context, req *sockdv1.CreateSocketRequest) (*sockdv1.Socket, error) {
	proto, err := protocolFrom("protocol", req.GetProtocol())
	if err != nil {
		return nil, err
	}
	fam, err := familyFrom("family", req.GetFamily())
	if err != nil {
		return nil, err
	}
	timeout, err := timeoutFrom("timeout", req.GetTimeout())
	if err != nil {
		return nil, err
	}
	connectTimeout, err := timeoutFrom("connect_timeout", req.GetConnectTimeout())
	if err != nil {
		return nil, err
	}
	idleTimeout, err := timeoutFrom("idle_timeout", req.GetIdleTimeout())
	if err != nil {
		return nil, err
	}
	if req.GetLeaseId() != "" {
		if err := checkID("lease_id", req.GetLeaseId()); err != nil {
			return nil, err
		}
	}
	if req.GetName() != "" {
		if err := sockmgr.ValidateName(req.GetName()); err != nil {
			return nil, invalidField("name", ReasonInvalidArgument, "%v", err)
		}
	}
	if err := sockmgr.ValidateLabels(req.GetLabels()); err != nil {
		return nil, invalidField("labels", ReasonInvalidArgument, "%v", err)
	}
	for i, o := range req.GetOptions() {
		if o.GetOption() == "" {
			return nil, invalidField(sprintf("options[%d].option", i), ReasonInvalidOption, "required: an option name")
		}
	}
	if a := req.GetBindAddress(); a != "" {
		if err := checkAddress("bind_address", a); err != nil {
			return nil, err
		}
	}
	if a := req.GetConnectAddress(); a != "" {
		if err := checkAddress("connect_address", a); err != nil {
			return nil, err
		}
	}
	listen := req.GetListen() || req.Backlog != nil
	if listen && req.GetConnectAddress() != "" {
		return nil, invalidField("connect_address", ReasonInvalidArgument, "a socket cannot both listen and connect")
	}
	if req.Backlog != nil && req.GetBacklog() < 0 {
		return nil, invalidField("backlog", ReasonInvalidArgument, "must not be negative")
	}

	if c := req.GetCapture(); c != nil {
		if c.GetEnabled() && s.cfg.Captures == nil {
			return nil, captureDisabled()
		}
		if c.GetRingBytes() < 0 {
			return nil, invalidField("capture.ring_bytes", ReasonInvalidArgument, "must not be negative")
		}
	}
	sock, err := s.m.Create(PrincipalFrom(ctx).Name, sockmgr.CreateOptions{
		Protocol: proto, Family: fam, Name: req.GetName(), Labels: req.GetLabels(), Timeout: timeout,
		IdleTimeout: idleTimeout, LeaseID: req.GetLeaseId(),
	})
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	if c := req.GetCapture(); c.GetEnabled() {
		// Before the set-up steps, so that the capture has the connect.
		s.cfg.Captures.Start(sock, c.GetRingBytes(), nil)
	}
	// The convenience steps, in socket-API order; a failed step closes the
	// socket so that nothing half-made stays behind.
	fail := func(err error) (*sockdv1.Socket, error) {
		_ = sock.Close()
		return nil, toStatus(ctx, err)
	}
	for _, o := range req.GetOptions() {
		if _, err := sock.SetOption(o.GetOption(), int(o.GetValue())); err != nil {
			return fail(err)
		}
	}
	if a := req.GetBindAddress(); a != "" {
		if err := sock.Bind(ctx, a); err != nil {
			return fail(err)
		}
	}
	if listen {
		backlog := sockmgr.DefaultBacklog
		if req.Backlog != nil {
			backlog = int(req.GetBacklog())
		}
		if err := sock.Listen(backlog); err != nil {
			return fail(err)
		}
	}
	if a := req.GetConnectAddress(); a != "" {
		if err := sock.Connect(ctx, a, connectTimeout); err != nil {
			return fail(err)
		}
	}
	return s.socketProto(sock.Info()), nil
}

// GetSocket implements sockd.v1.SocketService.
func (s *Server) GetSocket(ctx context.Context, req *sockdv1.GetSocketRequest) (*sockdv1.Socket, error) {
	sock, err := s.lookup(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return s.socketProto(sock.Info()), nil
}

// ListSockets implements sockd.v1.SocketService.
func (s *Server) ListSockets(ctx context.Context, req *sockdv1.ListSocketsRequest) (*sockdv1.ListSocketsResponse, error) {
	labels, err := labelSelector("label_selector", req.GetLabelSelector())
	if err != nil {
		return nil, err
	}
	state, err := stateFrom("state", req.GetState())
	if err != nil {
		return nil, err
	}
	var proto sockmgr.Protocol
	if req.GetProtocol() != sockdv1.Protocol_PROTOCOL_UNSPECIFIED {
		if proto, err = protocolFrom("protocol", req.GetProtocol()); err != nil {
			return nil, err
		}
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	listing := listingDigest("ListSockets", canonicalLabels(labels), req.GetState().String(), req.GetProtocol().String())
	after, err := decodePageToken(req.GetPageToken(), listing)
	if err != nil {
		return nil, err
	}
	socks, more := s.m.List(scopeOf(ctx), sockmgr.Filter{Labels: labels, State: state, Protocol: proto, AfterSeq: after, Limit: size})
	resp := &sockdv1.ListSocketsResponse{Sockets: make([]*sockdv1.Socket, 0, len(socks))}
	for _, sock := range socks {
		resp.Sockets = append(resp.Sockets, s.socketProto(sock.Info()))
	}
	if more {
		resp.NextPageToken = encodePageToken(socks[len(socks)-1].Seq(), listing)
	}
	return resp, nil
}

// CloseSocket implements sockd.v1.SocketService.
func (s *Server) CloseSocket(ctx context.Context, req *sockdv1.CloseSocketRequest) (*sockdv1.Socket, error) {
	sock, err := s.lookup(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	if err := sock.Close(); err != nil {
		return nil, toStatus(ctx, err)
	}
	return s.socketProto(sock.Info()), nil
}

// Bind implements sockd.v1.SocketService.
func (s *Server) Bind(ctx context.Context, req *sockdv1.BindRequest) (*sockdv1.Socket, error) {
	sock, err := s.lookup(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	if err := checkAddress("address", req.GetAddress()); err != nil {
		return nil, err
	}
	if err := sock.Bind(ctx, req.GetAddress()); err != nil {
		return nil, toStatus(ctx, err)
	}
	return s.socketProto(sock.Info()), nil
}

// Listen implements sockd.v1.SocketService.
func (s *Server) Listen(ctx context.Context, req *sockdv1.ListenRequest) (*sockdv1.Socket, error) {
	sock, err := s.lookup(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	backlog := sockmgr.DefaultBacklog
	if req.Backlog != nil {
		if backlog = int(req.GetBacklog()); backlog < 0 {
			return nil, invalidField("backlog", ReasonInvalidArgument, "must not be negative")
		}
	}
	if err := sock.Listen(backlog); err != nil {
		return nil, toStatus(ctx, err)
	}
	return s.socketProto(sock.Info()), nil
}

// Accept implements sockd.v1.SocketService.
func (s *Server) Accept(ctx context.Context, req *sockdv1.AcceptRequest) (*sockdv1.Socket, error) {
	sock, err := s.lookup(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	timeout, err := timeoutFrom("timeout", req.GetTimeout())
	if err != nil {
		return nil, err
	}
	if req.GetName() != "" {
		if err := sockmgr.ValidateName(req.GetName()); err != nil {
			return nil, invalidField("name", ReasonInvalidArgument, "%v", err)
		}
	}
	conn, err := sock.Accept(ctx, sockmgr.AcceptOptions{Timeout: timeout, Name: req.GetName()})
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	// An accepted socket of a capturing listener captures too.
	if s.cfg.Captures != nil {
		if ring, on := s.cfg.Captures.ringBytesOf(sock.ID()); on {
			s.cfg.Captures.Start(conn, ring, nil)
		}
	}
	return s.socketProto(conn.Info()), nil
}

// Connect implements sockd.v1.SocketService.
func (s *Server) Connect(ctx context.Context, req *sockdv1.ConnectRequest) (*sockdv1.Socket, error) {
	sock, err := s.lookup(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	if err := checkAddress("address", req.GetAddress()); err != nil {
		return nil, err
	}
	timeout, err := timeoutFrom("timeout", req.GetTimeout())
	if err != nil {
		return nil, err
	}
	if err := sock.Connect(ctx, req.GetAddress(), timeout); err != nil {
		return nil, toStatus(ctx, err)
	}
	return s.socketProto(sock.Info()), nil
}

// Shutdown implements sockd.v1.SocketService.
func (s *Server) Shutdown(ctx context.Context, req *sockdv1.ShutdownRequest) (*sockdv1.Socket, error) {
	sock, err := s.lookup(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	how, err := shutdownFrom("how", req.GetHow())
	if err != nil {
		return nil, err
	}
	if err := sock.Shutdown(how); err != nil {
		return nil, toStatus(ctx, err)
	}
	return s.socketProto(sock.Info()), nil
}

// SetOption implements sockd.v1.SocketService.
func (s *Server) SetOption(ctx context.Context, req *sockdv1.SetOptionRequest) (*sockdv1.SocketOption, error) {
	sock, err := s.lookup(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	if req.GetOption() == "" {
		return nil, invalidField("option", ReasonInvalidOption, "required: an option name such as SO_REUSEADDR")
	}
	v := req.GetValue()
	if v != int64(int32(v)) {
		return nil, invalidField("value", ReasonInvalidArgument, "out of range")
	}
	got, err := sock.SetOption(req.GetOption(), int(v))
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return &sockdv1.SocketOption{Option: sockmgr.CanonicalOptionName(req.GetOption()), Value: int64(got)}, nil
}

// GetOption implements sockd.v1.SocketService.
func (s *Server) GetOption(ctx context.Context, req *sockdv1.GetOptionRequest) (*sockdv1.SocketOption, error) {
	sock, err := s.lookup(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	if req.GetOption() == "" {
		return nil, invalidField("option", ReasonInvalidOption, "required: an option name such as SO_RCVBUF")
	}
	got, err := sock.GetOption(req.GetOption())
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return &sockdv1.SocketOption{Option: sockmgr.CanonicalOptionName(req.GetOption()), Value: int64(got)}, nil
}

// SetTimeout implements sockd.v1.SocketService.
func (s *Server) SetTimeout(ctx context.Context, req *sockdv1.SetTimeoutRequest) (*sockdv1.Socket, error) {
	sock, err := s.lookup(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	timeout, err := timeoutFrom("timeout", req.GetTimeout())
	if err != nil {
		return nil, err
	}
	if err := sock.SetTimeout(timeout); err != nil {
		return nil, toStatus(ctx, err)
	}
	return s.socketProto(sock.Info()), nil
}

// Send implements sockd.v1.SocketService.
func (s *Server) Send(ctx context.Context, req *sockdv1.SendRequest) (*sockdv1.SendResponse, error) {
	sock, err := s.lookup(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	_, isText := req.GetPayload().(*sockdv1.SendRequest_Text)
	data, err := s.payload(req.GetData(), req.GetText(), isText)
	if err != nil {
		return nil, err
	}
	timeout, err := timeoutFrom("timeout", req.GetTimeout())
	if err != nil {
		return nil, err
	}
	n, err := sock.Send(ctx, data, sockmgr.SendOptions{All: req.GetAll(), Timeout: timeout, Offset: req.Offset})
	if l := loggerFrom(ctx); l.Enabled(ctx, slog.LevelDebug) {
		l.DebugContext(ctx, "send", "socketId", sock.ID(), "bytes", len(data), "sent", n, "all", req.GetAll(), "err", err)
	}
	if err != nil {
		return nil, withBytesSent(toStatus(ctx, err), n)
	}
	resp := &sockdv1.SendResponse{BytesSent: int64(n)}
	if sock.Protocol() == sockmgr.TCP {
		if req.Offset != nil {
			resp.Offset = req.GetOffset() + int64(n) // where this client now stands
		} else {
			resp.Offset = int64(sock.BytesSent())
		}
	}
	return resp, nil
}

// SendTo implements sockd.v1.SocketService.
func (s *Server) SendTo(ctx context.Context, req *sockdv1.SendToRequest) (*sockdv1.SendToResponse, error) {
	sock, err := s.lookup(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	if err := checkAddress("address", req.GetAddress()); err != nil {
		return nil, err
	}
	_, isText := req.GetPayload().(*sockdv1.SendToRequest_Text)
	data, err := s.payload(req.GetData(), req.GetText(), isText)
	if err != nil {
		return nil, err
	}
	timeout, err := timeoutFrom("timeout", req.GetTimeout())
	if err != nil {
		return nil, err
	}
	n, err := sock.SendTo(ctx, data, req.GetAddress(), sockmgr.SendOptions{Timeout: timeout})
	if l := loggerFrom(ctx); l.Enabled(ctx, slog.LevelDebug) {
		l.DebugContext(ctx, "sendto", "socketId", sock.ID(), "to", req.GetAddress(), "bytes", len(data), "sent", n, "err", err)
	}
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return &sockdv1.SendToResponse{BytesSent: int64(n)}, nil
}

// Recv implements sockd.v1.SocketService.
func (s *Server) Recv(ctx context.Context, req *sockdv1.RecvRequest) (*sockdv1.RecvResponse, error) {
	sock, err := s.lookup(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	if err := s.checkMaxBytes("max_bytes", req.GetMaxBytes()); err != nil {
		return nil, err
	}
	timeout, err := timeoutFrom("timeout", req.GetTimeout())
	if err != nil {
		return nil, err
	}
	if req.FromOffset != nil && sock.Protocol() != sockmgr.TCP {
		return nil, invalidField("from_offset", ReasonInvalidArgument, "offsets are for stream (TCP) sockets")
	}
	r, err := sock.Recv(ctx, sockmgr.RecvOptions{
		MaxBytes: int(req.GetMaxBytes()), Peek: req.GetPeek(), WaitAll: req.GetWaitAll(), Timeout: timeout,
		Offset: req.FromOffset, Ack: true,
	})
	if l := loggerFrom(ctx); l.Enabled(ctx, slog.LevelDebug) {
		l.DebugContext(ctx, "recv", "socketId", sock.ID(), "max", req.GetMaxBytes(), "bytes", len(r.Data), "eof", r.EOF, "err", err)
	}
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	resp := &sockdv1.RecvResponse{Data: r.Data, Eof: r.EOF, Truncated: r.Truncated}
	if sock.Protocol() == sockmgr.TCP {
		resp.Offset = r.Offset
	} else if r.From.IsValid() {
		resp.Address = r.From.String()
	}
	if req.GetText() {
		resp.Data, resp.Text = asText(r.Data)
	}
	return resp, nil
}

// RecvFrom implements sockd.v1.SocketService.
func (s *Server) RecvFrom(ctx context.Context, req *sockdv1.RecvFromRequest) (*sockdv1.RecvFromResponse, error) {
	sock, err := s.lookup(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	if err := s.checkMaxBytes("max_bytes", req.GetMaxBytes()); err != nil {
		return nil, err
	}
	timeout, err := timeoutFrom("timeout", req.GetTimeout())
	if err != nil {
		return nil, err
	}
	r, err := sock.RecvFrom(ctx, sockmgr.RecvOptions{MaxBytes: int(req.GetMaxBytes()), Peek: req.GetPeek(), Timeout: timeout})
	if l := loggerFrom(ctx); l.Enabled(ctx, slog.LevelDebug) {
		l.DebugContext(ctx, "recvfrom", "socketId", sock.ID(), "from", r.From.String(), "bytes", len(r.Data), "truncated", r.Truncated, "err", err)
	}
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	resp := &sockdv1.RecvFromResponse{Data: r.Data, Truncated: r.Truncated}
	if r.From.IsValid() {
		resp.Address = r.From.String()
	}
	if req.GetText() {
		resp.Data, resp.Text = asText(r.Data)
	}
	return resp, nil
}

// withBytesSent adds to a send's error how many bytes did go out before it
// (a sendall cut short), as ErrorInfo metadata "bytesSent".
func withBytesSent(err error, n int) error {
	if n == 0 {
		return err
	}
	return addMetadata(err, "bytesSent", sprintf("%d", n))
}
