package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// 50 clients, each with its own connection, run the whole TCP cycle on their
// own sockets at once: zero errors, and the daemon's descriptor count comes
// back to where it started.
func TestFiftyConcurrentClients(t *testing.T) {
	d := startSockd(t)
	warm := d.client(t) // one connection to settle the daemon's own descriptors
	if _, err := warm.ListSockets(context.Background(), &sockdv1.ListSocketsRequest{}); err != nil {
		t.Fatal(err)
	}
	before := d.fds(t)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			if err := tcpCycle(t, d, i); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	list, err := warm.ListSockets(context.Background(), &sockdv1.ListSocketsRequest{})
	if err != nil || len(list.GetSockets()) != 0 {
		t.Fatalf("sockets left: %v %v", list, err)
	}
	// The clients' connections close asynchronously on the daemon's side.
	waitFor(t, fmt.Sprintf("daemon descriptors back to %d", before), func() bool { return d.fds(t) <= before })
}

func tcpCycle(t *testing.T, d *daemon, i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, closeConn := d.dial(t)
	defer closeConn()
	l, err := c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{Name: fmt.Sprintf("listener-%d", i)})
	if err != nil {
		return err
	}
	if l, err = c.Bind(ctx, &sockdv1.BindRequest{Id: l.GetId(), Address: "127.0.0.1:0"}); err != nil {
		return err
	}
	if _, err = c.Listen(ctx, &sockdv1.ListenRequest{Id: l.GetId()}); err != nil {
		return err
	}
	cl, err := c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{})
	if err != nil {
		return err
	}
	if _, err = c.Connect(ctx, &sockdv1.ConnectRequest{Id: cl.GetId(), Address: l.GetLocalAddress()}); err != nil {
		return err
	}
	a, err := c.Accept(ctx, &sockdv1.AcceptRequest{Id: l.GetId(), Timeout: durationpb.New(20 * time.Second)})
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("message %d", i)
	if _, err = c.Send(ctx, &sockdv1.SendRequest{Id: cl.GetId(), Payload: &sockdv1.SendRequest_Text{Text: msg}, All: true}); err != nil {
		return err
	}
	r, err := c.Recv(ctx, &sockdv1.RecvRequest{Id: a.GetId(), MaxBytes: int32(len(msg)), WaitAll: true})
	if err != nil {
		return err
	}
	if string(r.GetData()) != msg {
		return fmt.Errorf("got %q", r.GetData())
	}
	for _, id := range []string{a.GetId(), cl.GetId(), l.GetId()} {
		if _, err := c.CloseSocket(ctx, &sockdv1.CloseSocketRequest{Id: id}); err != nil {
			return err
		}
	}
	return nil
}

// SIGTERM with open sockets and an open Attach stream: sockd exits 0 within a
// few seconds, the stream ends, and the ports it held are free again.
func TestSIGTERMWithOpenSocketsAndAttach(t *testing.T) {
	d := startSockd(t)
	c := d.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// SO_REUSEADDR, as any server that expects restarts sets it: the port
	// check below binds again while the closed connection sits in TIME_WAIT.
	l, err := c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{
		Options: []*sockdv1.SocketOption{{Option: "SO_REUSEADDR", Value: 1}}, BindAddress: "127.0.0.1:0", Listen: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{ConnectAddress: l.GetLocalAddress()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Accept(ctx, &sockdv1.AcceptRequest{Id: l.GetId()}); err != nil {
		t.Fatal(err)
	}
	u, err := c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{Protocol: sockdv1.Protocol_PROTOCOL_UDP, BindAddress: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := c.Attach(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stream.Send(&sockdv1.AttachRequest{Msg: &sockdv1.AttachRequest_Open{Open: &sockdv1.AttachOpen{Id: cl.GetId()}}})
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	streamDone := make(chan error, 1)
	go func() {
		for {
			if _, err := stream.Recv(); err != nil {
				streamDone <- err
				return
			}
		}
	}()
	// And a blocked Recv with no timeout, which only closing its socket ends.
	u2, _ := c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{Protocol: sockdv1.Protocol_PROTOCOL_UDP, BindAddress: "127.0.0.1:0"})
	go c.Recv(ctx, &sockdv1.RecvRequest{Id: u2.GetId(), MaxBytes: 10})

	took := d.stop(t)
	if d.exitErr != nil {
		t.Fatalf("sockd exit: %v\n%s", d.exitErr, d.logs.String())
	}
	if took > 8*time.Second {
		t.Fatalf("sockd took %v to stop", took)
	}
	// Its last words say it shut down and then stopped, in that order.
	logs := strings.Split(strings.TrimSpace(d.logs.String()), "\n")
	down := slices.IndexFunc(logs, func(l string) bool { return strings.Contains(l, `"msg":"shutting down"`) })
	if down < 0 || !strings.Contains(logs[len(logs)-1], `"msg":"stopped"`) {
		t.Fatalf("sockd's log does not say shutting down, then end with stopped:\n%s", d.logs.String())
	}
	select {
	case err := <-streamDone:
		if err == io.EOF {
			t.Log("attach stream ended cleanly")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the Attach stream did not end")
	}
	// Every port sockd held is free: bind them again.
	for _, addr := range []string{l.GetLocalAddress(), d.GRPC, d.HTTP} {
		ln, err := net.Listen("tcp4", addr)
		if err != nil {
			t.Fatalf("%s still taken after exit: %v", addr, err)
		}
		ln.Close()
	}
	pc, err := net.ListenPacket("udp4", u.GetLocalAddress())
	if err != nil {
		t.Fatalf("UDP %s still taken: %v", u.GetLocalAddress(), err)
	}
	pc.Close()
}

// Flags come from SOCKD_* variables too; a non-loopback address without
// authentication is refused with the reason.
func TestSockdEnvAndLoopbackDefault(t *testing.T) {
	d := startSockd(t, "--http-addr", "") // the command line says: no HTTP
	if d.HTTP != "" {
		t.Fatalf("--http-addr \"\" still served HTTP on %s", d.HTTP)
	}
	cmd := exec.Command(filepath.Join(binDir, "sockd"), "--grpc-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "SOCKD_HTTP_ADDR=0.0.0.0:0")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refusing to listen on --http-addr 0.0.0.0:0 without TLS") {
		t.Fatalf("sockd on 0.0.0.0 without auth: %v\n%s", err, out)
	}
	cmd = exec.Command(filepath.Join(binDir, "sockd"), "--grpc-addr", "127.0.0.1:0", "--log-format", "yaml")
	out, err = cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "--log-format") {
		t.Fatalf("bad flag value: %v\n%s", err, out)
	}
}
