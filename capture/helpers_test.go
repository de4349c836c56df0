package capture_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockd/sockd/capture"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// needTool returns the path of a tool the test drives, skipping the test
// with a one-line reason when it is missing, and failing instead when
// CI=true or SOCKD_TEST_ALL=1.
func needTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" || os.Getenv("SOCKD_TEST_ALL") == "1" {
		t.Fatalf("%s is required (CI=true or SOCKD_TEST_ALL=1): %v", name, err)
	}
	t.Skipf("%s not installed (apt-get install -y %s)", name, name)
	return ""
}

// tshark runs tshark with args and returns its standard output; a failure
// (or anything on standard error but the root warning) fails the test.
func tshark(t testing.TB, args ...string) string {
	t.Helper()
	path := needTool(t, "tshark")
	cmd := exec.Command(path, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if line != "" && !strings.Contains(line, "Running as user \"root\"") {
			t.Fatalf("tshark %s wrote to stderr: %s", strings.Join(args, " "), stderr.String())
		}
	}
	return stdout.String()
}

// writeFile writes the export of rings to a file in the test's directory.
func writeFile(t testing.TB, name string, rings ...*capture.Ring) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	var buf bytes.Buffer
	if err := capture.WritePcapng(&buf, rings...); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func addrPort(t testing.TB, a net.Addr) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// recordingConn is a real TCP connection whose every read and write, end
// of file, half-close and close are recorded into a ring — what sockmgr's
// hook will do on its data path.
type recordingConn struct {
	*net.TCPConn
	ring *capture.Ring
}

func (c *recordingConn) Read(b []byte) (int, error) {
	n, err := c.TCPConn.Read(b)
	if n > 0 {
		c.ring.Received(time.Now(), b[:n], netip.AddrPort{})
	}
	if errors.Is(err, io.EOF) {
		c.ring.PeerClosed(time.Now())
	}
	return n, err
}

func (c *recordingConn) Write(b []byte) (int, error) {
	n, err := c.TCPConn.Write(b)
	if n > 0 {
		c.ring.Sent(time.Now(), b[:n], netip.AddrPort{})
	}
	return n, err
}

func (c *recordingConn) CloseWrite() error {
	err := c.TCPConn.CloseWrite()
	c.ring.ShutdownWrite(time.Now())
	return err
}

func (c *recordingConn) Close() error {
	err := c.TCPConn.Close()
	c.ring.Closed(time.Now())
	return err
}

// tcpPair returns a connected pair of real loopback TCP connections on
// network ("tcp4" or "tcp6"), each recording into its own ring: the
// client's ring sees Connected, the server's Accepted.
func tcpPair(t testing.TB, network string, ringBytes int64, budget *capture.Budget) (client, server *recordingConn) {
	t.Helper()
	host := "127.0.0.1"
	if network == "tcp6" {
		host = "[::1]"
	}
	ln, err := net.Listen(network, host+":0")
	if err != nil {
		if network == "tcp6" {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	cc, err := net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, ok := <-accepted
	if !ok {
		cc.Close()
		t.Fatal("accept failed")
	}
	family := capture.IPv4
	if network == "tcp6" {
		family = capture.IPv6
	}
	cl, cr := addrPort(t, cc.LocalAddr()), addrPort(t, cc.RemoteAddr())
	sl, sr := addrPort(t, sc.LocalAddr()), addrPort(t, sc.RemoteAddr())
	cring := capture.NewRing(capture.Meta{SocketID: "client" + network, Protocol: capture.TCP, Family: family}, ringBytes, budget)
	sring := capture.NewRing(capture.Meta{SocketID: "server" + network, Protocol: capture.TCP, Family: family,
		Labels: map[string]string{"role": "server"}}, ringBytes, budget)
	cring.Connected(time.Now(), cl, cr)
	sring.Accepted(time.Now(), sl, sr)
	client = &recordingConn{TCPConn: cc.(*net.TCPConn), ring: cring}
	server = &recordingConn{TCPConn: sc.(*net.TCPConn), ring: sring}
	t.Cleanup(func() {
		cc.Close()
		sc.Close()
		cring.Release()
		sring.Release()
	})
	return client, server
}
