package service_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/service"
	"github.com/sockd/sockd/sockmgr"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newClient serves the service over bufconn, with its real interceptors and a
// real sockmgr underneath, and returns a client.
func newClient(t *testing.T, impl func(*service.Server) sockdv1.SocketServiceServer) sockdv1.SocketServiceClient {
	t.Helper()
	mgr := sockmgr.New(sockmgr.Config{})
	svc := service.New(mgr, service.Config{MaxBytesPerCall: 1 << 20})
	done := make(chan struct{})
	unary, stream := service.Interceptors(service.InterceptorConfig{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), StreamsDone: done})
	srv := grpc.NewServer(append(service.ServerOptions(), grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(stream...), grpc.MaxRecvMsgSize(4<<20))...)
	var registered sockdv1.SocketServiceServer = svc
	if impl != nil {
		registered = impl(svc)
	}
	sockdv1.RegisterSocketServiceServer(srv, registered)
	lis := bufconn.Listen(1 << 20)
	go srv.Serve(lis)
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(8<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		close(done)
		srv.Stop()
		mgr.Close()
	})
	return sockdv1.NewSocketServiceClient(conn)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ok[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// wantErr checks a status: its code, ErrorInfo reason and (optional) field.
func wantErr(t *testing.T, err error, code codes.Code, reason string) *errdetails.ErrorInfo {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("error %v: code %s, want %s", err, st.Code(), code)
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			if info.GetReason() != reason || info.GetDomain() != "sockd" {
				t.Fatalf("error %v: reason %s/%s, want sockd/%s", err, info.GetDomain(), info.GetReason(), reason)
			}
			return info
		}
	}
	t.Fatalf("error %v carries no ErrorInfo", err)
	return nil
}

func TestTCPFlowThroughService(t *testing.T) {
	c := newClient(t, nil)
	ctx := ctxT(t)
	l := ok[*sockdv1.Socket](t)(c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{Name: "srv", Labels: map[string]string{"suite": "svc"}}))
	l = ok[*sockdv1.Socket](t)(c.Bind(ctx, &sockdv1.BindRequest{Id: "srv", Address: "127.0.0.1:0"}))
	if l.GetState() != sockdv1.State_STATE_BOUND || !strings.HasPrefix(l.GetLocalAddress(), "127.0.0.1:") || strings.HasSuffix(l.GetLocalAddress(), ":0") {
		t.Fatalf("after bind: %v", l)
	}
	l = ok[*sockdv1.Socket](t)(c.Listen(ctx, &sockdv1.ListenRequest{Id: l.GetId(), Backlog: proto.Int32(5)}))
	peer, err := net.Dial("tcp4", l.GetLocalAddress())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	conn := ok[*sockdv1.Socket](t)(c.Accept(ctx, &sockdv1.AcceptRequest{Id: l.GetId(), Timeout: durationpb.New(5 * time.Second)}))
	if conn.GetParentId() != l.GetId() || conn.GetState() != sockdv1.State_STATE_CONNECTED || conn.GetLabels()["suite"] != "svc" {
		t.Fatalf("accepted: %v", conn)
	}
	peer.Write([]byte("hi there"))
	r := ok[*sockdv1.RecvResponse](t)(c.Recv(ctx, &sockdv1.RecvRequest{Id: conn.GetId(), MaxBytes: 8, WaitAll: true, Text: true}))
	if r.GetText() != "hi there" || len(r.GetData()) != 0 {
		t.Fatalf("recv text: %v", r)
	}
	s := ok[*sockdv1.SendResponse](t)(c.Send(ctx, &sockdv1.SendRequest{Id: conn.GetId(), Payload: &sockdv1.SendRequest_Text{Text: "héllo"}, All: true}))
	if s.GetBytesSent() != 6 {
		t.Fatalf("sent %d", s.GetBytesSent())
	}
	buf := make([]byte, 6)
	io.ReadFull(peer, buf)
	if string(buf) != "héllo" {
		t.Fatalf("peer got %q", buf)
	}
	// Invalid UTF-8 asked as text: replacement characters, and the exact bytes too.
	peer.Write([]byte{0xff, 'a'})
	r = ok[*sockdv1.RecvResponse](t)(c.Recv(ctx, &sockdv1.RecvRequest{Id: conn.GetId(), MaxBytes: 2, WaitAll: true, Text: true}))
	if r.GetText() != "\uFFFDa" || string(r.GetData()) != "\xffa" {
		t.Fatalf("lossy text: %q / %q", r.GetText(), r.GetData())
	}
	opt := ok[*sockdv1.SocketOption](t)(c.SetOption(ctx, &sockdv1.SetOptionRequest{Id: conn.GetId(), Option: "tcp_nodelay", Value: 1}))
	if opt.GetOption() != "TCP_NODELAY" || opt.GetValue() != 1 {
		t.Fatalf("setopt: %v", opt)
	}
	peer.Close()
	r = ok[*sockdv1.RecvResponse](t)(c.Recv(ctx, &sockdv1.RecvRequest{Id: conn.GetId(), MaxBytes: 10}))
	if !r.GetEof() {
		t.Fatalf("after peer close: %v", r)
	}
	closed := ok[*sockdv1.Socket](t)(c.CloseSocket(ctx, &sockdv1.CloseSocketRequest{Id: conn.GetId()}))
	if closed.GetState() != sockdv1.State_STATE_CLOSED || closed.GetBytesReceived() != 10 || closed.GetBytesSent() != 6 {
		t.Fatalf("close: %v", closed)
	}
	_, err = c.CloseSocket(ctx, &sockdv1.CloseSocketRequest{Id: conn.GetId()})
	info := wantErr(t, err, codes.NotFound, "SOCKET_NOT_FOUND")
	if info.GetMetadata()["socketId"] != conn.GetId() {
		t.Fatalf("not-found metadata %v", info.GetMetadata())
	}
}

func TestValidationNamesTheField(t *testing.T) {
	c := newClient(t, nil)
	ctx := ctxT(t)
	sock := ok[*sockdv1.Socket](t)(c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{}))
	id := sock.GetId()
	for _, tc := range []struct {
		name   string
		call   func() error
		field  string
		reason string
		code   codes.Code
	}{
		{"empty id", func() error { _, err := c.GetSocket(ctx, &sockdv1.GetSocketRequest{}); return err }, "id", "INVALID_ARGUMENT", codes.InvalidArgument},
		{"bad address", func() error {
			_, err := c.Bind(ctx, &sockdv1.BindRequest{Id: id, Address: "127.1:80"})
			return err
		}, "address", "INVALID_ADDRESS", codes.InvalidArgument},
		{"empty address", func() error { _, err := c.Connect(ctx, &sockdv1.ConnectRequest{Id: id}); return err }, "address", "INVALID_ADDRESS", codes.InvalidArgument},
		{"zero max_bytes", func() error { _, err := c.Recv(ctx, &sockdv1.RecvRequest{Id: id}); return err }, "max_bytes", "INVALID_ARGUMENT", codes.InvalidArgument},
		{"unknown protocol", func() error {
			_, err := c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{Protocol: 7})
			return err
		}, "protocol", "INVALID_ARGUMENT", codes.InvalidArgument},
		{"unknown family", func() error {
			_, err := c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{Family: 9})
			return err
		}, "family", "INVALID_ARGUMENT", codes.InvalidArgument},
		{"no how", func() error { _, err := c.Shutdown(ctx, &sockdv1.ShutdownRequest{Id: id}); return err }, "how", "INVALID_ARGUMENT", codes.InvalidArgument},
		{"negative timeout", func() error {
			_, err := c.SetTimeout(ctx, &sockdv1.SetTimeoutRequest{Id: id, Timeout: durationpb.New(-time.Second)})
			return err
		}, "timeout", "INVALID_ARGUMENT", codes.InvalidArgument},
		{"empty option", func() error { _, err := c.GetOption(ctx, &sockdv1.GetOptionRequest{Id: id}); return err }, "option", "INVALID_OPTION", codes.InvalidArgument},
		{"bad name", func() error {
			_, err := c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{Name: "Bad Name"})
			return err
		}, "name", "INVALID_ARGUMENT", codes.InvalidArgument},
		{"bad selector", func() error {
			_, err := c.ListSockets(ctx, &sockdv1.ListSocketsRequest{LabelSelector: "nope"})
			return err
		}, "label_selector", "INVALID_ARGUMENT", codes.InvalidArgument},
		{"bad page token", func() error { _, err := c.ListSockets(ctx, &sockdv1.ListSocketsRequest{PageToken: "zzz"}); return err }, "page_token", "INVALID_ARGUMENT", codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info := wantErr(t, tc.call(), tc.code, tc.reason)
			if info.GetMetadata()["field"] != tc.field {
				t.Fatalf("field %q, want %q", info.GetMetadata()["field"], tc.field)
			}
		})
	}
	// Unknown option comes from sockmgr: INVALID_OPTION too.
	_, err := c.SetOption(ctx, &sockdv1.SetOptionRequest{Id: id, Option: "SO_BOGUS", Value: 1})
	wantErr(t, err, codes.InvalidArgument, "INVALID_OPTION")
}

func TestPerCallLimits(t *testing.T) {
	c := newClient(t, nil) // limit 1 MiB
	ctx := ctxT(t)
	u := ok[*sockdv1.Socket](t)(c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{Protocol: sockdv1.Protocol_PROTOCOL_UDP, BindAddress: "127.0.0.1:0"}))
	_, err := c.Recv(ctx, &sockdv1.RecvRequest{Id: u.GetId(), MaxBytes: 1 << 30})
	info := wantErr(t, err, codes.ResourceExhausted, "LIMIT_EXCEEDED")
	if info.GetMetadata()["limit"] != "max bytes per call" || info.GetMetadata()["max"] != "1048576" {
		t.Fatalf("limit metadata %v", info.GetMetadata())
	}
	_, err = c.SendTo(ctx, &sockdv1.SendToRequest{Id: u.GetId(), Address: u.GetLocalAddress(), Payload: &sockdv1.SendToRequest_Data{Data: make([]byte, 1<<20+1)}})
	wantErr(t, err, codes.ResourceExhausted, "LIMIT_EXCEEDED")
	// Under the limit works, and the datagram keeps its boundary.
	ok[*sockdv1.SendToResponse](t)(c.SendTo(ctx, &sockdv1.SendToRequest{Id: u.GetId(), Address: u.GetLocalAddress(), Payload: &sockdv1.SendToRequest_Text{Text: "to myself"}}))
	r := ok[*sockdv1.RecvFromResponse](t)(c.RecvFrom(ctx, &sockdv1.RecvFromRequest{Id: u.GetId(), MaxBytes: 2, Timeout: durationpb.New(5 * time.Second)}))
	if string(r.GetData()) != "to" || !r.GetTruncated() || r.GetAddress() != u.GetLocalAddress() {
		t.Fatalf("recvfrom: %v", r)
	}
}

func TestCreateSocketConvenience(t *testing.T) {
	c := newClient(t, nil)
	ctx := ctxT(t)
	l := ok[*sockdv1.Socket](t)(c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{
		Options:     []*sockdv1.SocketOption{{Option: "SO_REUSEADDR", Value: 1}},
		BindAddress: "127.0.0.1:0", Backlog: proto.Int32(3),
	}))
	if l.GetState() != sockdv1.State_STATE_LISTENING {
		t.Fatalf("one-shot listen: %v", l)
	}
	cl := ok[*sockdv1.Socket](t)(c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{ConnectAddress: l.GetLocalAddress()}))
	if cl.GetState() != sockdv1.State_STATE_CONNECTED || cl.GetRemoteAddress() != l.GetLocalAddress() {
		t.Fatalf("one-shot connect: %v", cl)
	}
	// A failed step closes the socket: nothing half-made stays.
	before := ok[*sockdv1.ListSocketsResponse](t)(c.ListSockets(ctx, &sockdv1.ListSocketsRequest{}))
	_, err := c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{BindAddress: l.GetLocalAddress(), Listen: true})
	wantErr(t, err, codes.AlreadyExists, "EADDRINUSE")
	after := ok[*sockdv1.ListSocketsResponse](t)(c.ListSockets(ctx, &sockdv1.ListSocketsRequest{}))
	if len(after.GetSockets()) != len(before.GetSockets()) {
		t.Fatalf("a failed create left a socket: %d before, %d after", len(before.GetSockets()), len(after.GetSockets()))
	}
}

func TestListPaging(t *testing.T) {
	c := newClient(t, nil)
	ctx := ctxT(t)
	for range 5 {
		ok[*sockdv1.Socket](t)(c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{Labels: map[string]string{"page": "yes"}}))
	}
	ok[*sockdv1.Socket](t)(c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{Protocol: sockdv1.Protocol_PROTOCOL_UDP}))
	seen := map[string]bool{}
	token := ""
	for pages := 0; ; pages++ {
		resp := ok[*sockdv1.ListSocketsResponse](t)(c.ListSockets(ctx, &sockdv1.ListSocketsRequest{LabelSelector: "page=yes", PageSize: 2, PageToken: token}))
		for _, s := range resp.GetSockets() {
			seen[s.GetId()] = true
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != 5 {
		t.Fatalf("paged through %d sockets, want 5", len(seen))
	}
	udp := ok[*sockdv1.ListSocketsResponse](t)(c.ListSockets(ctx, &sockdv1.ListSocketsRequest{Protocol: sockdv1.Protocol_PROTOCOL_UDP}))
	if len(udp.GetSockets()) != 1 {
		t.Fatalf("protocol filter: %d", len(udp.GetSockets()))
	}
}

// A Recv whose RPC is cancelled, then one that times out, then one that
// gets every byte sent afterwards.
func TestRecvCancelTimeoutThenData(t *testing.T) {
	c := newClient(t, nil)
	ctx := ctxT(t)
	l := ok[*sockdv1.Socket](t)(c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{BindAddress: "127.0.0.1:0", Listen: true}))
	peer, err := net.Dial("tcp4", l.GetLocalAddress())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	conn := ok[*sockdv1.Socket](t)(c.Accept(ctx, &sockdv1.AcceptRequest{Id: l.GetId()}))
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = c.Recv(cctx, &sockdv1.RecvRequest{Id: conn.GetId(), MaxBytes: 100})
	cancel()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("recv past its RPC deadline: %v", err)
	}
	_, err = c.Recv(ctx, &sockdv1.RecvRequest{Id: conn.GetId(), MaxBytes: 100, Timeout: durationpb.New(30 * time.Millisecond)})
	wantErr(t, err, codes.DeadlineExceeded, "TIMEOUT")
	peer.Write([]byte("every byte"))
	r := ok[*sockdv1.RecvResponse](t)(c.Recv(ctx, &sockdv1.RecvRequest{Id: conn.GetId(), MaxBytes: 10, WaitAll: true}))
	if string(r.GetData()) != "every byte" {
		t.Fatalf("recv after cancel and timeout: %q", r.GetData())
	}
	_, err = c.Recv(ctx, &sockdv1.RecvRequest{Id: l.GetId(), MaxBytes: 1})
	wantErr(t, err, codes.FailedPrecondition, "WRONG_STATE")
}

func TestAttachEchoAndHalfClose(t *testing.T) {
	c := newClient(t, nil)
	ctx := ctxT(t)
	// A Go echo peer that closes after EOF.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		p, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(p, p)
		p.Close()
	}()
	sock := ok[*sockdv1.Socket](t)(c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{ConnectAddress: ln.Addr().String()}))
	stream, err := c.Attach(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stream.Send(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Open{Open: &sockdv1.AttachOpen{Id: sock.GetId()}}})
	first := ok[*sockdv1.AttachResponse](t)(stream.Recv())
	if first.GetSocket().GetId() != sock.GetId() {
		t.Fatalf("first message %v", first)
	}
	want := strings.Repeat("attach me ", 20000)
	go func() {
		for i := 0; i < len(want); i += 1000 {
			stream.Send(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Data{Data: []byte(want[i:min(i+1000, len(want))])}})
		}
		stream.CloseSend() // shutdown(write): the echo peer sees EOF and closes
	}()
	var got strings.Builder
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got.Write(m.GetData())
	}
	if got.String() != want {
		t.Fatalf("echoed %d bytes, want %d", got.Len(), len(want))
	}
	// The stream's end left the socket open.
	s := ok[*sockdv1.Socket](t)(c.GetSocket(ctx, &sockdv1.GetSocketRequest{Id: sock.GetId()}))
	if !s.GetWriteShutdown() || s.GetBytesSent() != uint64(len(want)) {
		t.Fatalf("after attach: %v", s)
	}
}

func TestWatchEventsFiltered(t *testing.T) {
	c := newClient(t, nil)
	ctx := ctxT(t)
	other := ok[*sockdv1.Socket](t)(c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{}))
	w, err := c.WatchEvents(ctx, &sockdv1.WatchEventsRequest{LabelSelector: "watch=me", Since: proto.Uint64(0)})
	if err != nil {
		t.Fatal(err)
	}
	s := ok[*sockdv1.Socket](t)(c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{Labels: map[string]string{"watch": "me"}, BindAddress: "127.0.0.1:0"}))
	ok[*sockdv1.Socket](t)(c.CloseSocket(ctx, &sockdv1.CloseSocketRequest{Id: other.GetId()}))
	ok[*sockdv1.Socket](t)(c.CloseSocket(ctx, &sockdv1.CloseSocketRequest{Id: s.GetId()}))
	for _, want := range []sockdv1.EventKind{sockdv1.EventKind_EVENT_KIND_CREATED, sockdv1.EventKind_EVENT_KIND_BOUND, sockdv1.EventKind_EVENT_KIND_CLOSED} {
		ev := ok[*sockdv1.Event](t)(w.Recv())
		if ev.GetKind() != want || ev.GetSocket().GetId() != s.GetId() {
			t.Fatalf("event %s on %s, want %s on %s", ev.GetKind(), ev.GetSocket().GetId(), want, s.GetId())
		}
	}
}

// A panic in a handler is an INTERNAL status with a request id, and the
// server keeps serving.
type panicky struct{ *service.Server }

func (p panicky) GetSocket(context.Context, *sockdv1.GetSocketRequest) (*sockdv1.Socket, error) {
	panic("boom")
}

func TestPanicIsInternal(t *testing.T) {
	c := newClient(t, func(s *service.Server) sockdv1.SocketServiceServer { return panicky{s} })
	ctx := ctxT(t)
	_, err := c.GetSocket(ctx, &sockdv1.GetSocketRequest{Id: "x"})
	info := wantErr(t, err, codes.Internal, "INTERNAL")
	if info.GetMetadata()["requestId"] == "" {
		t.Fatal("no request id in an INTERNAL error")
	}
	if _, err := c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{}); err != nil {
		t.Fatalf("after the panic: %v", err)
	}
	if errors.Is(err, context.Canceled) {
		t.Fatal("unreachable")
	}
}
