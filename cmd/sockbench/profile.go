package main

import (
	"os"
	"runtime/pprof"
	"sync"
	"time"
)

// profileSelf records this process's CPU profile (the writers, readers and
// sinks of the cases) to path for the first seconds of the run, as -profile
// records sockd's; stop ends it early if the run ends first.
func profileSelf(path string, seconds int) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	var once sync.Once
	end := func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}
	timer := time.AfterFunc(time.Duration(seconds)*time.Second, end)
	return func() { timer.Stop(); end() }, nil
}
