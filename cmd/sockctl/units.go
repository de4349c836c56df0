package main

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Values of fault and capture flags: sizes and rates with units, percents,
// non-negative durations. A bad one is a usage error, found before sockd is
// asked.

// sizeUnits are the suffixes a size takes: SI (KB = 1000 bytes, as
// toxiproxy's and tc's rates) and binary (KiB = 1024), case-insensitive.
var sizeUnits = []struct {
	suffix string
	factor float64
}{
	// Longest first, so that "KiB" is not read as "B".
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"ki", 1 << 10}, {"mi", 1 << 20}, {"gi", 1 << 30}, {"ti", 1 << 40},
	{"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"t", 1e12},
	{"b", 1},
}

// parseSize reads a byte count: "4096", "4KB" (4000), "4KiB" (4096),
// "1.5MB".
func parseSize(flag, s string) (int64, error) {
	text := strings.ToLower(strings.TrimSpace(s))
	factor := 1.0
	for _, u := range sizeUnits {
		if strings.HasSuffix(text, u.suffix) {
			text, factor = strings.TrimSpace(strings.TrimSuffix(text, u.suffix)), u.factor
			break
		}
	}
	v, err := strconv.ParseFloat(text, 64)
	n := v * factor
	whole := math.Round(n) // 0.1KB is 100 bytes, whatever float64 makes of it
	if err != nil || math.IsNaN(n) || n < 0 || n > math.MaxInt64/2 || math.Abs(n-whole) > 1e-6*max(1, n) {
		return 0, usagef("--%s %q: want a number of bytes, with a unit if you like (4096, 64KB, 1.5MiB)", flag, s)
	}
	return int64(whole), nil
}

// parseRate reads bytes per second: a size, optionally with "/s"
// ("100KB" and "100KB/s" are 100,000 bytes per second).
func parseRate(flag, s string) (int64, error) {
	text := strings.TrimSpace(s)
	if t, ok := strings.CutSuffix(strings.ToLower(text), "/s"); ok {
		text = t
	}
	n, err := parseSize(flag, text)
	if err != nil {
		return 0, usagef("--%s %q: want bytes per second, with a unit if you like (100KB is 100,000 bytes/s; 1MiB/s)", flag, s)
	}
	return n, nil
}

// parsePercent reads a percentage, 0 to 100, with or without "%".
func parsePercent(flag, s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || math.IsNaN(v) || v < 0 || v > 100 {
		return 0, usagef("--%s %q: want a percentage from 0 to 100", flag, s)
	}
	return v, nil
}

// parseDuration reads a duration that is not negative ("100ms", "2s", "0").
func parseDuration(flag, s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d < 0 {
		return 0, usagef("--%s %q: want a duration such as 100ms, 2s or 0", flag, s)
	}
	return d, nil
}

// parseCount reads a small count (a reorder's gap).
func parseCount(flag, s string) (int32, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil || n < 0 {
		return 0, usagef("--%s %q: want a whole number, 0 or more", flag, s)
	}
	return int32(n), nil
}

// parseProbability reads a probability, 0 to 1.
func parseProbability(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || v < 0 || v > 1 {
		return 0, usagef("--probability %q: want a number from 0 to 1", s)
	}
	return v, nil
}
