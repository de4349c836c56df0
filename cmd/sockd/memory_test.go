package main

import (
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"
)

func TestNudgeDue(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		name      string
		last, now heapState
		want      bool
	}{
		{"quiet, much held beyond live", heapState{allocated: 100 * mb}, heapState{allocated: 101 * mb, live: 10 * mb, held: 25 * mb}, true},
		{"quiet, little held beyond live", heapState{allocated: 100 * mb}, heapState{allocated: 101 * mb, live: 10 * mb, held: 17 * mb}, false},
		{"busy", heapState{allocated: 100 * mb}, heapState{allocated: 140 * mb, live: 10 * mb, held: 40 * mb}, false},
	} {
		if got := nudgeDue(c.last, c.now); got != c.want {
			t.Errorf("%s: nudgeDue = %v, want %v", c.name, got, c.want)
		}
	}
}

// After a burst of garbage, a quiet process gets its memory back within a
// few looks, even when a collection ran in between (as a heap profile
// with gc=1 forces).
func TestMemoryNudgeReturnsABurstsMemory(t *testing.T) {
	held := func() uint64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapSys - ms.HeapReleased
	}
	var keep [][]byte
	for range 64 {
		keep = append(keep, make([]byte, 1<<20))
	}
	keep = nil
	runtime.GC() // the forced collection: it frees the burst, returns little
	before := held()
	stop := startMemoryNudge(slog.New(slog.NewTextHandler(io.Discard, nil)), 20*time.Millisecond)
	defer stop()
	deadline := time.Now().Add(10 * time.Second)
	for held() > before-32<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("still holding %d bytes (held %d after the collection)", held(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = keep
}
