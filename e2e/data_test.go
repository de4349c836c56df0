package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// A Recv that times out, and one whose RPC the client cancels (grpcurl's
// -max-time), then a Recv that gets every byte the peer sent later.
func TestRecvTimeoutAndCancelLoseNothing(t *testing.T) {
	d := startSockd(t)
	py := startPython(t, `
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1])
conn, _ = s.accept()
sys.stdin.readline()          # wait until the test says go
conn.sendall(b"x" * 100000)
conn.close()
print("sent")
`)
	port := py.line(t)
	c := grpcurl(t, d, "CreateSocket", map[string]any{"connect_address": "127.0.0.1:" + port})
	id := str(c, "id")
	if code, reason, _ := grpcurlErr(t, d, "Recv", map[string]any{"id": id, "max_bytes": 1000, "timeout": "0.1s"}); code != 4 || reason != "TIMEOUT" {
		t.Fatalf("recv timeout: %d %s", code, reason)
	}
	// grpcurl gives up after 0.3 s: the RPC is cancelled mid-wait.
	r := grpcurlRaw(t, d, "Recv", map[string]any{"id": id, "max_bytes": 1000}, "-max-time", "0.3")
	if r.code == 0 {
		t.Fatalf("a recv with nothing to read returned: %s", r.stdout)
	}
	// Now the peer sends; every byte arrives, then EOF.
	stdinPipe(t, py)
	if py.line(t) != "sent" {
		t.Fatal("peer did not send")
	}
	total := 0
	for {
		resp := grpcurl(t, d, "Recv", map[string]any{"id": id, "max_bytes": 65536, "timeout": "10s"})
		if resp["eof"] == true {
			break
		}
		data, _ := base64.StdEncoding.DecodeString(str(resp, "data"))
		total += len(data)
	}
	if total != 100000 {
		t.Fatalf("received %d bytes, want 100000", total)
	}
	py.wait(t)
}

// Attach moves 50 MiB each way between a gRPC client and a real peer,
// sha256-equal both ways, and ends when the peer closes.
func TestAttach50MiBEachWay(t *testing.T) {
	const n = 50 << 20
	d := startSockd(t)
	client := d.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	py := startPython(t, `
import socket, sys, hashlib, random, threading
n = int(sys.argv[1])
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1])
conn, _ = s.accept()
out = random.Random(99).randbytes(n)
def send():
    conn.sendall(out)
t = threading.Thread(target=send)
t.start()
h = hashlib.sha256()
got = 0
while True:
    data = conn.recv(1 << 20)
    if not data:
        break
    h.update(data)
    got += len(data)
t.join()
conn.close()
print(got, h.hexdigest(), hashlib.sha256(out).hexdigest())
`, strconv.Itoa(n))
	port := py.line(t)
	sock, err := client.CreateSocket(ctx, &sockdv1.CreateSocketRequest{ConnectAddress: "127.0.0.1:" + port})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := client.Attach(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Open{Open: &sockdv1.AttachOpen{Id: sock.GetId()}}}); err != nil {
		t.Fatal(err)
	}
	if first, err := stream.Recv(); err != nil || first.GetSocket().GetId() != sock.GetId() {
		t.Fatalf("attach open: %v %v", first, err)
	}
	sentSum := make(chan string, 1)
	go func() {
		h := sha256.New()
		rng := rand.New(rand.NewSource(5))
		buf := make([]byte, 64<<10)
		for sent := 0; sent < n; sent += len(buf) {
			rng.Read(buf)
			h.Write(buf)
			if err := stream.Send(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Data{Data: append([]byte(nil), buf...)}}); err != nil {
				t.Errorf("attach send: %v", err)
				break
			}
		}
		stream.CloseSend()
		sentSum <- hex.EncodeToString(h.Sum(nil))
	}()
	h := sha256.New()
	got := 0
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("attach recv after %d bytes: %v", got, err)
		}
		h.Write(m.GetData())
		got += len(m.GetData())
	}
	fields := strings.Fields(py.line(t))
	py.wait(t)
	if len(fields) != 3 {
		t.Fatalf("peer said %v", fields)
	}
	if fields[0] != strconv.Itoa(n) || fields[1] != <-sentSum {
		t.Fatalf("peer received %s bytes with sha %s: not what the client sent", fields[0], fields[1])
	}
	if got != n || hex.EncodeToString(h.Sum(nil)) != fields[2] {
		t.Fatalf("client received %d bytes; sha differs from what the peer sent", got)
	}
	// The socket outlives the stream.
	info, err := client.GetSocket(ctx, &sockdv1.GetSocketRequest{Id: sock.GetId()})
	if err != nil || info.GetBytesSent() != n || info.GetBytesReceived() != n {
		t.Fatalf("after attach: %v %v", info, err)
	}
	if _, err := client.CloseSocket(ctx, &sockdv1.CloseSocketRequest{Id: sock.GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.GetSocket(ctx, &sockdv1.GetSocketRequest{Id: sock.GetId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("after close: %v", err)
	}
}
