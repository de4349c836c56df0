package service_test

import (
	"context"
	"io"
	"net"
	"testing"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/service"
	"github.com/sockd/sockd/sockmgr"
)

// BenchmarkSendHandler is the service's Send for 1 KiB on a real connected
// socket, called directly (no gRPC): sockd's own cost per unary Send.
func BenchmarkSendHandler(b *testing.B) {
	m := sockmgr.New(sockmgr.Config{})
	defer m.Close()
	svc := service.New(m, service.Config{})
	l, _ := net.Listen("tcp4", "127.0.0.1:0")
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, c)
	}()
	ctx := context.Background()
	sock, err := svc.CreateSocket(ctx, &sockdv1.CreateSocketRequest{ConnectAddress: l.Addr().String()})
	if err != nil {
		b.Fatal(err)
	}
	req := &sockdv1.SendRequest{Id: sock.GetId(), Payload: &sockdv1.SendRequest_Data{Data: make([]byte, 1024)}, All: true}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Send(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawSend is the same write with a plain net.Conn, the floor.
func BenchmarkRawSend(b *testing.B) {
	l, _ := net.Listen("tcp4", "127.0.0.1:0")
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, c)
	}()
	c, _ := net.Dial("tcp4", l.Addr().String())
	defer c.Close()
	buf := make([]byte, 1024)
	b.ReportAllocs()
	for b.Loop() {
		c.Write(buf)
	}
}
