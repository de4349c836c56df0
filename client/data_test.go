package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// lossy is sockd that loses some answers to Send and Recv on the way: some
// calls never reach it, some are made and their answer is lost (the case
// that offsets are for).
type lossy struct {
	sockdv1.SocketServiceServer
	mu        sync.Mutex
	rng       *rand.Rand
	before    float64 // share of calls lost on the way in
	after     float64 // share of calls made whose answer is lost
	lostAfter atomic.Int64
}

func (l *lossy) roll() (before, after bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	x := l.rng.Float64()
	return x < l.before, x >= l.before && x < l.before+l.after
}

var errLost = status.Error(codes.Unavailable, "the answer was lost on the way")

func (l *lossy) Send(ctx context.Context, req *sockdv1.SendRequest) (*sockdv1.SendResponse, error) {
	before, after := l.roll()
	if before {
		return nil, errLost
	}
	resp, err := l.SocketServiceServer.Send(ctx, req)
	if err == nil && after {
		l.lostAfter.Add(1)
		return nil, errLost
	}
	return resp, err
}

func (l *lossy) Recv(ctx context.Context, req *sockdv1.RecvRequest) (*sockdv1.RecvResponse, error) {
	before, after := l.roll()
	if before {
		return nil, errLost
	}
	resp, err := l.SocketServiceServer.Recv(ctx, req)
	if err == nil && after {
		l.lostAfter.Add(1)
		return nil, errLost
	}
	return resp, err
}

// streamPeer is a local TCP peer that receives what a remote socket sends
// (hashing it) and sends it n random bytes, then half-closes.
type streamPeer struct {
	addr     string
	sent     []byte
	received chan []byte
}

func newStreamPeer(t *testing.T, n int, seed uint64) *streamPeer {
	t.Helper()
	ch, addr := listenOnce(t)
	p := &streamPeer{addr: addr, sent: randomBytes(n, seed), received: make(chan []byte, 1)}
	go func() {
		c, ok := <-ch
		if !ok {
			return
		}
		defer c.Close()
		// The connection closes only once both directions are done: a
		// close while the write is still going would cut the stream short.
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			c.Write(p.sent)
			c.(*net.TCPConn).CloseWrite()
		}()
		got, _ := io.ReadAll(c)
		<-wrote
		p.received <- got
	}()
	return p
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(b)
	return b
}

// Send and Recv through a sockd that loses a fifth of the answers: every
// byte arrives once, both ways.
func TestSendRecvSurviveLostAnswers(t *testing.T) {
	const n = 3 << 20
	l := &lossy{rng: rand.New(rand.NewPCG(1, 2)), before: 0.1, after: 0.2}
	d := startDaemon(t, daemonConfig{wrap: func(s sockdv1.SocketServiceServer) sockdv1.SocketServiceServer {
		l.SocketServiceServer = s
		return l
	}})
	c := dial(t, d.addr)
	ctx := ctxT(t)
	peer := newStreamPeer(t, n, 7)
	sock, err := c.Create(ctx, CreateOptions{Connect: peer.addr})
	if err != nil {
		t.Fatal(err)
	}
	out := randomBytes(n, 8)
	var sendErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(3, 4))
		for rest := out; len(rest) > 0; {
			k := min(len(rest), 1+rng.IntN(256<<10))
			sent, err := c.Send(ctx, sock.GetId(), rest[:k], true, nil)
			if err != nil {
				sendErr = err
				return
			}
			rest = rest[sent:]
		}
		_, sendErr = c.Shutdown(ctx, sock.GetId(), sockdv1.ShutdownHow_SHUTDOWN_HOW_WRITE)
	})
	var got []byte
	for {
		data, eof, err := c.Recv(ctx, sock.GetId(), RecvOptions{MaxBytes: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		if eof {
			break
		}
		got = append(got, data...)
	}
	wg.Wait()
	if sendErr != nil {
		t.Fatal(sendErr)
	}
	if !bytes.Equal(got, peer.sent) {
		t.Fatalf("received %d bytes, want the peer's %d (equal: %v)", len(got), len(peer.sent), bytes.Equal(got, peer.sent))
	}
	if back := <-peer.received; !bytes.Equal(back, out) {
		t.Fatalf("the peer received %d bytes, want %d", len(back), len(out))
	}
	if l.lostAfter.Load() == 0 {
		t.Fatal("no answer was lost after the call was made: the test tested nothing")
	}
}

// Calls the caller cancels at random moments — before, during, after sockd
// took the bytes — lose and double nothing: what the caller did not see is
// in the next Recv, and a Send reports exactly what it sent.
func TestCancelledCallsLoseNothing(t *testing.T) {
	const n = 2 << 20
	d := startDaemon(t, daemonConfig{})
	c := dial(t, d.addr)
	ctx := ctxT(t)
	peer := newStreamPeer(t, n, 9)
	sock, err := c.Create(ctx, CreateOptions{Connect: peer.addr})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var mu sync.Mutex
	callCtx := func() (context.Context, context.CancelFunc) {
		mu.Lock()
		defer mu.Unlock()
		if rng.IntN(5) == 0 { // a fifth of the calls are cut short
			return context.WithTimeout(ctx, time.Duration(rng.IntN(2000))*time.Microsecond)
		}
		return context.WithCancel(ctx)
	}
	out := randomBytes(n, 10)
	var cancelled atomic.Int64
	var sendErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		for rest := out; len(rest) > 0; {
			cctx, cancel := callCtx()
			sent, err := c.Send(cctx, sock.GetId(), rest[:min(len(rest), 100<<10)], true, nil)
			cancel()
			rest = rest[sent:]
			if err != nil {
				if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrTimeout) && !errors.Is(err, context.Canceled) {
					sendErr = err
					return
				}
				cancelled.Add(1)
			}
		}
		_, sendErr = c.Shutdown(ctx, sock.GetId(), sockdv1.ShutdownHow_SHUTDOWN_HOW_WRITE)
	})
	var got []byte
	for {
		cctx, cancel := callCtx()
		data, eof, err := c.Recv(cctx, sock.GetId(), RecvOptions{MaxBytes: 32 << 10})
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout) || errors.Is(err, context.Canceled) {
				cancelled.Add(1)
				continue
			}
			t.Fatal(err)
		}
		if eof {
			break
		}
		got = append(got, data...)
	}
	wg.Wait()
	if sendErr != nil {
		t.Fatal(sendErr)
	}
	if sha256.Sum256(got) != sha256.Sum256(peer.sent) {
		t.Fatalf("received %d bytes, want the peer's %d", len(got), len(peer.sent))
	}
	if back := <-peer.received; sha256.Sum256(back) != sha256.Sum256(out) {
		t.Fatalf("the peer received %d bytes, want %d", len(back), len(out))
	}
	t.Logf("%d calls cut short", cancelled.Load())
}

// The client sizes its calls by ServerInfo: a 12 MiB Send goes in one call
// to a sockd whose limit is 16 MiB; to one whose limit is 64 KiB, the same
// Send goes in pieces, and a Recv asks for no more than the limit.
func TestCallsFollowServerLimits(t *testing.T) {
	for _, limit := range []int{16 << 20, 64 << 10} {
		d := startDaemon(t, daemonConfig{maxCallBytes: limit, retainBytes: 16 << 20})
		c := dial(t, d.addr)
		ctx := ctxT(t)
		info, err := c.ServerInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.GetLimits().GetMaxCallBytes() != int64(limit) || info.GetVersion() != "test" {
			t.Fatalf("ServerInfo: %v", info)
		}
		const n = 12 << 20
		peer := newStreamPeer(t, n, 11)
		sock, err := c.Create(ctx, CreateOptions{Connect: peer.addr})
		if err != nil {
			t.Fatal(err)
		}
		out := randomBytes(n, 12)
		if sent, err := c.Send(ctx, sock.GetId(), out, true, nil); err != nil || sent != n {
			t.Fatalf("limit %d: Send of 12 MiB: %d, %v", limit, sent, err)
		}
		c.Shutdown(ctx, sock.GetId(), sockdv1.ShutdownHow_SHUTDOWN_HOW_WRITE)
		data, _, err := c.Recv(ctx, sock.GetId(), RecvOptions{MaxBytes: 32 << 20})
		if err != nil || len(data) == 0 || len(data) > limit {
			t.Fatalf("limit %d: Recv of up to 32 MiB: %d bytes, %v", limit, len(data), err)
		}
		want := min(3*limit, n-len(data))
		more, _, err := c.Recv(ctx, sock.GetId(), RecvOptions{MaxBytes: int32(want), WaitAll: true})
		if err != nil || len(more) != want {
			t.Fatalf("limit %d: wait_all Recv of %d: %d bytes, %v", limit, want, len(more), err)
		}
		// What the peer still writes is not read: closing the socket ends
		// the peer's write, and with it the peer.
		if _, err := c.CloseSocket(ctx, sock.GetId()); err != nil {
			t.Fatal(err)
		}
		if back := <-peer.received; !bytes.Equal(back, out) {
			t.Fatalf("limit %d: the peer received %d bytes", limit, len(back))
		}
	}
}

// The Attach window comes from ServerInfo: half of what sockd reads ahead
// (at most 4 MiB), and 1 MiB for a sockd that does not say (it reads 2 MiB
// ahead); a real sockd reports its read-ahead.
func TestAttachWindowFollowsServerReadAhead(t *testing.T) {
	for _, c := range []struct {
		readAhead int64
		want      int
	}{{0, 1 << 20}, {2 << 20, 1 << 20}, {8 << 20, 4 << 20}, {64 << 20, 4 << 20}, {256 << 10, 128 << 10}} {
		l := limitsOf(&sockdv1.ServerLimits{AttachReadAheadBytes: c.readAhead})
		if got := l.inFlightWindow(); got != c.want {
			t.Errorf("read-ahead %d: window %d, want %d", c.readAhead, got, c.want)
		}
	}
	d := startDaemon(t, daemonConfig{})
	info, err := dial(t, d.addr).ServerInfo(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.GetLimits().GetAttachReadAheadBytes(); n < 2<<20 {
		t.Fatalf("sockd reports an Attach read-ahead of %d", n)
	}
}
