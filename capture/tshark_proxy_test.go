package capture_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/capture"
)

// relay copies src to dst through their recording Read and Write (not
// io.Copy, whose ReadFrom would bypass the recording), then half-closes dst.
func relay(dst, src *recordingConn, done chan<- error) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				done <- werr
				return
			}
		}
		if err == io.EOF {
			done <- dst.CloseWrite()
			return
		}
		if err != nil {
			done <- err
			return
		}
	}
}

// TestTsharkProxyBothLegs records a proxy's two legs — the accepted
// downstream socket and the upstream socket it dialled — between a plain
// client and an echo server, and exports both in one file: tshark sees two
// conversations, each with exactly the bytes that moved, and flags nothing.
func TestTsharkProxyBothLegs(t *testing.T) {
	needTool(t, "tshark")
	echo, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	go func() {
		c, err := echo.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	proxy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })

	down := capture.NewRing(capture.Meta{SocketID: "downstream", Protocol: capture.TCP, ParentID: "listener"}, 8<<20, nil)
	up := capture.NewRing(capture.Meta{SocketID: "upstream", Protocol: capture.TCP}, 8<<20, nil)
	t.Cleanup(down.Release)
	t.Cleanup(up.Release)
	relayed := make(chan error, 2)
	go func() {
		c, err := proxy.Accept()
		if err != nil {
			relayed <- err
			relayed <- err
			return
		}
		down.Accepted(time.Now(), addrPort(t, c.LocalAddr()), addrPort(t, c.RemoteAddr()))
		u, err := net.Dial("tcp4", echo.Addr().String())
		if err != nil {
			c.Close()
			relayed <- err
			relayed <- err
			return
		}
		up.Connected(time.Now(), addrPort(t, u.LocalAddr()), addrPort(t, u.RemoteAddr()))
		d := &recordingConn{TCPConn: c.(*net.TCPConn), ring: down}
		uc := &recordingConn{TCPConn: u.(*net.TCPConn), ring: up}
		inner := make(chan error, 2)
		go relay(uc, d, inner)
		go relay(d, uc, inner)
		e1, e2 := <-inner, <-inner
		d.Close()
		uc.Close()
		relayed <- e1
		relayed <- e2
	}()

	client, err := net.Dial("tcp4", proxy.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	payload := bytes.Repeat([]byte("through the proxy "), 20000)
	go func() {
		client.Write(payload)
		client.(*net.TCPConn).CloseWrite()
	}()
	echoed, err := io.ReadAll(client)
	if err != nil || !bytes.Equal(echoed, payload) {
		t.Fatalf("client read %d bytes back (%v), want the %d sent", len(echoed), err, len(payload))
	}
	for i := 0; i < 2; i++ {
		if err := <-relayed; err != nil {
			t.Fatal(err)
		}
	}

	file := writeFile(t, "proxy.pcapng", down, up)
	if flags := analysisFlags(t, file); flags != "" {
		t.Errorf("tshark flags frames:\n%s", flags)
	}
	streams := fields(t, file, "tcp.flags.syn == 1 && tcp.flags.ack == 0", "tcp.stream", "frame.interface_name", "tcp.srcport")
	if len(streams) != 2 || streams[0][1] != "downstream" || streams[1][1] != "upstream" {
		t.Fatalf("SYNs %q: want one per leg, downstream then upstream", streams)
	}
	clientAddr := client.LocalAddr().String()
	upAddr := up.Meta().Local.String()
	for i, leg := range []string{clientAddr, upAddr} {
		sent, back := followSides(t, file, "tcp", i, leg)
		if sum(sent) != sum(payload) || sum(back) != sum(payload) {
			t.Errorf("stream %d: tshark follows %s from %s and %s back; want %s both ways", i, sum(sent), leg, sum(back), sum(payload))
		}
	}
}

// TestTsharkBothEndsOnce exports both ends of one connection (two sockd
// sockets talking to each other): tshark cannot tell their frames apart
// (same addresses and ports), so the export writes the connection once.
func TestTsharkBothEndsOnce(t *testing.T) {
	needTool(t, "tshark")
	client, server := tcpPair(t, "tcp4", 8<<20, nil)
	fromClient, fromServer := converse(t, client, server)
	file := writeFile(t, "both.pcapng", client.ring, server.ring)
	if flags := analysisFlags(t, file); flags != "" {
		t.Errorf("tshark flags frames:\n%s", flags)
	}
	perInterface := fields(t, file, "", "frame.interface_name", "tcp.stream")
	for _, row := range perInterface {
		if row[0] != "clienttcp4" || row[1] != "0" {
			t.Fatalf("frame on interface %s stream %s: want all on the first end's interface, one stream", row[0], row[1])
		}
	}
	c, s := followSides(t, file, "tcp", 0, client.LocalAddr().String())
	if sum(c) != sum(fromClient) || sum(s) != sum(fromServer) {
		t.Errorf("tshark follows %s, %s; want %s, %s", sum(c), sum(s), sum(fromClient), sum(fromServer))
	}
}

// TestTsharkReadsLiveFollow pipes a following export into tshark -r - while
// a conversation runs: tshark decodes the frames while the stream is still
// open (what `sockctl capture dump ID -w - --follow | tshark -r -` does),
// and what it saw equals the one-shot export of the same ring.
func TestTsharkReadsLiveFollow(t *testing.T) {
	path := needTool(t, "tshark")
	client, server := tcpPair(t, "tcp4", 8<<20, nil)

	cmd := exec.Command(path, "-r", "-", "-l", "-T", "fields", "-e", "frame.number", "-e", "tcp.flags.str", "-e", "tcp.len")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	e := capture.NewExporter(stdin)
	e.Add(client.ring)
	ctx, cancel := context.WithCancel(context.Background())
	followed := make(chan error, 1)
	go func() { followed <- e.Follow(ctx) }()

	pingPong(t, client, server, 20, 1000, 100)
	closeBoth(t, client, server)
	want := writeFile(t, "oneshot.pcapng", client.ring)
	wantFrames := len(fields(t, want, "", "frame.number"))

	// Every frame reaches tshark while the stream is open.
	var seen []string
	deadline := time.After(20 * time.Second)
	for len(seen) < wantFrames {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("tshark ended after %d of %d frames", len(seen), wantFrames)
			}
			seen = append(seen, line)
		case <-deadline:
			t.Fatalf("tshark decoded %d of %d frames while following", len(seen), wantFrames)
		}
	}
	cancel()
	if err := <-followed; err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	for line := range lines {
		seen = append(seen, line)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tshark: %v", err)
	}
	if len(seen) != wantFrames {
		t.Fatalf("tshark read %d frames live, the one-shot export has %d", len(seen), wantFrames)
	}
	var last []string
	for _, row := range fields(t, want, "", "frame.number", "tcp.flags.str", "tcp.len") {
		last = append(last, strings.Join(row, "\t"))
	}
	for i := range seen {
		if seen[i] != last[i] {
			t.Fatalf("frame %d live: %q, one-shot: %q", i+1, seen[i], last[i])
		}
	}
	if n := e.Frames(); n != int64(wantFrames) {
		t.Errorf("exporter counted %d frames, tshark %d", n, wantFrames)
	}
}
