package e2e

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The examples/ folder, run as a newcomer runs it: each of the three
// (Go with package client, shell with sockctl, curl with REST) plays the
// tutorial's echo server for the tutorial's Python client, and its echo
// client for the tutorial's Python server, against a real sockd; the
// Python side says what it saw, and sockd holds no socket afterwards.

// example is one of examples/: how to run it against a daemon.
type example struct {
	name string
	argv func(d *daemon, mode, addr string) []string
	env  func(d *daemon) []string
}

func examples(t *testing.T) []example {
	t.Helper()
	goBin := filepath.Join(t.TempDir(), "tutorial")
	build := exec.Command("go", "build", "-o", goBin, "./examples/go")
	build.Dir = repoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/go: %v\n%s", err, out)
	}
	script := func(dir string) func(*daemon, string, string) []string {
		return func(_ *daemon, mode, addr string) []string {
			return []string{filepath.Join(repoRoot(), "examples", dir, "tutorial.sh"), mode, addr}
		}
	}
	return []example{
		{"go", func(d *daemon, mode, addr string) []string { return []string{goBin, "-sockd", d.GRPC, mode, addr} }, nil},
		{"shell", script("shell"), func(d *daemon) []string { return []string{"SOCKD_ADDR=" + d.GRPC} }},
		{"curl", script("curl"), func(d *daemon) []string { return []string{"SOCKD_HTTP=" + d.HTTP} }},
	}
}

// command is an example's process, bounded in time; the caller starts it.
func (e example) command(t *testing.T, d *daemon, mode, addr string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	argv := e.argv(d, mode, addr)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = repoRoot()
	cmd.Env = os.Environ()
	if e.env != nil {
		cmd.Env = append(cmd.Env, e.env(d)...)
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func TestExamples(t *testing.T) {
	needCommand(t, "curl", "apt-get install curl")
	needCommand(t, "python3", "apt-get install python3")
	peers := filepath.Join(repoRoot(), "examples", "python")
	readPeer := func(name string) string {
		b, err := os.ReadFile(filepath.Join(peers, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	echoServer, echoClient := readPeer("echo-server.py"), readPeer("echo-client.py")

	for _, e := range examples(t) {
		t.Run(e.name+"/server", func(t *testing.T) {
			d := startSockd(t)
			port := freePort(t)
			cmd := e.command(t, d, "server", "127.0.0.1:"+port)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr syncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewScanner(stdout)
			if !lines.Scan() || lines.Text() != "Listening on 127.0.0.1:"+port {
				t.Fatalf("the example's first line is %q (want Listening on ...); stderr:\n%s", lines.Text(), stderr.String())
			}
			py := startPython(t, echoClient, port)
			if got := py.line(t); got != "Received b'Hello, world'" {
				t.Errorf("the tutorial's client printed %q", got)
			}
			py.wait(t)
			rest, _ := io.ReadAll(stdout)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("the example failed: %v\n%s%s", err, rest, stderr.String())
			}
			if !strings.Contains(string(rest), "127.0.0.1:") {
				t.Errorf("the example does not say who connected:\n%s", rest)
			}
			noSocketsLeft(t, d)
		})
		t.Run(e.name+"/client", func(t *testing.T) {
			d := startSockd(t)
			py := startPython(t, echoServer, freePort(t))
			listening := py.line(t)
			addr := strings.TrimPrefix(listening, "Listening on ")
			out, err := e.command(t, d, "client", addr).CombinedOutput()
			if err != nil {
				t.Fatalf("the example failed: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "Received") || !strings.Contains(string(out), "Hello, world") {
				t.Errorf("the example printed:\n%s", out)
			}
			if got := py.line(t); !strings.HasPrefix(got, "Connected by ('127.0.0.1', ") {
				t.Errorf("the tutorial's server printed %q", got)
			}
			if got := py.line(t); got != "Echoing b'Hello, world'" {
				t.Errorf("the tutorial's server printed %q", got)
			}
			py.wait(t) // the example closed: the server read EOF and ended
			noSocketsLeft(t, d)
		})
	}
}

// The examples fail as scripts should: a refused connection, an unknown
// mode or no sockd at all end them with a non-zero status and a message,
// and the shell ones parse and run under set -euo pipefail.
func TestExamplesFail(t *testing.T) {
	needCommand(t, "curl", "apt-get install curl")
	bash := needCommand(t, "bash", "apt-get install bash")
	for _, dir := range []string{"shell", "curl"} {
		file := filepath.Join(repoRoot(), "examples", dir, "tutorial.sh")
		if r := run(t, nil, bash, "-n", file); r.code != 0 {
			t.Errorf("bash -n %s: %s", file, r.stderr)
		}
		text, _ := os.ReadFile(file)
		if !strings.Contains(string(text), "\nset -euo pipefail\n") {
			t.Errorf("%s does not set -euo pipefail", file)
		}
	}

	d := startSockd(t)
	refused := "127.0.0.1:" + freePort(t)
	gone := &daemon{GRPC: "127.0.0.1:" + freePort(t), HTTP: "127.0.0.1:" + freePort(t)}
	for _, e := range examples(t) {
		for _, tc := range []struct {
			what string
			d    *daemon
			mode string
			code int    // 0: any non-zero status
			want string // in the output
		}{
			{"a refused connection", d, "client", 0, "refused"},
			{"an unknown mode", d, "both", 2, "usage"},
			{"no sockd", gone, "client", 0, ""},
		} {
			out, err := e.command(t, tc.d, tc.mode, refused).CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			switch {
			case !ok:
				t.Errorf("%s with %s: %v (want a non-zero exit)\n%s", e.name, tc.what, err, out)
			case tc.code != 0 && ee.ExitCode() != tc.code:
				t.Errorf("%s with %s: exit %d, want %d\n%s", e.name, tc.what, ee.ExitCode(), tc.code, out)
			case !strings.Contains(strings.ToLower(string(out)), tc.want):
				t.Errorf("%s with %s: the output lacks %q:\n%s", e.name, tc.what, tc.want, out)
			case tc.d == gone && len(strings.TrimSpace(string(out))) == 0:
				t.Errorf("%s with no sockd: no message", e.name)
			}
		}
	}
	noSocketsLeft(t, d)
}

// noSocketsLeft: the example closed what it opened.
func noSocketsLeft(t *testing.T, d *daemon) {
	t.Helper()
	waitFor(t, "sockd to hold no socket", func() bool {
		return strings.Count(strings.TrimSpace(sockctlOK(t, d, "ls")), "\n") == 0
	})
}
