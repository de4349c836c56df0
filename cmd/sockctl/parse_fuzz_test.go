package main

import (
	"errors"
	"strconv"
	"testing"
)

// FuzzFlagValues checks the parsers of sockctl's flag values on any input:
// none panics; every rejection is a usage error (exit code 2, not a crash
// or a call to sockd); a timeout is never negative; an option value that
// parses as an integer means that integer. The seed corpus is in
// testdata/fuzz/FuzzFlagValues.
func FuzzFlagValues(f *testing.F) {
	for _, s := range []string{"0", "none", "None", "1.5s", "-1s", "5m", "on", "off", "yes", "-1",
		"65536", "9223372036854775808", "0x10", "1e3", "k=v", "k=v,k2=v2", "=v", "k", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		usage := func(what string, err error) {
			var u usageError
			if !errors.As(err, &u) {
				t.Fatalf("%s(%q): %v is not a usage error", what, s, err)
			}
		}
		if d, err := parseTimeout(s); err != nil {
			usage("parseTimeout", err)
		} else if d != nil && *d < 0 {
			t.Fatalf("parseTimeout(%q) = %v, a negative timeout", s, *d)
		}
		if v, err := parseOptionValue(s); err != nil {
			usage("parseOptionValue", err)
		} else if n, perr := strconv.ParseInt(s, 10, 64); perr == nil && n != v {
			t.Fatalf("parseOptionValue(%q) = %d, want %d", s, v, n)
		}
		if m, err := parseLabels([]string{s}); err != nil {
			usage("parseLabels", err)
		} else {
			for k := range m {
				if k == "" {
					t.Fatalf("parseLabels(%q) accepted an empty key", s)
				}
			}
		}
	})
}
