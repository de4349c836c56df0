package sockmgr_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sockd/sockd/sockmgr"
)

// Calls waiting on a socket when the manager shuts down fail with
// ErrManagerClosed (sockd answers UNAVAILABLE SHUTTING_DOWN); none of them
// sees a fake end of stream.
func TestManagerCloseFailsWaitingCallsWithManagerClosed(t *testing.T) {
	m := sockmgr.New(sockmgr.Config{})
	a, b := connectedPair(t, m)
	_ = a
	var wg sync.WaitGroup
	errs := make([]error, 3)
	results := make([]sockmgr.RecvResult, 3)
	for i := range errs {
		wg.Go(func() {
			results[i], errs[i] = b.Recv(ctxT(t), sockmgr.RecvOptions{MaxBytes: 10})
		})
	}
	waitBusy(t, b)
	check(t, m.Close())
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, sockmgr.ErrManagerClosed) {
			t.Errorf("waiting recv %d: %+v, %v; want ErrManagerClosed", i, results[i], err)
		}
	}
}

// waitBusy waits (bounded) until a call holds one of the socket's turns.
func waitBusy(t *testing.T, s *sockmgr.Socket) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if s.Busy() {
			time.Sleep(20 * time.Millisecond) // let the others queue too
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no call became busy on the socket")
}
