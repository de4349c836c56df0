package sockmgr_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sockd/sockd/sockmgr"
)

// 200 goroutines each run a whole create-bind-listen-connect-accept-send-
// recv-close cycle on their own sockets at once: no error, and no socket or
// descriptor left behind (newManager checks the descriptors).
func TestConcurrentFullCycles(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	const workers = 200
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := range workers {
		wg.Go(func() {
			if err := fullCycle(m, fmt.Sprintf("worker-%d", i)); err != nil {
				errs <- fmt.Errorf("worker %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := m.Len(); n != 0 {
		t.Fatalf("%d sockets left open", n)
	}
}

func fullCycle(m *sockmgr.Manager, who string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := m.Create(who, sockmgr.CreateOptions{Name: "listener", Labels: map[string]string{"worker": who}})
	if err != nil {
		return err
	}
	defer l.Close()
	if err := l.Bind(ctx, "127.0.0.1:0"); err != nil {
		return err
	}
	if err := l.Listen(8); err != nil {
		return err
	}
	c, err := m.Create(who, sockmgr.CreateOptions{})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Connect(ctx, l.Info().LocalAddr.String(), nil); err != nil {
		return err
	}
	a, err := l.Accept(ctx, sockmgr.AcceptOptions{})
	if err != nil {
		return err
	}
	defer a.Close()
	msg := []byte("hello from " + who)
	// A send and a recv on the same connection run at once.
	var wg sync.WaitGroup
	var sendErr error
	wg.Go(func() { _, sendErr = c.Send(ctx, msg, sockmgr.SendOptions{All: true}) })
	r, err := a.Recv(ctx, sockmgr.RecvOptions{MaxBytes: len(msg), WaitAll: true})
	wg.Wait()
	if err != nil || sendErr != nil {
		return fmt.Errorf("recv %v, send %v", err, sendErr)
	}
	if string(r.Data) != string(msg) {
		return fmt.Errorf("got %q", r.Data)
	}
	if _, err := a.Send(ctx, []byte("bye"), sockmgr.SendOptions{All: true}); err != nil {
		return err
	}
	r, err = c.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 3, WaitAll: true})
	if err != nil || string(r.Data) != "bye" {
		return fmt.Errorf("reply %q, %v", r.Data, err)
	}
	return nil
}

// Many goroutines hammer one socket pair with sends, recvs, options and
// snapshots at once; the race detector watches.
func TestConcurrentCallsOnOneSocket(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	c, s := connectedPair(t, m)
	ctx := ctxT(t)
	const senders, perSender, size = 8, 50, 100
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for range perSender {
				if _, err := c.Send(ctx, make([]byte, size), sockmgr.SendOptions{All: true}); err != nil {
					t.Error(err)
					return
				}
				_ = c.Info()
				_, _ = c.GetOption("SO_SNDBUF")
			}
		})
	}
	total := 0
	for total < senders*perSender*size {
		r, err := s.Recv(ctx, sockmgr.RecvOptions{MaxBytes: 4096, Timeout: dur(10 * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		total += len(r.Data)
	}
	wg.Wait()
	if got := c.Info().Counters.BytesSent; got != senders*perSender*size {
		t.Fatalf("sent counter %d", got)
	}
}
