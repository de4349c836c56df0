package sockmgr_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockd/sockd/sockmgr"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// owner is the principal most tests act as.
const owner = "tester"

// newManager returns a manager that is closed when the test ends, and checks
// then that every descriptor the test opened through it is closed again.
func newManager(t *testing.T, cfg sockmgr.Config) *sockmgr.Manager {
	t.Helper()
	before := openFDs(t)
	m := sockmgr.New(cfg)
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("manager close: %v", err)
		}
		if m.Len() != 0 {
			t.Errorf("%d sockets left in the registry after Close", m.Len())
		}
		// Peers started by the test (Python, net.Conn) close in their own
		// cleanups, which run after this one: compare against the start
		// once they are gone, with a short poll for the kernel to catch up.
		t.Cleanup(func() {
			deadline := time.Now().Add(5 * time.Second)
			for {
				after := openFDs(t)
				if after <= before || time.Now().After(deadline) {
					if after > before {
						t.Errorf("descriptors leaked: %d open before the test, %d after", before, after)
					}
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	})
	return m
}

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("counting descriptors: %v", err)
	}
	return len(entries)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func dur(d time.Duration) *time.Duration { return &d }

// listener makes a TCP socket listening on a kernel-chosen loopback port.
func listener(t *testing.T, m *sockmgr.Manager, fam sockmgr.Family) *sockmgr.Socket {
	t.Helper()
	s := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{Family: fam}))
	addr := "127.0.0.1:0"
	if fam == sockmgr.IPv6 {
		addr = "[::1]:0"
	}
	check(t, s.Bind(context.Background(), addr))
	check(t, s.Listen(5))
	return s
}

// connectedPair returns a connected client socket and the accepted one.
func connectedPair(t *testing.T, m *sockmgr.Manager) (client, server *sockmgr.Socket) {
	t.Helper()
	ctx := ctxT(t)
	l := listener(t, m, sockmgr.IPv4)
	client = must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
	check(t, client.Connect(ctx, l.Info().LocalAddr.String(), nil))
	server = must[*sockmgr.Socket](t)(l.Accept(ctx, sockmgr.AcceptOptions{}))
	check(t, l.Close())
	return client, server
}

func recvText(t *testing.T, s *sockmgr.Socket, n int) string {
	t.Helper()
	r, err := s.Recv(ctxT(t), sockmgr.RecvOptions{MaxBytes: n, WaitAll: true, Timeout: dur(10 * time.Second)})
	check(t, err)
	return string(r.Data)
}

// python runs a Python script as a peer that sockmgr did not create. The
// script talks on stdout one line at a time; lines() yields them.
type python struct {
	cmd   *exec.Cmd
	lines *bufio.Scanner
}

func startPython(t *testing.T, script string, args ...string) *python {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatalf("python3 is needed as a test peer: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, "python3", append([]string{"-u", "-c", script}, args...)...)
	cmd.Stderr = &testWriter{t: t, prefix: "python: "}
	out, err := cmd.StdoutPipe()
	check(t, err)
	check(t, cmd.Start())
	p := &python{cmd: cmd, lines: bufio.NewScanner(out)}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	return p
}

// line returns the script's next stdout line.
func (p *python) line(t *testing.T) string {
	t.Helper()
	if !p.lines.Scan() {
		t.Fatalf("python peer ended early: %v", p.lines.Err())
	}
	return strings.TrimSpace(p.lines.Text())
}

// wait waits for the script to exit successfully.
func (p *python) wait(t *testing.T) {
	t.Helper()
	for p.lines.Scan() {
		t.Logf("python: %s", p.lines.Text())
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("python peer failed: %v", err)
	}
}

type testWriter struct {
	t      *testing.T
	prefix string
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(w.prefix + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
