package sockmgr

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Close waits for the uses in progress, and no use starts after it began.
func TestFDGuardCloseWaitsForUses(t *testing.T) {
	var g fdGuard
	if !g.acquire() {
		t.Fatal("a fresh guard refused a use")
	}
	var closed atomic.Bool
	done := make(chan struct{})
	go func() {
		g.close()
		closed.Store(true)
		close(done)
	}()
	// close has begun once new uses are refused.
	deadline := time.Now().Add(5 * time.Second)
	for g.acquire() {
		g.release()
		if time.Now().After(deadline) {
			t.Fatal("close never began")
		}
		time.Sleep(time.Millisecond)
	}
	if closed.Load() {
		t.Fatal("close returned while a use was in progress")
	}
	g.release()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("close did not return after the last use ended")
	}
	if g.acquire() {
		t.Fatal("a use was granted after close")
	}
}

// Many users and one closer: every granted use ends before close returns.
func TestFDGuardConcurrent(t *testing.T) {
	for range 50 {
		var g fdGuard
		var inUse, afterClose atomic.Int64
		var closed atomic.Bool
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 200 {
					if !g.acquire() {
						return
					}
					inUse.Add(1)
					if closed.Load() {
						afterClose.Add(1)
					}
					inUse.Add(-1)
					g.release()
				}
			})
		}
		wg.Go(func() {
			g.close()
			closed.Store(true)
			if n := inUse.Load(); n != 0 {
				t.Errorf("close returned with %d uses in progress", n)
			}
		})
		wg.Wait()
		if n := afterClose.Load(); n != 0 {
			t.Fatalf("%d uses saw the guard closed while holding it", n)
		}
	}
}
