package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/sockd/sockd/codec"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// serveSink is the bare gRPC baseline: a server with sockd's codec and
// transport settings whose Attach receives bytes and drops them, with
// nothing behind it. It prints its gRPC and profiler addresses and serves
// until killed.
func serveSink() {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv := grpc.NewServer(
		grpc.ForceServerCodecV2(codec.New()),
		experimental.BufferPool(codec.BufferPool()),
		grpc.MaxRecvMsgSize(2*(4<<20)+64<<10),
		grpc.MaxConcurrentStreams(256),
		grpc.InitialWindowSize(16<<20),
		grpc.InitialConnWindowSize(16<<20),
		grpc.WriteBufferSize(256<<10),
		grpc.ReadBufferSize(256<<10),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)
	sockdv1.RegisterSocketServiceServer(srv, &sinkServer{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	// Its profiler too, so that its allocations can be counted as sockd's are.
	hl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	http.Handle("/metrics", promhttp.Handler()) // the Go runtime's metrics, as sockd serves them
	go http.Serve(hl, nil)                      // with net/http/pprof's handlers
	fmt.Println(l.Addr().String(), hl.Addr().String())
	srv.Serve(l)
}

type sinkServer struct {
	sockdv1.UnimplementedSocketServiceServer
}

func (*sinkServer) Attach(stream sockdv1.SocketService_AttachServer) error {
	req := &sockdv1.AttachRequest{}
	if err := stream.RecvMsg(req); err != nil {
		return err
	}
	if err := stream.Send(&sockdv1.AttachResponse{Msg: &sockdv1.AttachResponse_Socket{Socket: &sockdv1.Socket{}}}); err != nil {
		return err
	}
	for {
		if err := stream.RecvMsg(req); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// tcpSink accepts connections and counts the bytes they carry.
type tcpSink struct {
	l     net.Listener
	bytes atomic.Int64
}

func newTCPSink() (*tcpSink, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &tcpSink{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			// Wake the reader only for 64 KiB or more: a sink that woke for
			// every small write would cost more than what it measures.
			if rc, err := c.(*net.TCPConn).SyscallConn(); err == nil {
				rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, 64<<10) })
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 256<<10)
				for {
					n, err := c.Read(buf)
					s.bytes.Add(int64(n))
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return s, nil
}

func (s *tcpSink) addr() string { return s.l.Addr().String() }
func (s *tcpSink) close()       { s.l.Close() }

// udpSink counts datagrams.
type udpSink struct {
	c     *net.UDPConn
	count atomic.Int64
}

func newUDPSink() (*udpSink, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	c.SetReadBuffer(8 << 20)
	s := &udpSink{c: c}
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				return
			}
			s.count.Add(1)
		}
	}()
	return s, nil
}
