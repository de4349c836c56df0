package main

import (
	"context"
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

// serveSink is the bare gRPC baseline: servers with sockd's codec and
// transport settings whose Attach receives bytes and drops them, with
// nothing behind it. The first speaks no offsets (it has no GetServerInfo,
// so the client keeps nothing it has sent); the second keeps the offsets
// protocol of a sockd whose limits (retain bytes, Attach read-ahead) the
// flags give (sockd's own, from its GetServerInfo): it reports what it has
// taken as written, so the client keeps, windows and lends its bytes
// exactly as it does against sockd. It prints the two gRPC addresses and
// the profiler's, and serves until killed.
func serveSink(o options) {
	plain, offsets := newSinkServer(), newSinkServer()
	sockdv1.RegisterSocketServiceServer(plain, &sinkServer{})
	sockdv1.RegisterSocketServiceServer(offsets, &offsetSinkServer{limits: &sockdv1.ServerLimits{
		RetainBytes: o.sinkRetain, AttachReadAheadBytes: o.sinkReadAhead,
	}})
	var addrs []string
	for _, srv := range []*grpc.Server{plain, offsets} {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		addrs = append(addrs, l.Addr().String())
		go srv.Serve(l)
	}
	// Its profiler too, so that its allocations can be counted as sockd's are.
	hl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	http.Handle("/metrics", promhttp.Handler()) // the Go runtime's metrics, as sockd serves them
	fmt.Println(addrs[0], addrs[1], hl.Addr().String())
	http.Serve(hl, nil) // with net/http/pprof's handlers
}

func newSinkServer() *grpc.Server {
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
	healthpb.RegisterHealthServer(srv, health.NewServer())
	return srv
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

// offsetSinkServer is the sink with sockd's offsets: it says it keeps them
// (GetServerInfo), and its Attach reports every byte it drops as written.
type offsetSinkServer struct {
	sockdv1.UnimplementedSocketServiceServer
	limits *sockdv1.ServerLimits
}

// GetSocket is where the client learns the stream's positions before it
// attaches: a fresh TCP stream.
func (s *offsetSinkServer) GetSocket(_ context.Context, r *sockdv1.GetSocketRequest) (*sockdv1.Socket, error) {
	return &sockdv1.Socket{Id: r.GetId(), Protocol: sockdv1.Protocol_PROTOCOL_TCP}, nil
}

func (s *offsetSinkServer) GetServerInfo(context.Context, *sockdv1.GetServerInfoRequest) (*sockdv1.ServerInfo, error) {
	return &sockdv1.ServerInfo{Limits: s.limits}, nil
}

// sinkReportEvery is how many dropped bytes make a written report: sockd
// reports after each piece of at most 512 KiB it writes (service's
// writePiece). What is left over is reported within sinkReportIdle.
const (
	sinkReportEvery = 512 << 10
	sinkReportIdle  = 2 * time.Millisecond
)

func (s *offsetSinkServer) Attach(stream sockdv1.SocketService_AttachServer) error {
	req := &sockdv1.AttachRequest{}
	if err := stream.RecvMsg(req); err != nil {
		return err
	}
	taken := req.GetOpen().GetSendOffset()
	if err := stream.Send(&sockdv1.AttachResponse{Msg: &sockdv1.AttachResponse_Socket{Socket: &sockdv1.Socket{Id: req.GetOpen().GetId(), Protocol: sockdv1.Protocol_PROTOCOL_TCP}}, SendOffset: taken}); err != nil {
		return err
	}
	// The reports go out from a goroutine of their own, as sockd's do.
	var dropped atomic.Int64
	dropped.Store(taken)
	wake := make(chan struct{}, 1)
	done, exited := make(chan struct{}), make(chan struct{})
	defer func() { close(done); <-exited }() // no Send after the handler returns
	go func() {
		defer close(exited)
		idle := time.NewTicker(sinkReportIdle)
		defer idle.Stop()
		last := taken
		for {
			select {
			case <-wake:
			case <-idle.C:
			case <-done:
				return
			}
			if d := dropped.Load(); d != last {
				last = d
				if stream.Send(&sockdv1.AttachResponse{Msg: &sockdv1.AttachResponse_Written{Written: d}}) != nil {
					return
				}
			}
		}
	}()
	reported := taken
	for {
		if err := stream.RecvMsg(req); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		d := dropped.Add(int64(len(req.GetData())))
		if d-reported >= sinkReportEvery {
			reported = d
			select {
			case wake <- struct{}{}:
			default:
			}
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
