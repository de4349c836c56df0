package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sockd/sockd/client"
)

// captureHookCommit is the commit that put capture's hook into sockmgr's
// data path (one atomic pointer per socket, loaded at every send and
// receive). The capture cases compare a sockd of today's code with one of
// the same code minus that commit's data-path change (sockmgr/io.go), which
// is sockd as it was before capture, for the data path.
const captureHookCommit = "e1dde52342a9678c94748a507948536e2eb5e53d"

// captureCases: the cost of capture on the data path, per call — unary
// Send and Recv of 1 KiB (one caller, one socket each) and Attach with
// 64 KiB writes — three ways in one run:
//
//   - before: a sockd built from the same source with the capture hook's
//     data-path calls taken out (captureHookCommit's sockmgr/io.go diff,
//     applied in reverse);
//   - off: a sockd built from the same source as it is, capture off (the
//     default: what every existing case measures);
//   - on: the same sockd with capture on for the sockets measured
//     (SetCapture, the default 1 MiB ring, which wraps: the steady state).
//
// Measured in the order before, off, on, off, before, and before and off
// averaged over their two phases, so that the machine's drift falls on
// neither. "off" against "before" must be indistinguishable (issue 15).
func captureCases(ctx context.Context, e *env) ([]result, error) {
	procs, err := e.captureProcs(ctx)
	if err != nil {
		return nil, err
	}
	sink, err := newTCPSink()
	if err != nil {
		return nil, err
	}
	defer sink.close()
	flood, err := newFloodPeer()
	if err != nil {
		return nil, err
	}
	defer flood.close()

	type figures struct{ send, recv, attach float64 }
	measure := func(p *sockdProc, capture bool) (figures, error) {
		var f figures
		var err error
		if f.send, err = e.unarySendRate(ctx, p, sink.addr(), capture); err != nil {
			return f, fmt.Errorf("send: %w", err)
		}
		if f.recv, err = e.unaryRecvRate(ctx, p, flood.addr(), capture); err != nil {
			return f, fmt.Errorf("recv: %w", err)
		}
		if f.attach, err = e.attachRate(ctx, p, sink, capture); err != nil {
			return f, fmt.Errorf("attach: %w", err)
		}
		return f, nil
	}
	// A fresh sockd's first calls and streams are slower (its pools and
	// heap grow, the runtime warms up): both serve once unmeasured.
	if !procs.warm {
		for _, p := range []*sockdProc{procs.before, procs.off} {
			if _, err := measure(p, false); err != nil {
				return nil, err
			}
		}
		procs.warm = true
	}
	var phases [5]figures
	for i, ph := range []struct {
		p  *sockdProc
		on bool
	}{{procs.before, false}, {procs.off, false}, {procs.off, true}, {procs.off, false}, {procs.before, false}} {
		if phases[i], err = measure(ph.p, ph.on); err != nil {
			return nil, err
		}
	}
	mean := func(a, b figures) figures {
		return figures{(a.send + b.send) / 2, (a.recv + b.recv) / 2, (a.attach + b.attach) / 2}
	}
	before, off, on := mean(phases[0], phases[4]), mean(phases[1], phases[3]), phases[2]
	perCall := func(slow, fast float64) string { // the extra time per call, from two rates
		return fmt.Sprintf("%+.1f µs per call", (1/slow-1/fast)*1e6)
	}
	perMsg := func(slow, fast float64) string { // per 64 KiB message, from two byte rates
		return fmt.Sprintf("%+.1f µs per 64 KiB message", (1/slow-1/fast)*(64<<10)*1e6)
	}
	const beforeAgainst = "sockd without the capture hook (mean of before and after)"
	const offAgainst = "capture off, same sockd (mean of before and after)"
	return []result{
		{Case: "capture-off-send-1KiB-c1", Unit: "ops/s", Sockd: off.send, Baseline: before.send, Against: beforeAgainst, Ratio: off.send / before.send, Target: ">= 0.95", Note: perCall(off.send, before.send)},
		{Case: "capture-off-recv-1KiB-c1", Unit: "ops/s", Sockd: off.recv, Baseline: before.recv, Against: beforeAgainst, Ratio: off.recv / before.recv, Target: ">= 0.95", Note: perCall(off.recv, before.recv)},
		{Case: "capture-off-attach-64KiB", Unit: "B/s", Sockd: off.attach, Baseline: before.attach, Against: beforeAgainst, Ratio: off.attach / before.attach, Target: ">= 0.95", Note: perMsg(off.attach, before.attach)},
		{Case: "capture-on-send-1KiB-c1", Unit: "ops/s", Sockd: on.send, Baseline: off.send, Against: offAgainst, Ratio: on.send / off.send, Note: perCall(on.send, off.send)},
		{Case: "capture-on-recv-1KiB-c1", Unit: "ops/s", Sockd: on.recv, Baseline: off.recv, Against: offAgainst, Ratio: on.recv / off.recv, Note: perCall(on.recv, off.recv)},
		{Case: "capture-on-attach-64KiB", Unit: "B/s", Sockd: on.attach, Baseline: off.attach, Against: offAgainst, Ratio: on.attach / off.attach, Note: perMsg(on.attach, off.attach)},
	}, nil
}

// unarySendRate is one caller's Send of 1 KiB, calls per second, on a new
// socket of p connected to a sink (recording if capture).
func (e *env) unarySendRate(ctx context.Context, p *sockdProc, sink string, capture bool) (float64, error) {
	id, err := newCaptureSocket(ctx, p.c, sink, capture)
	if err != nil {
		return 0, err
	}
	defer p.c.CloseSocket(context.Background(), id)
	payload := make([]byte, 1<<10)
	rate, _, err := e.calls(ctx, 1, func(ctx context.Context, _ int) error {
		_, err := p.c.Send(ctx, id, payload, true, nil)
		return err
	})
	return rate, err
}

// unaryRecvRate is one caller's Recv of up to 1 KiB, calls per second, on a
// new socket of p connected to a peer that keeps it full.
func (e *env) unaryRecvRate(ctx context.Context, p *sockdProc, peer string, capture bool) (float64, error) {
	id, err := newCaptureSocket(ctx, p.c, peer, capture)
	if err != nil {
		return 0, err
	}
	defer p.c.CloseSocket(context.Background(), id)
	rate, _, err := e.calls(ctx, 1, func(ctx context.Context, _ int) error {
		_, _, err := p.c.Recv(ctx, id, client.RecvOptions{MaxBytes: 1 << 10})
		return err
	})
	return rate, err
}

// attachRate is Attach with 64 KiB writes into the sink through a new
// socket of p, bytes per second reaching the sink.
func (e *env) attachRate(ctx context.Context, p *sockdProc, sink *tcpSink, capture bool) (float64, error) {
	id, err := newCaptureSocket(ctx, p.c, sink.addr(), capture)
	if err != nil {
		return 0, err
	}
	defer p.c.CloseSocket(context.Background(), id)
	var sent atomic.Int64
	var floodErr error
	rate := e.rate(ctx, func(ctx context.Context) { floodErr = attachFlood(ctx, p.c, id, false, 64<<10, &sent) }, sink.bytes.Load)
	return rate, floodErr
}

// newCaptureSocket connects a new TCP socket to addr, recording if capture.
func newCaptureSocket(ctx context.Context, c *client.Client, addr string, capture bool) (string, error) {
	s, err := c.Create(ctx, client.CreateOptions{Connect: addr})
	if err != nil {
		return "", err
	}
	if capture {
		if _, err := c.SetCapture(ctx, s.GetId(), true, 0); err != nil {
			c.CloseSocket(context.Background(), s.GetId())
			return "", fmt.Errorf("SetCapture: %w", err)
		}
	}
	return s.GetId(), nil
}

// floodPeer accepts connections and writes to each as fast as it can, so
// that a receiver always finds data.
type floodPeer struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newFloodPeer() (*floodPeer, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &floodPeer{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns = append(f.conns, c)
			f.mu.Unlock()
			go func() {
				buf := make([]byte, 64<<10)
				for {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	return f, nil
}

func (f *floodPeer) addr() string { return f.l.Addr().String() }

func (f *floodPeer) close() {
	f.l.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
}

// captureProcs are the two sockds of the capture cases.
type captureProcs struct {
	before, off *sockdProc
	dir         string
	warm        bool // both have served once
}

var capture struct {
	once  sync.Once
	procs *captureProcs
	err   error
}

// captureProcs builds (once per run) and starts the capture cases' two
// sockds from the source at -capture-rev.
func (e *env) captureProcs(ctx context.Context) (*captureProcs, error) {
	capture.once.Do(func() {
		capture.procs, capture.err = buildCaptureProcs(ctx, e.o.captureRev)
	})
	return capture.procs, capture.err
}

// buildCaptureProcs: `git archive REV` into a temporary directory, go build
// of cmd/sockd as it is ("off") and with captureHookCommit's sockmgr/io.go
// diff reversed ("before"), and a sockd of each. The flags are those of
// every other case's sockd.
func buildCaptureProcs(ctx context.Context, rev string) (*captureProcs, error) {
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return nil, fmt.Errorf("the capture cases build sockd from git: run sockbench inside the repository (%w)", err)
	}
	repo := strings.TrimSpace(string(top))
	dir, err := os.MkdirTemp("", "sockbench-capture-")
	if err != nil {
		return nil, err
	}
	src := filepath.Join(dir, "src")
	steps := []struct {
		what string
		cmd  *exec.Cmd
	}{
		{"unpack " + rev, exec.Command("sh", "-c", fmt.Sprintf("mkdir -p %s && git -C %s archive %s | tar -x -C %s", src, repo, rev, src))},
		{"build sockd (off)", goBuild(src, filepath.Join(dir, "sockd-off"))},
		{"take out the hook", exec.Command("sh", "-c", fmt.Sprintf("git -C %s show %s -- sockmgr/io.go | git -C %s apply -R", repo, captureHookCommit, src))},
		{"build sockd (before)", goBuild(src, filepath.Join(dir, "sockd-before"))},
	}
	fmt.Fprintf(os.Stderr, "  capture: building sockd from %s with and without the capture hook in %s\n", rev, dir)
	for _, s := range steps {
		if out, err := s.cmd.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("capture cases: %s: %w\n%s", s.what, err, out)
		}
	}
	procs := &captureProcs{dir: dir}
	if procs.before, err = startSockd(ctx, filepath.Join(dir, "sockd-before")); err != nil {
		procs.close()
		return nil, err
	}
	if procs.off, err = startSockd(ctx, filepath.Join(dir, "sockd-off")); err != nil {
		procs.close()
		return nil, err
	}
	return procs, nil
}

func goBuild(src, out string) *exec.Cmd {
	cmd := exec.Command("go", "build", "-o", out, "./cmd/sockd")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	return cmd
}

func (p *captureProcs) close() {
	for _, s := range []*sockdProc{p.before, p.off} {
		if s != nil {
			s.close()
		}
	}
	os.RemoveAll(p.dir)
}

// closeCapture stops the capture cases' sockds and removes their build.
func closeCapture() {
	if capture.procs != nil {
		capture.procs.close()
	}
}
