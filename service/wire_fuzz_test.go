package service_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/relay"
	"github.com/sockd/sockd/service"
	"github.com/sockd/sockd/sockmgr"
)

// rawCodec sends a request's bytes as they are.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

var _ encoding.Codec = rawCodec{}

// wireConn serves one in-process sockd (both services, real sockmgr and
// relay manager, the real interceptors) for every input of a fuzz run, and
// stops it when the run ends.
func wireConn(f *testing.F) *grpc.ClientConn {
	mgr := sockmgr.New(sockmgr.Config{MaxSocketsPerOwner: 64})
	relays := relay.New(mgr, relay.Config{})
	caps := service.NewCaptures(mgr, relays, service.CaptureConfig{Memory: 8 << 20})
	svc := service.New(mgr, service.Config{MaxBytesPerCall: 1 << 20, Relays: relays, Captures: caps})
	done := make(chan struct{})
	unary, stream := service.Interceptors(service.InterceptorConfig{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), StreamsDone: done})
	srv := grpc.NewServer(append(service.ServerOptions(), grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(stream...))...)
	sockdv1.RegisterSocketServiceServer(srv, svc)
	sockdv1.RegisterProxyServiceServer(srv, service.NewProxyServer(relays, caps))
	lis := bufconn.Listen(1 << 20)
	go srv.Serve(lis)
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		conn.Close()
		close(done)
		srv.Stop()
		relays.Close()
		caps.Close()
		mgr.Close()
	})
	return conn
}

// wireMethods are every unary method of both services.
var wireMethods = func() []string {
	var out []string
	for _, sd := range []grpc.ServiceDesc{sockdv1.SocketService_ServiceDesc, sockdv1.ProxyService_ServiceDesc} {
		for _, m := range sd.Methods {
			out = append(out, "/"+sd.ServiceName+"/"+m.MethodName)
		}
	}
	return out
}()

// FuzzWireRequests sends arbitrary bytes as the request of any unary
// method: whatever they are (malformed protobuf, invalid UTF-8, nonsense
// values), the answer is never INTERNAL or UNKNOWN, and never a panic.
func FuzzWireRequests(f *testing.F) {
	f.Add(uint8(0), []byte{})
	f.Add(uint8(1), []byte{0x0a, 0x03, 'a', 'b', 'c'})
	f.Add(uint8(2), []byte{0x12, 0x03, 0xff, 0xfe, 0xfd})
	f.Add(uint8(3), []byte{0xff, 0xff, 0xff, 0xff})
	f.Add(uint8(20), []byte{0x1a, 0x0e, '1', '2', '7', '.', '0', '.', '0', '.', '1', ':', '8', '0', '8', '0'})
	conn := wireConn(f)
	f.Fuzz(func(t *testing.T, which uint8, req []byte) {
		method := wireMethods[int(which)%len(wireMethods)]
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		var resp []byte
		err := conn.Invoke(ctx, method, &req, &resp, grpc.ForceCodec(rawCodec{}))
		switch status.Code(err) {
		case codes.Internal, codes.Unknown:
			t.Fatalf("%s %x: %v", method, req, err)
		}
	})
}
