package main

import (
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Memory comes back after a burst (many watchers, big calls, thousands of
// sockets opened at once): once the burst is over little allocates, so few
// collections run, and Go's scavenger keeps what the heap grew to (up to
// about its goal, twice the live heap) resident. Every memoryNudgeEvery, if
// sockd allocated less than memoryNudgeSlack since the last look (it is
// quiet) and holds more than memoryNudgeSlack beyond the live heap, sockd
// collects and returns the freed memory at once. Quiet is judged by what
// was allocated, not by whether a collection ran, so that a collection
// someone forced (a heap profile with gc=1) does not count as work. A busy
// sockd is left alone: its memory is in use, and the runtime paces it.
const (
	memoryNudgeEvery = 5 * time.Second
	memoryNudgeSlack = 8 << 20
)

// heapState is what the nudger reads at each look.
type heapState struct {
	allocated uint64 // bytes allocated since the start
	live      uint64 // the live heap at the last collection
	held      uint64 // heap memory resident (obtained, not returned)
}

// nudgeDue says whether to return memory now, given the state at the last
// look and now.
func nudgeDue(last, now heapState) bool {
	return now.allocated-last.allocated < memoryNudgeSlack && now.held > now.live+memoryNudgeSlack
}

func readHeapState(samples []metrics.Sample) heapState {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	metrics.Read(samples)
	return heapState{allocated: samples[0].Value.Uint64(), live: samples[1].Value.Uint64(), held: ms.HeapSys - ms.HeapReleased}
}

// startMemoryNudge starts the nudger, looking every so often; the returned
// function stops it.
func startMemoryNudge(log *slog.Logger, every time.Duration) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		samples := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/live:bytes"}}
		last := readHeapState(samples)
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			now := readHeapState(samples)
			if nudgeDue(last, now) {
				debug.FreeOSMemory()
				after := readHeapState(samples)
				log.Debug("returned freed memory to the system", "held", now.held, "live", after.live, "now held", after.held)
				now = after
			}
			last = now
		}
	}()
	return func() { close(done); <-finished }
}
