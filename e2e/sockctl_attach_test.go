package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// seededFile writes n seeded random bytes to a file of the test's.
func seededFile(t *testing.T, n int, seed int64) (string, []byte) {
	t.Helper()
	data := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(data)
	path := filepath.Join(t.TempDir(), "in.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// ncat runs ncat with stdin from /dev/null (it sends FIN at once and goes
// on reading) and its output into a file; wait returns what it read.
func ncat(t *testing.T, args ...string) (wait func() []byte) {
	t.Helper()
	if _, err := exec.LookPath("ncat"); err != nil {
		t.Fatalf("ncat (apt-get install ncat) is needed as a half-closing peer: %v", err)
	}
	out := filepath.Join(t.TempDir(), "ncat.out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, "ncat", args...)
	null, _ := os.Open(os.DevNull)
	cmd.Stdin, cmd.Stdout = null, f
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait(); f.Close(); null.Close() })
	return func() []byte {
		t.Helper()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("ncat %v: %v\n%s", args, err, stderr.String())
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// waitListening waits until something listens on 127.0.0.1:port (asked of
// the kernel: a test connection would use up a one-connection peer).
func waitListening(t *testing.T, port string) {
	t.Helper()
	waitFor(t, "a listener on port "+port, func() bool {
		r := run(t, nil, "ss", "-ltnH", "sport", "=", ":"+port)
		return strings.TrimSpace(r.stdout) != ""
	})
}

// attachFile runs `sockctl attach ID < file` and returns its result.
func attachFile(t *testing.T, d *daemon, id, file string) result {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return sockctl(t, d, f, "attach", id)
}

// A peer that half-closes at once and goes on reading (ncat < /dev/null)
// gets all of sockctl attach's input, whichever side connected: its EOF ends
// only the receiving direction.
func TestSockctlAttachPeerHalfClosesAtOnce(t *testing.T) {
	const n = 5 << 20
	d := startSockd(t)
	file, data := seededFile(t, n, 31)
	want := sha256.Sum256(data)

	t.Run("ncat listens", func(t *testing.T) {
		port := freePort(t)
		wait := ncat(t, "-l", "127.0.0.1", port)
		waitListening(t, port)
		id := lastLine(sockctlOK(t, d, "connect", "tcp", "127.0.0.1:"+port))
		r := attachFile(t, d, id, file)
		if r.code != 0 || r.stdout != "" {
			t.Fatalf("sockctl attach: exit %d, %d bytes out\n%s", r.code, len(r.stdout), r.stderr)
		}
		if got := wait(); sha256.Sum256(got) != want {
			t.Fatalf("ncat received %d of %d bytes", len(got), n)
		}
	})

	t.Run("ncat connects", func(t *testing.T) {
		l := lastLine(sockctlOK(t, d, "listen", "tcp", "127.0.0.1:0"))
		addr := jsonField(t, sockctlOK(t, d, "inspect", l, "-o", "json"), "localAddress")
		host, port, _ := net.SplitHostPort(addr)
		wait := ncat(t, host, port)
		id := lastLine(sockctlOK(t, d, "accept", l, "--timeout", "20s"))
		r := attachFile(t, d, id, file)
		if r.code != 0 || r.stdout != "" {
			t.Fatalf("sockctl attach: exit %d, %d bytes out\n%s", r.code, len(r.stdout), r.stderr)
		}
		if got := wait(); sha256.Sum256(got) != want {
			t.Fatalf("ncat received %d of %d bytes", len(got), n)
		}
	})
}

// A peer that resets the connection while input still flows: sockctl attach
// says so and exits with FAILED_PRECONDITION's code.
func TestSockctlAttachPeerResets(t *testing.T) {
	d := startSockd(t)
	py := startPython(t, `
import socket, struct, time
with socket.create_server(("127.0.0.1", 0)) as s:
    print(s.getsockname()[1])
    conn, _ = s.accept()
    conn.recv(1)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
print("reset")
`)
	id := lastLine(sockctlOK(t, d, "connect", "tcp", "127.0.0.1:"+py.line(t)))
	// Input that never ends: only the reset ends attach.
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		buf := bytes.Repeat([]byte("x"), 4096)
		for {
			if _, err := pw.Write(buf); err != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	r := sockctl(t, d, pr, "attach", id)
	// The reset reaches a read (ECONNRESET) or a write after it (EPIPE),
	// whichever comes first.
	reset := strings.Contains(r.stderr, "(ECONNRESET)") || strings.Contains(r.stderr, "(EPIPE)")
	if r.code != 19 || !reset || !strings.HasPrefix(r.stderr, "sockctl: ") {
		t.Fatalf("attach to a peer that resets: exit %d, %q", r.code, r.stderr)
	}
	if py.line(t) != "reset" {
		t.Fatal("the peer did not reset")
	}
}

// sockctl attach killed mid-transfer loses nothing it was streamed: a second
// attach from the offset of the first byte not written out (the size of the
// output, for a connection attach read from the start) gets the rest, and
// the two outputs are the peer's bytes exactly. Ctrl-C says the offset.
func TestSockctlAttachKilledThenResumed(t *testing.T) {
	const n = 64 << 20
	d := startSockd(t)
	py := startPython(t, `
import socket, sys, random
n = int(sys.argv[1])
data = random.Random(5).randbytes(n)
with socket.create_server(("127.0.0.1", 0)) as s:
    print(s.getsockname()[1], flush=True)
    conn, _ = s.accept()
    with conn:
        for i in range(0, n, 65536):
            conn.sendall(data[i:i + 65536])
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(65536):
            pass
print("sent")
`, strconv.Itoa(n))
	id := lastLine(sockctlOK(t, d, "connect", "tcp", "127.0.0.1:"+py.line(t)))
	dir := t.TempDir()
	attach := func(out string, args ...string) *exec.Cmd {
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		pr, pw, err := os.Pipe() // input that stays open
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pr.Close(); pw.Close() })
		cmd := exec.Command(filepath.Join(binDir, "sockctl"), append([]string{"--addr", d.GRPC, "attach", id}, args...)...)
		cmd.Stdin, cmd.Stdout = pr, f
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	size := func(path string) int64 {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	// The first is killed (SIGKILL: no chance to tidy up) a good way in.
	first := filepath.Join(dir, "1")
	cmd := attach(first)
	waitFor(t, "the first attach to receive 8 MiB", func() bool { return size(first) >= 8<<20 })
	cmd.Process.Kill()
	cmd.Wait()
	got1 := size(first)

	// The second is stopped with SIGINT, and says where it stood.
	second := filepath.Join(dir, "2")
	cmd = attach(second, "--recv-offset", strconv.FormatInt(got1, 10))
	waitFor(t, "the second attach to receive 8 MiB", func() bool { return size(second) >= 8<<20 })
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("attach after SIGINT: %v", err)
	}
	hint := cmd.Stderr.(*syncBuffer).String()
	m := regexp.MustCompile(`--recv-offset (\d+)`).FindStringSubmatch(hint)
	if m == nil {
		t.Fatalf("no resume offset on SIGINT: %q", hint)
	}
	if at, _ := strconv.ParseInt(m[1], 10, 64); at != got1+size(second) {
		t.Fatalf("SIGINT says offset %d; the outputs hold %d + %d bytes", at, got1, size(second))
	}

	third := filepath.Join(dir, "3")
	f, err := os.Create(third)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	last := exec.Command(filepath.Join(binDir, "sockctl"), "--addr", d.GRPC, "attach", id, "--recv-offset", m[1])
	var lastErr bytes.Buffer
	last.Stdin, last.Stdout, last.Stderr = strings.NewReader(""), f, &lastErr
	if err := last.Run(); err != nil {
		t.Fatalf("the last attach: %v\n%s", err, lastErr.String())
	}
	var all []byte
	for _, p := range []string{first, second, third} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	want := make([]byte, n)
	copy(want, pythonRandbytes(t, 5, n))
	if sha256.Sum256(all) != sha256.Sum256(want) {
		t.Fatalf("three attachments wrote %d bytes (%d + %d + %d); the peer sent %d", len(all), got1, size(second), size(third), n)
	}
	if py.line(t) != "sent" {
		t.Fatal("peer did not finish")
	}
}

// pythonRandbytes is what random.Random(seed).randbytes(n) makes.
func pythonRandbytes(t *testing.T, seed, n int) []byte {
	t.Helper()
	out, err := exec.Command("python3", "-c", "import random, sys; sys.stdout.buffer.write(random.Random(int(sys.argv[1])).randbytes(int(sys.argv[2])))", strconv.Itoa(seed), strconv.Itoa(n)).Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}
