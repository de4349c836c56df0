package main

import (
	"log/slog"
	"runtime"
	"runtime/debug"
	"time"
)

// Memory comes back after a burst (many watchers, big calls): Go's
// scavenger returns freed heap to the system only gradually, so every
// memoryNudgeEvery sockd looks at how much freed heap it still holds and,
// past memoryNudgeIdle, hands it back at once.
const (
	memoryNudgeEvery = 10 * time.Second
	memoryNudgeIdle  = 64 << 20
)

// startMemoryNudge starts the nudger; the returned function stops it.
func startMemoryNudge(log *slog.Logger) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(memoryNudgeEvery)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			runtime.ReadMemStats(&ms)
			if held := ms.HeapIdle - ms.HeapReleased; held > memoryNudgeIdle {
				debug.FreeOSMemory()
				log.Debug("returned freed memory to the system", "bytes", held)
			}
		}
	}()
	return func() { close(done); <-finished }
}
