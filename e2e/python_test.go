package e2e

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// python runs a script with Python's socket module as a peer that sockd did
// not create. The script talks on stdout one line at a time.
type python struct {
	cmd   *exec.Cmd
	lines *bufio.Scanner
	stdin io.WriteCloser
}

func startPython(t *testing.T, script string, args ...string) *python {
	t.Helper()
	needCommand(t, "python3", "apt-get install python3")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	cmd := exec.CommandContext(ctx, "python3", append([]string{"-u", "-c", script}, args...)...)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("python3 is needed as a test peer: %v", err)
	}
	p := &python{cmd: cmd, lines: bufio.NewScanner(out), stdin: in}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() && stderr.String() != "" {
			t.Logf("python stderr:\n%s", stderr.String())
		}
	})
	return p
}

func (p *python) line(t *testing.T) string {
	t.Helper()
	if !p.lines.Scan() {
		t.Fatalf("python peer ended early: %v", p.lines.Err())
	}
	return strings.TrimSpace(p.lines.Text())
}

func (p *python) wait(t *testing.T) {
	t.Helper()
	for p.lines.Scan() {
		t.Logf("python: %s", p.lines.Text())
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("python peer failed: %v", err)
	}
}

// Peers of the socket tutorial.
const (
	// Echo server: prints its port, echoes one connection, prints "done".
	pyEchoServer = `
import socket
with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind(("127.0.0.1", 0))
    s.listen()
    print(s.getsockname()[1])
    conn, addr = s.accept()
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            conn.sendall(data)
print("done")
`
	// Client: sends argv[2] bytes of seeded random data, half-closes, reads
	// the answer until EOF, prints whether it equals what it sent.
	pyEchoClient = `
import socket, sys, random
n = int(sys.argv[2])
payload = random.Random(7).randbytes(n)
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30) as s:
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    got = bytearray()
    while True:
        data = s.recv(65536)
        if not data:
            break
        got += data
print("equal" if bytes(got) == payload else "differ %d %d" % (len(got), n))
`
	// UDP echo server: prints its port, answers argv[1] datagrams in upper
	// case to their sender.
	pyUDPEchoServer = `
import socket, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.bind(("127.0.0.1", 0))
    s.settimeout(30)
    print(s.getsockname()[1])
    for _ in range(int(sys.argv[1])):
        data, addr = s.recvfrom(65536)
        s.sendto(data.upper(), addr)
print("done")
`
	// UDP client: sends "hello udp" to argv[1], prints the answer.
	pyUDPClient = `
import socket, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(30)
    s.sendto(b"hello udp", ("127.0.0.1", int(sys.argv[1])))
    data, addr = s.recvfrom(1024)
    print(data.decode())
`
)

// stdinPipe tells a waiting script to go on: it writes a line to its stdin.
func stdinPipe(t *testing.T, p *python) {
	t.Helper()
	if p.stdin == nil {
		t.Fatal("python peer has no stdin pipe")
	}
	if _, err := p.stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
}
