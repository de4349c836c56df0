package main

import (
	"os"
	"testing"
	"time"
)

func TestTargetMetRange(t *testing.T) {
	for _, c := range []struct {
		target string
		v      float64
		want   bool
	}{
		{"in [0.95, 1.05]", 1, true},
		{"in [0.95, 1.05]", 0.95, true},
		{"in [0.95, 1.05]", 1.05, true},
		{"in [0.95, 1.05]", 0.949, false},
		{"in [0.95, 1.05]", 1.051, false},
		{"in [1.05, 0.95]", 1, false}, // an empty range is a typo
		{"in [0.95]", 1, false},
		{"in 0.95, 1.05", 1, false},
	} {
		if got := targetMet(c.target, c.v); got != c.want {
			t.Errorf("targetMet(%q, %g) = %v, want %v", c.target, c.v, got, c.want)
		}
	}
}

// The latency targets of issue 14: max(1 ms, 5 %) at p50, max(5 ms, 20 %)
// at p99, as ranges of measured / configured.
func TestLatencyTolerances(t *testing.T) {
	for _, c := range []struct {
		want, tol time.Duration
		target    string
	}{
		{10 * time.Millisecond, max(time.Millisecond, 10*time.Millisecond/20), "in [0.9, 1.1]"},
		{100 * time.Millisecond, max(time.Millisecond, 100*time.Millisecond/20), "in [0.95, 1.05]"},
		{10 * time.Millisecond, max(5*time.Millisecond, 10*time.Millisecond/5), "in [0.5, 1.5]"},
		{100 * time.Millisecond, max(5*time.Millisecond, 100*time.Millisecond/5), "in [0.8, 1.2]"},
	} {
		if got := within(c.want, c.tol); got != c.target {
			t.Errorf("within(%v, %v) = %q, want %q", c.want, c.tol, got, c.target)
		}
		if !targetMet(c.target, 1) {
			t.Errorf("%q does not hold 1", c.target)
		}
	}
	// 10 ms ± 1 ms: 11 ms is in, 11.2 ms is not.
	if target := within(10*time.Millisecond, time.Millisecond); !targetMet(target, 1.1) || targetMet(target, 1.12) {
		t.Errorf("%q: 1.1 should be in, 1.12 out", target)
	}
}

func TestQuantile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if got := quantile(ds, 0.5); got != 51*time.Millisecond {
		t.Errorf("p50 = %v, want 51ms (nearest rank)", got)
	}
	if got := quantile(ds, 0.99); got != 100*time.Millisecond {
		t.Errorf("p99 = %v, want 100ms", got)
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("quantile sorted its argument")
	}
	if quantile(nil, 0.5) != 0 {
		t.Error("quantile of nothing is not 0")
	}
}

func TestCaseGroupOfTheNewCases(t *testing.T) {
	for c, want := range map[string]string{
		"relay-tcp-64KiB-vs-tcp":       "relay",
		"relay-proxy-tcp-64KiB-vs-tcp": "relay",
		"proxyudp-1KiB":                "proxyudp",
		"latency-10ms-p99":             "latency",
		"bandwidth-100KBps":            "bandwidth",
		"conns-proxy-vs-toxiproxy":     "conns",
		"capture-off-send-1KiB-c1":     "capture",
		"memory-after-burst":           "memory",
	} {
		if got := caseGroup(c); got != want {
			t.Errorf("caseGroup(%q) = %q, want %q", c, got, want)
		}
	}
	if rateName(100_000) != "100KBps" || rateName(10_000_000) != "10MBps" {
		t.Errorf("rate names: %s, %s", rateName(100_000), rateName(10_000_000))
	}
}

func TestFmtValueSmallRatesAndLatencies(t *testing.T) {
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{
		{100_000, "B/s", "100.0 KB/s"},
		{10_000_000, "B/s", "10.00 MB/s"},
		{2.5e9, "B/s", "2500 MB/s"},
		{0.0105, "s", "10.50 ms"},
		{1.5, "s", "1.500 s"},
		{3300, "conn/s", "3300 conn/s"},
	} {
		if got := fmtValue(c.v, c.unit); got != c.want {
			t.Errorf("fmtValue(%g, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
}

func TestCPUTimeReadsThisProcess(t *testing.T) {
	t0, err := cpuTime(0)
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	// Burn 50 ms of CPU (bounded by time, not by a count the compiler
	// could drop).
	x := 0
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
		x++
	}
	t1, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if t1 < t0 {
		t.Errorf("CPU time went back: %v then %v (%d)", t0, t1, x)
	}
	if _, err := machineBusy(); err != nil {
		t.Errorf("machineBusy: %v", err)
	}
}
