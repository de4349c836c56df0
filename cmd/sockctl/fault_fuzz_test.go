package main

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
)

// FuzzFaultValues checks the parsers of fault and capture flags, and of
// proxy create's --fault, on any input: none panics, every rejection is a
// usage error (exit 2, before sockd is asked), sizes and rates are never
// negative, percents stay from 0 to 100, and a spec that parses makes a
// fault that marshals. The seed corpus is in testdata/fuzz/FuzzFaultValues.
func FuzzFaultValues(f *testing.F) {
	for _, s := range []string{"4KB", "4KiB", "1.5MB", "100KB/s", "0.1KB", "-1", "1e30", "NaN", "30%", "101", "2",
		"latency:latency=100ms,jitter=10ms", "limit_data:bytes=40", "loss:percent=30,correlation=50,upstream",
		"slicer:average-size=10,size_variation=2,delay=1ms", "reset_peer:timeout=0,probability=0.5,name=r",
		"latency:", ":", "latency:rate=1", "reorder:gap=-1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		usage := func(what string, err error) {
			var u usageError
			if !errors.As(err, &u) {
				t.Fatalf("%s(%q): %v is not a usage error", what, s, err)
			}
		}
		if n, err := parseSize("x", s); err != nil {
			usage("parseSize", err)
		} else if n < 0 {
			t.Fatalf("parseSize(%q) = %d", s, n)
		}
		if n, err := parseRate("x", s); err != nil {
			usage("parseRate", err)
		} else if n < 0 {
			t.Fatalf("parseRate(%q) = %d", s, n)
		}
		if p, err := parsePercent("x", s); err != nil {
			usage("parsePercent", err)
		} else if p < 0 || p > 100 {
			t.Fatalf("parsePercent(%q) = %v", s, p)
		}
		if d, err := parseDuration("x", s); err != nil {
			usage("parseDuration", err)
		} else if d < 0 {
			t.Fatalf("parseDuration(%q) = %v", s, d)
		}
		if _, err := parseProbability(s); err != nil {
			usage("parseProbability", err)
		}
		if fault, err := parseFaultSpec(s); err != nil {
			usage("parseFaultSpec", err)
		} else if _, err := proto.Marshal(fault); err != nil {
			t.Fatalf("parseFaultSpec(%q) made a fault that does not marshal: %v", s, err)
		}
	})
}
