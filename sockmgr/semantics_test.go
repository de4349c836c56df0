package sockmgr_test

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/sockmgr"
)

func TestBindPortZeroReportsKernelPort(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	s := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
	check(t, s.Bind(ctxT(t), "127.0.0.1:0"))
	info := s.Info()
	if info.State != sockmgr.StateBound || info.LocalAddr.Port() == 0 {
		t.Fatalf("after bind: %s %s", info.State, info.LocalAddr)
	}
	// The port is really held: a Go listener cannot take it.
	if l, err := net.Listen("tcp4", info.LocalAddr.String()); err == nil {
		l.Close()
		t.Fatalf("the bound port %s was free", info.LocalAddr)
	}
	// Binding twice is a state error.
	if err := s.Bind(ctxT(t), "127.0.0.1:0"); !errors.Is(err, sockmgr.ErrWrongState) {
		t.Fatalf("second bind: %v, want ErrWrongState", err)
	}
}

func TestBindConflictIsEADDRINUSE(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	l := listener(t, m, sockmgr.IPv4)
	s := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
	err := s.Bind(ctxT(t), l.Info().LocalAddr.String())
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("bind to a taken port: %v, want EADDRINUSE", err)
	}
	var oe *sockmgr.OpError
	if !errors.As(err, &oe) || oe.Op != "bind" || oe.SocketID != s.ID() {
		t.Fatalf("error %#v does not name the op and socket", err)
	}
	if s.Info().State != sockmgr.StateCreated {
		t.Fatalf("a failed bind changed the state to %s", s.Info().State)
	}
}

func TestConnectToClosedPortIsECONNREFUSED(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	// Take a free port and release it, so nothing listens there.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	check(t, err)
	addr := l.Addr().String()
	l.Close()
	s := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
	err = s.Connect(ctxT(t), addr, nil)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("connect to a closed port: %v, want ECONNREFUSED", err)
	}
	if info := s.Info(); info.State != sockmgr.StateCreated || info.Connecting {
		t.Fatalf("after a refused connect: %s connecting=%v", info.State, info.Connecting)
	}
}

// SO_REUSEADDR set before bind lets a restarted server take a port whose old
// connection is in TIME_WAIT; without it the bind fails. (On Linux the old
// server must have set it too: the TIME_WAIT socket keeps its flag.)
func TestReuseAddrBeforeBindTakesTimeWaitPort(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	ctx := ctxT(t)
	l := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
	must[int](t)(l.SetOption("SO_REUSEADDR", 1))
	check(t, l.Bind(ctx, "127.0.0.1:0"))
	check(t, l.Listen(5))
	addr := l.Info().LocalAddr.String()
	peer, err := net.Dial("tcp4", addr)
	check(t, err)
	conn := must[*sockmgr.Socket](t)(l.Accept(ctx, sockmgr.AcceptOptions{}))
	// The server closes first, so its side (on the listening port) goes to
	// TIME_WAIT once the peer's FIN arrives.
	check(t, conn.Close())
	check(t, l.Close())
	buf := make([]byte, 1)
	if _, err := peer.Read(buf); err == nil {
		t.Fatal("peer read data, want EOF")
	}
	peer.Close()
	waitFor(t, "TIME_WAIT on "+addr, func() bool { return strings.Contains(ssOutput(t, "-tan", "state", "time-wait"), addr) })

	plain := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
	if err := plain.Bind(ctx, addr); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("bind without SO_REUSEADDR over TIME_WAIT: %v, want EADDRINUSE", err)
	}
	reuse := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
	if v := must[int](t)(reuse.SetOption("so_reuseaddr", 1)); v != 1 {
		t.Fatalf("SO_REUSEADDR read back %d", v)
	}
	check(t, reuse.Bind(ctx, addr))
	check(t, reuse.Listen(5))
}

// listen(backlog) passes the backlog to the kernel: ss shows it as the
// listening socket's Send-Q.
func TestListenBacklogReachesKernel(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	for _, backlog := range []int{0, 5, 77} {
		s := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
		check(t, s.Bind(ctxT(t), "127.0.0.1:0"))
		check(t, s.Listen(backlog))
		port := strconv.Itoa(int(s.Info().LocalAddr.Port()))
		out := ssOutput(t, "-ltnH", "sport", "=", ":"+port)
		fields := strings.Fields(out)
		if len(fields) < 3 || fields[2] != strconv.Itoa(backlog) {
			t.Fatalf("ss for listen(%d) on port %s: %q, want Send-Q %d", backlog, port, out, backlog)
		}
	}
}

func TestRecvTimeoutThenLaterBytesArrive(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	ctx := ctxT(t)
	c, s := connectedPair(t, m)
	_, err := s.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 10, Timeout: dur(50 * time.Millisecond)})
	if !errors.Is(err, sockmgr.ErrTimeout) {
		t.Fatalf("recv with nothing sent: %v, want ErrTimeout", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%v is not a net.Error timeout", err)
	}
	must[int](t)(c.Send(ctx, []byte("late"), sockmgr.SendOptions{}))
	if got := recvText(t, s, 4); got != "late" {
		t.Fatalf("recv after timeout = %q", got)
	}
	// The socket's own timeout applies when the call gives none.
	check(t, s.SetTimeout(dur(30*time.Millisecond)))
	if _, err := s.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 10}); !errors.Is(err, sockmgr.ErrTimeout) {
		t.Fatalf("recv under socket timeout: %v", err)
	}
	// Timeout 0 is non-blocking: EAGAIN at once.
	check(t, s.SetTimeout(dur(0)))
	if _, err := s.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 10}); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("non-blocking recv: %v, want EAGAIN", err)
	}
}

// A recv cancelled mid-wait leaves the socket usable and loses nothing: the
// next recv gets every byte sent afterwards.
func TestRecvCancelledMidWaitLosesNothing(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	c, s := connectedPair(t, m)
	for i := range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := s.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 100})
			done <- err
		}()
		// Cancel at varying points, some before the recv even starts to wait.
		time.Sleep(time.Duration(i%5) * time.Millisecond)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled recv: %v, want context.Canceled", err)
		}
	}
	payload := strings.Repeat("every byte counts ", 1000)
	must[int](t)(c.Send(ctxT(t), []byte(payload), sockmgr.SendOptions{All: true}))
	if got := recvText(t, s, len(payload)); got != payload {
		t.Fatalf("after cancellations got %d bytes, want %d", len(got), len(payload))
	}
}

// Cancelling races with data arriving: whatever one recv took from the kernel
// and could not deliver is returned by the next. Over many rounds, the bytes
// received equal the bytes sent.
func TestCancelRacingDataLosesNothing(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	c, s := connectedPair(t, m)
	var got []byte
	sent := 0
	for i := range 300 {
		msg := []byte(strconv.Itoa(i) + ",")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan sockmgr.RecvResult, 1)
		go func() {
			r, _ := s.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 7})
			done <- r
		}()
		go cancel()
		must[int](t)(c.Send(ctxT(t), msg, sockmgr.SendOptions{All: true}))
		sent += len(msg)
		got = append(got, (<-done).Data...)
	}
	for len(got) < sent {
		r := must[sockmgr.RecvResult](t)(s.Recv(ctxT(t), sockmgr.RecvOptions{MaxBytes: 4096, Timeout: dur(5 * time.Second)}))
		got = append(got, r.Data...)
	}
	var want strings.Builder
	for i := range 300 {
		want.WriteString(strconv.Itoa(i) + ",")
	}
	if string(got) != want.String() {
		t.Fatalf("received stream differs from the sent one:\n got %.200s\nwant %.200s", got, want.String())
	}
}

// An accept and a connect can be cancelled too, and the socket works after.
func TestAcceptAndConnectCancelOrTimeOut(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	ctx := ctxT(t)
	l := listener(t, m, sockmgr.IPv4)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	_, err := l.Accept(cctx, sockmgr.AcceptOptions{})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("accept with an expiring context: %v", err)
	}
	if _, err := l.Accept(ctx, sockmgr.AcceptOptions{Timeout: dur(0)}); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("non-blocking accept: %v, want EAGAIN", err)
	}
	peer, err := net.Dial("tcp4", l.Info().LocalAddr.String())
	check(t, err)
	defer peer.Close()
	must[*sockmgr.Socket](t)(l.Accept(ctx, sockmgr.AcceptOptions{}))

	// A listener with backlog 0 and one unaccepted connection drops further
	// SYNs, so a connect to it hangs until its timeout.
	full := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
	check(t, full.Bind(ctx, "127.0.0.1:0"))
	check(t, full.Listen(0))
	target := full.Info().LocalAddr.String()
	var hang *sockmgr.Socket
	for i := 0; i < 4 && hang == nil; i++ {
		c := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
		err := c.Connect(ctx, target, dur(200*time.Millisecond))
		if errors.Is(err, sockmgr.ErrTimeout) {
			hang = c
		}
	}
	if hang == nil {
		t.Fatal("no connect to a full listener timed out")
	}
	if !hang.Info().Connecting {
		t.Fatal("a timed-out connect should still be in progress")
	}
	// Accepting frees the queue: the kernel retransmits the SYN and the
	// connect completes; a second Connect reports it done.
	accepted := 0
	deadline := time.Now().Add(10 * time.Second)
	for hang.Info().State != sockmgr.StateConnected && time.Now().Before(deadline) {
		if _, err := full.Accept(ctx, sockmgr.AcceptOptions{Timeout: dur(100 * time.Millisecond)}); err == nil {
			accepted++
		}
	}
	if hang.Info().State != sockmgr.StateConnected {
		t.Fatalf("the pending connect never completed (%d accepted)", accepted)
	}
	if err := hang.Connect(ctx, target, nil); !errors.Is(err, syscall.EISCONN) {
		t.Fatalf("connect on a connected socket: %v, want EISCONN", err)
	}
}

// A send blocked on a full buffer can be cut short; sendall reports what was
// sent before the timeout.
func TestSendAllOnFullBufferTimesOutWithCount(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	c, s := connectedPair(t, m)
	must[int](t)(c.SetOption("SO_SNDBUF", 4096))
	must[int](t)(s.SetOption("SO_RCVBUF", 4096))
	big := make([]byte, 8<<20)
	n, err := c.Send(ctxT(t), big, sockmgr.SendOptions{All: true, Timeout: dur(200 * time.Millisecond)})
	if !errors.Is(err, sockmgr.ErrTimeout) || n <= 0 || n >= len(big) {
		t.Fatalf("sendall into a peer that does not read: n=%d err=%v, want a partial count and a timeout", n, err)
	}
	if got := c.Info().Counters.BytesSent; got != uint64(n) {
		t.Fatalf("bytes sent counter %d, want %d", got, n)
	}
	// The receiver gets exactly the n bytes.
	total := 0
	for total < n {
		r := must[sockmgr.RecvResult](t)(s.Recv(ctxT(t), sockmgr.RecvOptions{MaxBytes: 1 << 20, Timeout: dur(5 * time.Second)}))
		total += len(r.Data)
	}
	if total != n {
		t.Fatalf("received %d, sent %d", total, n)
	}
	// A cancelled blocked send leaves the socket usable.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	n2, err := c.Send(ctx, big, sockmgr.SendOptions{All: true})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled sendall: %v", err)
	}
	go func() {
		for got := 0; got < n2+5; {
			r, err := s.Recv(context.Background(), sockmgr.RecvOptions{MaxBytes: 1 << 20, Timeout: dur(5 * time.Second)})
			if err != nil {
				return
			}
			got += len(r.Data)
		}
	}()
	must[int](t)(c.Send(ctxT(t), []byte("after"), sockmgr.SendOptions{All: true, Timeout: dur(5 * time.Second)}))
}

// shutdown(write): the peer reads EOF and can still answer.
func TestHalfClose(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	ctx := ctxT(t)
	c, s := connectedPair(t, m)
	must[int](t)(c.Send(ctx, []byte("question"), sockmgr.SendOptions{All: true}))
	check(t, c.Shutdown(sockmgr.ShutWrite))
	if !c.Info().WriteShut {
		t.Fatal("WriteShut not reported")
	}
	if got := recvText(t, s, 8); got != "question" {
		t.Fatalf("got %q", got)
	}
	r := must[sockmgr.RecvResult](t)(s.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 10}))
	if !r.EOF {
		t.Fatalf("after peer's shutdown(write): %+v, want EOF", r)
	}
	must[int](t)(s.Send(ctx, []byte("answer"), sockmgr.SendOptions{All: true}))
	if got := recvText(t, c, 6); got != "answer" {
		t.Fatalf("answer after half-close: %q", got)
	}
	if _, err := c.Send(ctx, []byte("more"), sockmgr.SendOptions{}); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("send after shutdown(write): %v, want EPIPE", err)
	}
}

// SO_LINGER 0 then close aborts the connection: the peer sees ECONNRESET.
func TestAbortiveCloseResetsPeer(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	l := listener(t, m, sockmgr.IPv4)
	peer, err := net.Dial("tcp4", l.Info().LocalAddr.String())
	check(t, err)
	defer peer.Close()
	conn := must[*sockmgr.Socket](t)(l.Accept(ctxT(t), sockmgr.AcceptOptions{}))
	if v := must[int](t)(conn.SetOption("SO_LINGER", 0)); v != 0 {
		t.Fatalf("SO_LINGER read back %d, want 0", v)
	}
	check(t, conn.Close())
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = peer.Read(make([]byte, 1))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("peer read after abortive close: %v, want ECONNRESET", err)
	}
}

func TestStateErrors(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	ctx := ctxT(t)
	l := listener(t, m, sockmgr.IPv4)
	if _, err := l.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 1}); !errors.Is(err, sockmgr.ErrWrongState) {
		t.Fatalf("recv on a listener: %v", err)
	}
	fresh := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
	if _, err := fresh.Accept(ctx, sockmgr.AcceptOptions{}); !errors.Is(err, sockmgr.ErrWrongState) {
		t.Fatalf("accept before listen: %v", err)
	}
	if _, err := fresh.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 1}); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("recv on an unconnected TCP socket: %v, want ENOTCONN", err)
	}
	if _, err := fresh.Send(ctx, []byte("x"), sockmgr.SendOptions{}); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("send on an unconnected TCP socket: %v, want ENOTCONN", err)
	}
	u := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{Protocol: sockmgr.UDP}))
	if err := u.Listen(5); !errors.Is(err, sockmgr.ErrWrongState) {
		t.Fatalf("listen on UDP: %v", err)
	}
	if _, err := u.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 1}); !errors.Is(err, sockmgr.ErrWrongState) {
		t.Fatalf("recv on an unbound UDP socket: %v", err)
	}
	if _, err := u.Send(ctx, []byte("x"), sockmgr.SendOptions{}); !errors.Is(err, syscall.EDESTADDRREQ) {
		t.Fatalf("send on an unconnected UDP socket: %v, want EDESTADDRREQ", err)
	}
	if _, err := fresh.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 0}); !errors.Is(err, sockmgr.ErrInvalidArgument) {
		t.Fatalf("recv of 0 bytes: %v", err)
	}
	if err := fresh.Bind(ctx, "127.0.0.1"); !errors.Is(err, sockmgr.ErrInvalidAddress) {
		t.Fatalf("bind without a port: %v", err)
	}
	if err := fresh.Bind(ctx, "[::1]:0"); !errors.Is(err, sockmgr.ErrInvalidAddress) {
		t.Fatalf("IPv6 address on an IPv4 socket: %v", err)
	}
	if err := fresh.Connect(ctx, ":80", nil); !errors.Is(err, sockmgr.ErrInvalidAddress) {
		t.Fatalf("connect to the wildcard: %v", err)
	}
	check(t, fresh.Close())
	if err := fresh.Close(); !errors.Is(err, sockmgr.ErrNotFound) {
		t.Fatalf("second close: %v, want ErrNotFound", err)
	}
	if err := fresh.Bind(ctx, "127.0.0.1:0"); !errors.Is(err, sockmgr.ErrClosed) {
		t.Fatalf("bind on a closed socket: %v, want ErrClosed", err)
	}
}

// Closing a socket wakes the calls blocked on it; closing a listener leaves
// its accepted sockets open.
func TestCloseWakesBlockedCallsAndKeepsAccepted(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	ctx := ctxT(t)
	l := listener(t, m, sockmgr.IPv4)
	peer, err := net.Dial("tcp4", l.Info().LocalAddr.String())
	check(t, err)
	defer peer.Close()
	conn := must[*sockmgr.Socket](t)(l.Accept(ctx, sockmgr.AcceptOptions{}))

	acceptDone := make(chan error, 1)
	go func() { _, err := l.Accept(ctx, sockmgr.AcceptOptions{}); acceptDone <- err }()
	waitFor(t, "accept to block", func() bool { return len(acceptDone) == 0 })
	check(t, l.Close())
	if err := <-acceptDone; !errors.Is(err, sockmgr.ErrClosed) {
		t.Fatalf("accept woken by close: %v, want ErrClosed", err)
	}
	if _, err := peer.Write([]byte("still here")); err != nil {
		t.Fatal(err)
	}
	if got := recvText(t, conn, 10); got != "still here" {
		t.Fatalf("accepted socket after listener close: %q", got)
	}
	recvDone := make(chan error, 1)
	go func() { _, err := conn.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 10}); recvDone <- err }()
	time.Sleep(10 * time.Millisecond) // let it block; the assertion holds either way
	check(t, conn.Close())
	if err := <-recvDone; !errors.Is(err, sockmgr.ErrNotFound) {
		t.Fatalf("recv woken by close: %v, want ErrClosed", err)
	}
}

func TestPeekAndWaitAll(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	ctx := ctxT(t)
	c, s := connectedPair(t, m)
	must[int](t)(c.Send(ctx, []byte("abcdef"), sockmgr.SendOptions{All: true}))
	waitFor(t, "bytes to arrive", func() bool {
		r, err := s.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 6, Peek: true})
		return err == nil && len(r.Data) == 6
	})
	r := must[sockmgr.RecvResult](t)(s.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 3, Peek: true}))
	if string(r.Data) != "abc" || s.Info().Counters.BytesReceived != 0 {
		t.Fatalf("peek = %q, received counter %d", r.Data, s.Info().Counters.BytesReceived)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		c.Send(ctx, []byte("ghij"), sockmgr.SendOptions{All: true})
	}()
	r = must[sockmgr.RecvResult](t)(s.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 10, WaitAll: true}))
	if string(r.Data) != "abcdefghij" {
		t.Fatalf("wait_all = %q", r.Data)
	}
	// wait_all cut short by a timeout returns what came.
	must[int](t)(c.Send(ctx, []byte("xy"), sockmgr.SendOptions{All: true}))
	r = must[sockmgr.RecvResult](t)(s.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 10, WaitAll: true, Timeout: dur(100 * time.Millisecond)}))
	if string(r.Data) != "xy" {
		t.Fatalf("wait_all after timeout = %q, want xy", r.Data)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ssOutput(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ss", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ss %v: %v: %s", args, err, out)
	}
	return string(out)
}

// SendBuffers sends many buffers as one stream, in order, even when the
// kernel takes them in pieces.
func TestSendBuffersInOrder(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	c, s := connectedPair(t, m)
	must[int](t)(c.SetOption("SO_SNDBUF", 4096))
	var bufs [][]byte
	var want []byte
	for i := range 3000 { // more than IOV_MAX buffers, several MiB
		b := []byte(strings.Repeat(strconv.Itoa(i%10), 1+i%2000))
		bufs = append(bufs, b)
		want = append(want, b...)
	}
	bufs = append(bufs, nil, []byte{}) // empty ones are fine
	done := make(chan error, 1)
	go func() {
		n, err := c.SendBuffers(ctxT(t), bufs, sockmgr.SendOptions{})
		if err == nil && n != len(want) {
			err = errors.New("short SendBuffers: " + strconv.Itoa(n))
		}
		done <- err
	}()
	got := make([]byte, 0, len(want))
	for len(got) < len(want) {
		r := must[sockmgr.RecvResult](t)(s.Recv(ctxT(t), sockmgr.RecvOptions{MaxBytes: 1 << 20, Timeout: dur(10 * time.Second)}))
		got = append(got, r.Data...)
	}
	check(t, <-done)
	if string(got) != string(want) {
		t.Fatal("the stream differs from the buffers sent")
	}
	if c.Info().Counters.BytesSent != uint64(len(want)) {
		t.Fatalf("counter %d", c.Info().Counters.BytesSent)
	}
}

// SendDatagrams keeps datagram boundaries and order.
func TestSendDatagrams(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	check(t, err)
	defer pc.Close()
	u := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{Protocol: sockmgr.UDP}))
	check(t, u.Connect(ctxT(t), pc.LocalAddr().String(), nil))
	var dgrams [][]byte
	for i := range 50 {
		dgrams = append(dgrams, []byte(strings.Repeat(strconv.Itoa(i%10), i)))
	}
	n := must[int](t)(u.SendDatagrams(ctxT(t), dgrams, sockmgr.SendOptions{}))
	if n != 50 || u.Info().Counters.DatagramsSent != 50 {
		t.Fatalf("sent %d datagrams, counter %d", n, u.Info().Counters.DatagramsSent)
	}
	buf := make([]byte, 100)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i, want := range dgrams {
		k, _, err := pc.ReadFrom(buf)
		check(t, err)
		if string(buf[:k]) != string(want) {
			t.Fatalf("datagram %d: %q, want %q", i, buf[:k], want)
		}
	}
}

// A wrong-state error names the state the socket is really in.
func TestWrongStateNamesTheRealState(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	u := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{Protocol: sockmgr.UDP}))
	check(t, u.Bind(ctxT(t), "127.0.0.1:0"))
	err := u.Listen(5)
	if !errors.Is(err, sockmgr.ErrWrongState) || !strings.Contains(err.Error(), "udp BOUND") {
		t.Fatalf("listen on a bound UDP socket: %v, want a wrong state naming BOUND", err)
	}
}
