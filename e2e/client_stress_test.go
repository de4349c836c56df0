package e2e

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// localPeer accepts one connection and returns what it reads until EOF.
func localPeer(t *testing.T) (<-chan []byte, string) {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	got := make(chan []byte, 1)
	go func() {
		defer close(got)
		c, err := l.Accept()
		l.Close()
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	}()
	return got, l.Addr().String()
}

// flowPeer is a local TCP peer of one flow: it sends n seeded bytes,
// half-closes, and reports the sha256 of what it read until EOF.
type flowPeer struct {
	addr string
	sent [32]byte
	got  chan [32]byte
}

func newFlowPeer(t *testing.T, n int, seed uint64) *flowPeer {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	data := seeded(n, seed)
	p := &flowPeer{addr: l.Addr().String(), sent: sha256.Sum256(data), got: make(chan [32]byte, 1)}
	go func() {
		c, err := l.Accept()
		l.Close()
		if err != nil {
			return
		}
		defer c.Close()
		go func() {
			c.Write(data)
			c.(*net.TCPConn).CloseWrite()
		}()
		h := sha256.New()
		io.Copy(h, c)
		var sum [32]byte
		copy(sum[:], h.Sum(nil))
		p.got <- sum
	}()
	return p
}

func seeded(n int, seed uint64) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 1}).Read(b)
	return b
}

// relay is a TCP relay between a client and sockd whose connections the
// test cuts (with a reset), as a failing network would.
type relay struct {
	l     net.Listener
	mu    sync.Mutex
	conns []*net.TCPConn
	wg    sync.WaitGroup
}

func newRelay(t *testing.T, to string) *relay {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{l: l}
	r.wg.Go(func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp4", to)
			if err != nil {
				in.Close()
				continue
			}
			r.mu.Lock()
			r.conns = append(r.conns, in.(*net.TCPConn), out.(*net.TCPConn))
			r.mu.Unlock()
			for _, p := range [][2]net.Conn{{in, out}, {out, in}} {
				r.wg.Go(func() { io.Copy(p[0], p[1]); p[0].Close(); p[1].Close() })
			}
		}
	})
	t.Cleanup(func() { l.Close(); r.cut(); r.wg.Wait() })
	return r
}

// cut resets every connection through the relay.
func (r *relay) cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		c.SetLinger(0)
		c.Close()
	}
	r.conns = nil
}

// The exactly-once stress of issue 11: 50 checksummed flows through a real
// sockd, both directions, with a fifth of the calls cut short by the client
// (contexts that end at a random moment: before, during or after sockd
// took the bytes; read deadlines on Conns) and one in twenty Attach streams
// killed mid-transfer (the client's connection to sockd reset) and resumed.
// Half the flows use Send and Recv, half Attach sessions (ten per flow, a
// Detach between them): every byte arrives once.
func TestClientFiftyFlowsLoseAndDoubleNothing(t *testing.T) {
	const flows, size = 50, 1 << 20
	d := startSockd(t)
	var cancelled, killed, sessions atomic.Int64
	sem := make(chan struct{}, 10)
	var wg sync.WaitGroup
	errs := make(chan error, flows)
	for i := range flows {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			f := &flow{t: t, i: i, size: size, rng: rand.New(rand.NewPCG(uint64(i), 99)), cancelled: &cancelled, killed: &killed, sessions: &sessions}
			if err := f.run(d); err != nil {
				errs <- fmt.Errorf("flow %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d calls cut short, %d of %d Attach streams killed", cancelled.Load(), killed.Load(), sessions.Load())
	if killed.Load() == 0 || cancelled.Load() == 0 {
		t.Fatal("nothing was cancelled or killed: the test tested nothing")
	}
}

type flow struct {
	t         *testing.T
	i, size   int
	rng       *rand.Rand
	mu        sync.Mutex // guards rng
	cancelled *atomic.Int64
	killed    *atomic.Int64
	sessions  *atomic.Int64
}

func (f *flow) roll(n int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rng.IntN(n)
}

// callCtx is a call's context: one in five ends at a random moment within
// 3 ms.
func (f *flow) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if f.roll(5) == 0 {
		return context.WithTimeout(ctx, time.Duration(f.roll(3000))*time.Microsecond)
	}
	return context.WithCancel(ctx)
}

func cutShort(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, client.ErrTimeout)
}

func (f *flow) run(d *daemon) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := newRelay(f.t, d.GRPC)
	c, err := client.Dial(r.l.Addr().String())
	if err != nil {
		return err
	}
	defer c.Close()
	peer := newFlowPeer(f.t, f.size, uint64(f.i)+1000)
	sock, err := c.Create(ctx, client.CreateOptions{Connect: peer.addr})
	if err != nil {
		return err
	}
	out := seeded(f.size, uint64(f.i))
	var got [32]byte
	if f.i%2 == 0 {
		got, err = f.unary(ctx, c, r, sock.GetId(), out)
	} else {
		got, err = f.attach(ctx, c, r, sock.GetId(), out)
	}
	if err != nil {
		return err
	}
	if got != peer.sent {
		return errors.New("received bytes differ from the peer's")
	}
	select {
	case back := <-peer.got:
		if back != sha256.Sum256(out) {
			return errors.New("the peer received bytes that differ from the flow's")
		}
	case <-ctx.Done():
		return errors.New("the peer did not get to EOF")
	}
	return nil
}

// unary moves the flow with Send and Recv; the relay is cut once in a
// while too.
func (f *flow) unary(ctx context.Context, c *client.Client, r *relay, id string, out []byte) ([32]byte, error) {
	var sendErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		for rest := out; len(rest) > 0; {
			cctx, cancel := f.callCtx(ctx)
			n, err := c.Send(cctx, id, rest[:min(len(rest), 1+f.roll(128<<10))], true, nil)
			cancel()
			rest = rest[n:]
			if err != nil {
				if !cutShort(err) {
					sendErr = err
					return
				}
				f.cancelled.Add(1)
			}
			if f.roll(40) == 0 {
				r.cut()
			}
		}
		_, sendErr = c.Shutdown(ctx, id, sockdv1.ShutdownHow_SHUTDOWN_HOW_WRITE)
	})
	h := sha256.New()
	for {
		cctx, cancel := f.callCtx(ctx)
		data, eof, err := c.Recv(cctx, id, client.RecvOptions{MaxBytes: 64 << 10})
		cancel()
		if err != nil {
			if !cutShort(err) {
				return [32]byte{}, err
			}
			f.cancelled.Add(1)
			continue
		}
		if eof {
			break
		}
		h.Write(data)
	}
	wg.Wait()
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, sendErr
}

// attach moves the flow through ten Attach sessions in turn, detaching
// between them; one in twenty is killed on the way.
func (f *flow) attach(ctx context.Context, c *client.Client, r *relay, id string, out []byte) ([32]byte, error) {
	const segments = 10
	h := sha256.New()
	received := 0
	for s := range segments {
		f.sessions.Add(1)
		conn, err := c.Conn(ctx, id)
		if err != nil {
			return [32]byte{}, err
		}
		stopKill := make(chan struct{})
		if f.roll(20) == 0 {
			f.killed.Add(1)
			delay := time.Duration(f.roll(20)) * time.Millisecond
			go func() {
				select {
				case <-time.After(delay):
					r.cut()
				case <-stopKill:
				}
			}()
		}
		seg := out[s*len(out)/segments : (s+1)*len(out)/segments]
		wrote := make(chan error, 1)
		go func() {
			_, err := conn.Write(seg)
			if err == nil && s == segments-1 {
				err = conn.CloseWrite()
			}
			wrote <- err
		}()
		// Read this session's share (all that is left, in the last), with
		// a fifth of the reads given a deadline that cuts them short.
		want := (s + 1) * f.size / segments
		buf := make([]byte, 32<<10)
		for received < want || s == segments-1 {
			deadline := time.Now().Add(60 * time.Second)
			if f.roll(5) == 0 {
				deadline = time.Now().Add(time.Duration(f.roll(3000)) * time.Microsecond)
			}
			conn.SetReadDeadline(deadline)
			n, err := conn.Read(buf[:min(len(buf), max(want-received, 1))])
			h.Write(buf[:n])
			received += n
			if err == io.EOF {
				break
			}
			if err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) || time.Now().Before(deadline) {
					return [32]byte{}, err
				}
				f.cancelled.Add(1)
			}
		}
		if err := <-wrote; err != nil {
			return [32]byte{}, err
		}
		close(stopKill)
		if err := conn.Detach(); err != nil {
			return [32]byte{}, err
		}
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, nil
}
