package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the kernel's USER_HZ, the unit of /proc/PID/stat's times
// (100 on every Linux this runs on).
const clockTick = 100

// cpuTime is the CPU time (user + system) a process has used so far, from
// /proc/PID/stat, to the kernel's 10 ms tick. pid 0 is this process.
func cpuTime(pid int) (time.Duration, error) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: the
	// fields that follow start after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: no command name", path)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: %d fields", path, len(f))
	}
	// f[0] is field 3 (state): utime is field 14, stime 15.
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTick, nil
}

// machineBusy is the CPU time the whole machine has spent busy (every
// state of /proc/stat's first line but idle and iowait), over all cores.
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: %q", line)
	}
	var ticks int64
	// user nice system idle iowait irq softirq steal: all but idle and
	// iowait (guest time is counted in user already).
	for i, v := range f[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTick, nil
}

// cpuMeter says how much CPU some processes, and the whole machine, used
// between its start and each reading.
type cpuMeter struct {
	pids    []int
	start   []time.Duration
	machine time.Duration
	t0      time.Time
}

func startCPU(pids ...int) *cpuMeter {
	m := &cpuMeter{pids: pids, t0: time.Now()}
	for _, p := range pids {
		t, _ := cpuTime(p)
		m.start = append(m.start, t)
	}
	m.machine, _ = machineBusy()
	return m
}

// machineCores is how many cores the whole machine kept busy since the
// start (2 = both cores of this machine all the time), whoever used them.
func (m *cpuMeter) machineCores() float64 {
	t, err := machineBusy()
	wall := time.Since(m.t0).Seconds()
	if err != nil || wall <= 0 {
		return 0
	}
	return (t - m.machine).Seconds() / wall
}

// cores is each process's CPU use since the start, in cores (1 = one core
// busy all the time).
func (m *cpuMeter) cores() []float64 {
	wall := time.Since(m.t0).Seconds()
	out := make([]float64, len(m.pids))
	for i, p := range m.pids {
		if t, err := cpuTime(p); err == nil && wall > 0 {
			out[i] = (t - m.start[i]).Seconds() / wall
		}
	}
	return out
}

// loadAverage is /proc/loadavg's three figures, as printed.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
