package client

import (
	"errors"
	"net"
	"sync"
	"testing"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// Two Closes at once (a signal handler's and a defer's): whichever returns
// second returns only once the socket is closed on sockd, and says
// net.ErrClosed; the other returns nil.
func TestListenerCloseTwiceWaits(t *testing.T) {
	d := startDaemon(t, daemonConfig{})
	c := dial(t, d.addr)
	ctx := ctxT(t)
	for range 20 {
		l, err := c.ListenTCP(ctx, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		id := l.Socket().GetId()
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Go(func() {
				errs[i] = l.Close()
				if s, err := c.Get(ctx, id); !errors.Is(err, ErrSocketNotFound) && s.GetState() != sockdv1.State_STATE_CLOSED {
					t.Errorf("Close returned with the socket still %v (%v)", s.GetState(), err)
				}
			})
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) || !errors.Is(errors.Join(errs...), net.ErrClosed) {
			t.Fatalf("the two Closes returned %v", errs)
		}
	}
}
