package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

var binDir string // sockd, sockctl and grpcurl, built once per test run

// sockdWrapper is a command that startSockd runs sockd under (prlimit, ...).
var sockdWrapper []string

func TestMain(m *testing.M) {
	// Inside inNetns the parent's binaries are reused.
	dir, reused := os.Getenv("SOCKD_E2E_BIN"), true
	if dir == "" {
		reused = false
		var err error
		if dir, err = os.MkdirTemp("", "sockd-e2e-bin"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := buildBinaries(dir); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: building binaries:", err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	binDir = dir
	os.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	ignore := goleak.IgnoreCurrent()
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(ignore); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: goroutines left running after the tests:", err)
			code = 1
		}
	}
	if !reused {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// repoRoot is the module root (this package sits one level below it).
func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Dir(wd)
}

// coverDir, from SOCKD_E2E_COVERDIR (make cover), makes the binaries
// under test coverage-instrumented: each writes its counters there when it
// exits, to be merged with the unit tests'.
var coverDir = os.Getenv("SOCKD_E2E_COVERDIR")

func buildBinaries(dir string) error {
	instrument := []string{"-race"}
	if coverDir != "" {
		instrument = []string{"-cover", "-covermode=atomic", "-coverpkg=github.com/sockd/sockd/..."}
		os.Setenv("GOCOVERDIR", coverDir) // for every process the tests start
	}
	builds := [][]string{
		append(append([]string{"build"}, instrument...), "-o", filepath.Join(dir, "sockd"), "./cmd/sockd"),
		{"build", "-modfile=tools/go.mod", "-o", filepath.Join(dir, "grpcurl"), "github.com/fullstorydev/grpcurl/cmd/grpcurl"},
	}
	if _, err := os.Stat(filepath.Join(repoRoot(), "cmd", "sockctl")); err == nil {
		sockctl := []string{"build"}
		if coverDir != "" {
			sockctl = append(sockctl, instrument...)
		}
		builds = append(builds, append(sockctl, "-o", filepath.Join(dir, "sockctl"), "./cmd/sockctl"))
	}
	for _, args := range builds {
		cmd := exec.Command("go", args...)
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// daemon is a running sockd.
type daemon struct {
	cmd      *exec.Cmd
	GRPC     string // host:port
	HTTP     string // host:port
	logs     *syncBuffer
	exited   chan struct{}
	exitErr  error
	waitOnce sync.Once
}

// startSockd runs the real sockd on free loopback ports; it is stopped with
// SIGTERM when the test ends (if still running).
func startSockd(t *testing.T, args ...string) *daemon {
	t.Helper()
	return startSockdBinary(t, filepath.Join(binDir, "sockd"), args...)
}

// startSockdBinary is startSockd for a sockd binary of the caller's.
func startSockdBinary(t *testing.T, bin string, args ...string) *daemon {
	t.Helper()
	all := append([]string{"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-format", "json"}, args...)
	argv := append(append(append([]string(nil), sockdWrapper...), bin), all...)
	cmd := exec.Command(argv[0], argv[1:]...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, logs: &syncBuffer{}, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			d.logs.Write(append(line, '\n'))
			if grpcAddr, httpAddr, ok := listeningLine(line); ok && d.GRPC == "" {
				d.GRPC, d.HTTP = grpcAddr, httpAddr
				close(ready)
			}
		}
		// Wait closes the pipe: only after every line, the last words
		// after SIGTERM included, has been read (os/exec's rule).
		d.exitErr = cmd.Wait()
		close(d.exited)
	}()
	select {
	case <-ready:
	case <-d.exited:
		t.Fatalf("sockd exited before listening: %v\n%s", d.exitErr, d.logs.String())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("sockd did not start:\n%s", d.logs.String())
	}
	t.Cleanup(func() {
		d.stop(t)
		if t.Failed() {
			t.Logf("sockd logs:\n%s", d.logs.String())
		}
	})
	return d
}

// textAddr is an address field of a --log-format text line.
var textAddr = regexp.MustCompile(`\b(grpc|http)=("[^"]*"|\S*)`)

// listeningLine reads sockd's "listening" line, in either log format, for
// the addresses it serves on.
func listeningLine(line []byte) (grpcAddr, httpAddr string, ok bool) {
	var rec struct{ Msg, GRPC, HTTP string }
	if json.Unmarshal(line, &rec) == nil {
		return rec.GRPC, rec.HTTP, rec.Msg == "listening"
	}
	if !bytes.Contains(line, []byte(" msg=listening ")) {
		return "", "", false
	}
	for _, m := range textAddr.FindAllSubmatch(line, -1) {
		v := strings.Trim(string(m[2]), `"`)
		if string(m[1]) == "grpc" {
			grpcAddr = v
		} else {
			httpAddr = v
		}
	}
	return grpcAddr, httpAddr, grpcAddr != ""
}

// stop sends SIGTERM and waits for the exit; it reports how long it took.
func (d *daemon) stop(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-d.exited:
		return 0
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		t.Errorf("sockd did not stop within 30s of SIGTERM")
	}
	return time.Since(start)
}

// fds counts the daemon's open descriptors.
func (d *daemon) fds(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", d.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// client dials the daemon's gRPC port; the connection closes with the test.
func (d *daemon) client(t *testing.T) sockdv1.SocketServiceClient {
	t.Helper()
	c, closeConn := d.dial(t)
	t.Cleanup(closeConn)
	return c
}

// conn is a gRPC connection to the daemon, closed with the test.
func (d *daemon) conn(t *testing.T) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(d.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20), grpc.MaxCallSendMsgSize(16<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// dial opens a connection of its own, which the caller closes.
func (d *daemon) dial(t *testing.T) (sockdv1.SocketServiceClient, func()) {
	t.Helper()
	conn, err := grpc.NewClient(d.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20), grpc.MaxCallSendMsgSize(16<<20)))
	if err != nil {
		t.Fatal(err)
	}
	return sockdv1.NewSocketServiceClient(conn), func() { conn.Close() }
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// result is what an outside command did.
type result struct {
	stdout, stderr string
	code           int
}

// run runs an outside client (grpcurl, curl, sockctl, ...) with a time limit.
func run(t *testing.T, stdin io.Reader, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = stdin
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v", name, err)
		}
		r.code = ee.ExitCode()
	}
	return r
}

// grpcurl calls a method with a JSON request and decodes the JSON answer.
func grpcurl(t *testing.T, d *daemon, method string, req any) map[string]any {
	t.Helper()
	r := grpcurlRaw(t, d, method, req)
	if r.code != 0 {
		t.Fatalf("grpcurl %s: exit %d\n%s%s", method, r.code, r.stdout, r.stderr)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("grpcurl %s: %v in %q", method, err, r.stdout)
	}
	return out
}

func grpcurlRaw(t *testing.T, d *daemon, method string, req any, extra ...string) result {
	t.Helper()
	body, _ := json.Marshal(req)
	args := append([]string{"-plaintext", "-max-time", "30"}, extra...)
	args = append(args, "-d", "@", d.GRPC, "sockd.v1.SocketService/"+method)
	return run(t, bytes.NewReader(body), "grpcurl", args...)
}

// curl makes a REST call and returns the status code and the decoded body.
func curl(t *testing.T, d *daemon, method, path string, body any, headers ...string) (int, map[string]any) {
	t.Helper()
	args := []string{"-sS", "--max-time", "30", "-X", method, "-w", "\n%{http_code}"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	if body != nil {
		b, _ := json.Marshal(body)
		args = append(args, "-d", string(b))
	}
	r := run(t, nil, "curl", append(args, "http://"+d.HTTP+path)...)
	if r.code != 0 {
		t.Fatalf("curl %s %s: exit %d: %s", method, path, r.code, r.stderr)
	}
	i := strings.LastIndexByte(r.stdout, '\n')
	var code int
	fmt.Sscan(r.stdout[i+1:], &code)
	var out map[string]any
	if text := strings.TrimSpace(r.stdout[:i]); text != "" {
		if err := json.Unmarshal([]byte(text), &out); err != nil {
			t.Fatalf("curl %s %s: %v in %q", method, path, err, text)
		}
	}
	return code, out
}

// errorReason digs the ErrorInfo reason out of a JSON error body.
func errorReason(body map[string]any) string {
	details, _ := body["details"].([]any)
	for _, d := range details {
		if m, ok := d.(map[string]any); ok && m["@type"] == "type.googleapis.com/google.rpc.ErrorInfo" {
			r, _ := m["reason"].(string)
			return r
		}
	}
	return ""
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// grpcurlErr calls a method that must fail and returns the status code and
// the ErrorInfo reason that grpcurl printed (-format-error prints the status
// as JSON; grpcurl exits with 64 + the code).
func grpcurlErr(t *testing.T, d *daemon, method string, req any, extra ...string) (code int, reason string, body map[string]any) {
	t.Helper()
	r := grpcurlRaw(t, d, method, req, append([]string{"-format-error"}, extra...)...)
	if r.code == 0 {
		t.Fatalf("grpcurl %s %v succeeded, want an error: %s", method, req, r.stdout)
	}
	text := r.stdout + r.stderr
	i := strings.IndexByte(text, '{')
	j := strings.LastIndexByte(text, '}')
	if i < 0 || j < i || json.Unmarshal([]byte(text[i:j+1]), &body) != nil {
		t.Fatalf("grpcurl %s: no JSON status in %q", method, text)
	}
	c, _ := body["code"].(float64)
	if r.code != 64+int(c) {
		t.Errorf("grpcurl exit code %d for status %v", r.code, c)
	}
	return int(c), errorReason(body), body
}
