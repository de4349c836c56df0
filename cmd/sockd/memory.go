package main

import (
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Memory comes back after a burst (many watchers, big calls): once the
// burst is over nothing allocates, so no garbage collection runs, the
// burst's garbage stays in the heap, and Go's scavenger has nothing to
// return. Every memoryNudgeEvery, if no collection ran since the last look
// (sockd is quiet) and the heap holds more than memoryNudgeSlack beyond
// what was live at the last collection, sockd collects and returns the
// freed memory at once. A busy sockd collects by itself and is left alone.
const (
	memoryNudgeEvery = 10 * time.Second
	memoryNudgeSlack = 8 << 20
)

// startMemoryNudge starts the nudger; the returned function stops it.
func startMemoryNudge(log *slog.Logger) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(memoryNudgeEvery)
		defer t.Stop()
		samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
		var lastCycles uint64
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			metrics.Read(samples)
			live, cycles := samples[0].Value.Uint64(), samples[1].Value.Uint64()
			held := ms.HeapSys - ms.HeapReleased
			if cycles == lastCycles && held > live+memoryNudgeSlack {
				debug.FreeOSMemory()
				metrics.Read(samples)
				log.Debug("returned freed memory to the system", "held", held, "live", samples[0].Value.Uint64())
				cycles = samples[1].Value.Uint64()
			}
			lastCycles = cycles
		}
	}()
	return func() { close(done); <-finished }
}
