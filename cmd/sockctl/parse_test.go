package main

import (
	"testing"
	"time"
)

func TestOptionValues(t *testing.T) {
	for in, want := range map[string]int64{"on": 1, "off": 0, "true": 1, "-1": -1, "65536": 65536} {
		if got, err := parseOptionValue(in); err != nil || got != want {
			t.Errorf("parseOptionValue(%q) = %d, %v", in, got, err)
		}
	}
	if _, err := parseOptionValue("lots"); err == nil {
		t.Error("parseOptionValue accepted lots")
	}
}

func TestParseTimeout(t *testing.T) {
	if d, err := parseTimeout("none"); err != nil || d != nil {
		t.Errorf("none: %v %v", d, err)
	}
	if d, err := parseTimeout("0"); err != nil || d == nil || *d != 0 {
		t.Errorf("0: %v %v", d, err)
	}
	if d, err := parseTimeout("1.5s"); err != nil || *d != 1500*time.Millisecond {
		t.Errorf("1.5s: %v %v", d, err)
	}
	for _, bad := range []string{"-1s", "soon", ""} {
		if _, err := parseTimeout(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestHumanUnits(t *testing.T) {
	for n, want := range map[uint64]string{0: "0B", 1023: "1023B", 1024: "1.0KiB", 3 << 20: "3.0MiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %s, want %s", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{5 * time.Second: "5s", 3 * time.Minute: "3m", 5 * time.Hour: "5h", 72 * time.Hour: "3d"} {
		if got := age(d); got != want {
			t.Errorf("age(%v) = %s, want %s", d, got, want)
		}
	}
	if l, err := parseLabels([]string{"a=1,b=2", "c=3"}); err != nil || len(l) != 3 || l["b"] != "2" {
		t.Errorf("parseLabels: %v %v", l, err)
	}
	if _, err := parseLabels([]string{"nolabel"}); err == nil {
		t.Error("parseLabels accepted nolabel")
	}
}
