package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/sockd/sockd/client"
)

// env is what every case runs against: a real sockd, and a bare gRPC sink
// in a process of its own (the baseline of the Attach cases).
type env struct {
	o options
	*sockdProc

	sink     *exec.Cmd
	sinkAddr string
	sinkProf *sockdProc     // the sink's profiler (only pprofAddr is set)
	sinkC    *client.Client // the same client, to the sink
	// sinkOffC is the same client to the sink's side with offsets: it
	// keeps and windows what it sends as it does against sockd.
	sinkOffC *client.Client
}

// sockdProc is a sockd process and a client of it (the client package, as
// any user's program would have).
type sockdProc struct {
	cmd       *exec.Cmd
	addr      string
	c         *client.Client
	health    healthpb.HealthClient
	pprofAddr string // its HTTP side, which serves the profiler
}

func newEnv(ctx context.Context, o options) (*env, error) {
	p, err := startSockd(ctx, o.sockd)
	if err != nil {
		return nil, err
	}
	e := &env{o: o, sockdProc: p}
	self, err := os.Executable()
	if err != nil {
		e.close()
		return nil, err
	}
	// The sink's offsets side says what sockd says.
	info, err := p.c.ServerInfo(ctx)
	if err != nil {
		e.close()
		return nil, err
	}
	e.sink = exec.Command(self, "-serve-sink",
		"-sink-retain-bytes", strconv.FormatInt(info.GetLimits().GetRetainBytes(), 10),
		"-sink-read-ahead-bytes", strconv.FormatInt(info.GetLimits().GetAttachReadAheadBytes(), 10))
	e.sink.Stderr = os.Stderr
	out, err := e.sink.StdoutPipe()
	if err != nil {
		e.close()
		return nil, err
	}
	if err := e.sink.Start(); err != nil {
		e.close()
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		e.close()
		return nil, fmt.Errorf("bare sink: %w", err)
	}
	addrs := strings.Fields(line)
	if len(addrs) != 3 {
		e.close()
		return nil, fmt.Errorf("bare sink: unexpected %q", line)
	}
	e.sinkAddr, e.sinkProf = addrs[0], &sockdProc{pprofAddr: addrs[2]}
	if e.sinkC, err = client.Dial(e.sinkAddr); err != nil {
		e.close()
		return nil, err
	}
	if e.sinkOffC, err = client.Dial(addrs[1]); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *env) close() {
	for _, c := range []*client.Client{e.sinkC, e.sinkOffC} {
		if c != nil {
			c.Close()
		}
	}
	stop(e.sink)
	e.sockdProc.close()
}

// startSockd runs a sockd as an operator would, minus what would skew the
// comparison: no per-call info logs (the Check baseline would pay them too,
// but they are I/O), no rate limit, room for the idle case. Its HTTP side
// serves the profiler: for -profile, and for the idle case, which asks sockd
// to collect garbage before it reads its memory.
func startSockd(ctx context.Context, bin string) (*sockdProc, error) {
	grpcPort, err := freePort()
	if err != nil {
		return nil, err
	}
	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &sockdProc{addr: "127.0.0.1:" + grpcPort, pprofAddr: "127.0.0.1:" + httpPort}
	p.cmd = exec.Command(bin, "--grpc-addr", p.addr, "--http-addr", p.pprofAddr, "--log-level", "warn", "--pprof",
		"--rate", "0", "--max-sockets", "30000", "--max-sockets-per-principal", "30000", "--idle-timeout", "0")
	p.cmd.Stderr = os.Stderr
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w (build it with: go build -o bin/ ./cmd/sockd)", bin, err)
	}
	if p.c, err = client.Dial(p.addr); err != nil {
		p.close()
		return nil, err
	}
	p.health = healthpb.NewHealthClient(p.c.GRPCConn())
	if err := waitServing(ctx, p.health); err != nil {
		p.close()
		return nil, fmt.Errorf("sockd did not come up: %w", err)
	}
	return p, nil
}

func (p *sockdProc) close() {
	if p.c != nil {
		p.c.Close()
	}
	stop(p.cmd)
}

// stop interrupts a child process and waits for it (killing it after 10 s).
func stop(c *exec.Cmd) {
	if c == nil || c.Process == nil {
		return
	}
	c.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.Process.Kill()
	}
}

func waitServing(ctx context.Context, h healthpb.HealthClient) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		r, err := h.Check(cctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort() (string, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

// rss is a process's resident memory in bytes.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, err := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS")
}

func numCPU() int { return runtime.NumCPU() }

// startProfile records sockd's CPU profile, and the allocations it makes,
// for the first seconds of the run (through /debug/pprof/profile and
// /debug/pprof/allocs with seconds=, to path and path.allocs); stop waits
// for both to be written.
func (e *sockdProc) startProfile(path string, seconds int) (func(), error) {
	var wg sync.WaitGroup
	for _, p := range []struct{ file, endpoint string }{{path, "profile"}, {path + ".allocs", "allocs"}} {
		f, err := os.Create(p.file)
		if err != nil {
			return nil, err
		}
		wg.Go(func() {
			defer f.Close()
			resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", e.pprofAddr, p.endpoint, seconds))
			if err != nil {
				fmt.Fprintln(os.Stderr, "profile:", err)
				return
			}
			defer resp.Body.Close()
			io.Copy(f, resp.Body)
		})
	}
	return wg.Wait, nil
}

// collectGarbage makes sockd run a garbage collection (its heap profile
// endpoint does, with gc=1), so that its memory is measured without
// garbage, and returns its live heap (the profile's HeapAlloc) after it.
func (e *sockdProc) collectGarbage() (int64, error) { return e.memStat("HeapAlloc", true) }

// mallocs is how many heap allocations the process has made, from its
// /metrics (go_memstats_mallocs_total): much cheaper to read than the heap
// profile, whose own allocations would show in a short run's count.
func (e *sockdProc) mallocs() (int64, error) {
	v, err := e.find("/metrics", "go_memstats_mallocs_total ")
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(v, 64)
	return int64(f), err
}

// memStat reads one of sockd's runtime.MemStats from its heap profile
// (after a collection if gc).
func (e *sockdProc) memStat(name string, gc bool) (int64, error) {
	path := "/debug/pprof/heap?debug=1"
	if gc {
		path += "&gc=1"
	}
	v, err := e.find(path, "# "+name+" = ")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

// find fetches path from the process's HTTP side and returns what follows
// prefix on the first line that starts with it.
func (e *sockdProc) find(path, prefix string) (string, error) {
	resp, err := http.Get("http://" + e.pprofAddr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			io.Copy(io.Discard, resp.Body)
			return v, nil
		}
	}
	return "", fmt.Errorf("no %q in %s (%v)", prefix, path, sc.Err())
}

// settledRSS is a process's resident memory once the runtime has given
// back what it will: read until it has not fallen for a second (at most 10 s).
func settledRSS(pid int) (int64, error) {
	low, err := rss(pid)
	if err != nil {
		return 0, err
	}
	deadline, since := time.Now().Add(10*time.Second), time.Now()
	for time.Since(since) < time.Second && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		n, err := rss(pid)
		if err != nil {
			return 0, err
		}
		if n < low {
			low, since = n, time.Now()
		}
	}
	return low, nil
}

// quietWindow is how long quietRSS watches a quiet sockd: more than two
// looks of its memory nudge (cmd/sockd/memory.go, every 5 s), which
// returns what a burst left once sockd has been quiet for one look.
const quietWindow = 12 * time.Second

// quietRSS is a quiet process's resident memory: the least it holds over
// quietWindow, with nothing asked of it (a process that only holds idle
// sockets does not grow).
func quietRSS(pid int) (int64, error) {
	low, err := rss(pid)
	if err != nil {
		return 0, err
	}
	for deadline := time.Now().Add(quietWindow); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		n, err := rss(pid)
		if err != nil {
			return 0, err
		}
		low = min(low, n)
	}
	return low, nil
}

// saveHeapProfile writes sockd's heap profile.
func (e *sockdProc) saveHeapProfile(path string) error {
	resp, err := http.Get("http://" + e.pprofAddr + "/debug/pprof/heap?debug=1")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}
