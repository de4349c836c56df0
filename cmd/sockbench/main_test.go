package main

import (
	"strings"
	"testing"
)

func TestTargetMet(t *testing.T) {
	for _, c := range []struct {
		target string
		v      float64
		want   bool
	}{
		{">= 0.8", 0.81, true},
		{">= 0.8", 0.8, true},
		{">= 0.8", 0.79, false},
		{"<= 2", 1.5, true},
		{"<= 2", 2.01, false},
		{"", 0, true},          // no target
		{"=> 0.8", 0.9, false}, // a typo is not a success
		{">=", 0.9, false},
		{"about 1", 1, false},
	} {
		if got := targetMet(c.target, c.v); got != c.want {
			t.Errorf("targetMet(%q, %g) = %v, want %v", c.target, c.v, got, c.want)
		}
	}
}

func TestSummarizeTakesTheMedianRun(t *testing.T) {
	runs := []result{
		{Case: "attach-tcp-64KiB", Sockd: 900, Ratio: 0.9, Target: ">= 0.8"},
		{Case: "attach-tcp-64KiB", Sockd: 600, Ratio: 0.6, Target: ">= 0.8"},
		{Case: "attach-tcp-64KiB", Sockd: 700, Ratio: 0.7, Target: ">= 0.8"},
		{Case: "attach-tcp-64KiB", Sockd: 1100, Ratio: 1.1, Target: ">= 0.8"},
		{Case: "attach-tcp-64KiB", Sockd: 750, Ratio: 0.75, Target: ">= 0.8"},
	}
	s := summarize(runs)
	if s.Ratio != 0.75 || s.Sockd != 750 {
		t.Errorf("median run: ratio %g sockd %g, want 0.75 and 750 (the run, not a mix)", s.Ratio, s.Sockd)
	}
	if s.RatioMin != 0.6 || s.RatioMax != 1.1 || s.Runs != 5 {
		t.Errorf("spread: min %g max %g runs %d, want 0.6, 1.1, 5", s.RatioMin, s.RatioMax, s.Runs)
	}
	if s.Met {
		t.Error("a median of 0.75 met a target of >= 0.8")
	}
	if len(s.AllRatios) != 5 || s.AllRatios[0] != 0.9 {
		t.Errorf("all ratios %v, want the runs in their order", s.AllRatios)
	}
}

func TestCaseGroupRunsTheCase(t *testing.T) {
	for c, want := range map[string]string{
		"attach-tcp-64KiB":             "attach",
		"attach-udp-1KiB":              "udp",
		"unary-send-1KiB-c32-p99":      "unary",
		"control-close":                "control",
		"idle-10000-memory-per-socket": "idle",
	} {
		if got := caseGroup(c); got != want {
			t.Errorf("caseGroup(%q) = %q, want %q", c, got, want)
		}
	}
}

func TestMarkdownRow(t *testing.T) {
	s := summarize([]result{{Case: "control-close", Unit: "ops/s", Sockd: 7000, Baseline: 10000,
		Against: "health Check (8 callers)", Ratio: 0.7, Target: ">= 0.7", Note: "8 callers"}})
	md := markdown(options{runs: 1}, []summary{s})
	want := "| `control-close` | 7000 ops/s<br>8 callers | health Check (8 callers): 10000 ops/s | 0.70 – **0.70** – 0.70 | >= 0.7 | ok | `bin/sockbench -cases control -runs 1` |"
	if !strings.Contains(md, want) {
		t.Errorf("markdown:\n%s\nwant the row\n%s", md, want)
	}
}
