package service

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sockd/sockd/sockmgr"
)

// FuzzParseLabelSelector checks the label selector parser (ListSockets'
// and WatchEvents' labelSelector, ?labelSelector= over REST) on any input:
// it never panics; a rejection is ErrInvalidArgument (so the caller gets
// INVALID_ARGUMENT, not INTERNAL); what it accepts is a valid label set that
// renders back to a selector meaning the same. The seed corpus is in
// testdata/fuzz/FuzzParseLabelSelector.
func FuzzParseLabelSelector(f *testing.F) {
	for _, s := range []string{
		"", "app=web", "app=web,tier=front", " app = web , tier=front ", "app=", "=web",
		"app", "app=web,app=db", "a/b=c", "app=we b", "app==web", ",", "app=web,",
		strings.Repeat("k", 64) + "=v", "k=" + strings.Repeat("v", 64), "ключ=значение",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sel string) {
		m, err := ParseLabelSelector(sel)
		if err != nil {
			if !errors.Is(err, sockmgr.ErrInvalidArgument) {
				t.Fatalf("ParseLabelSelector(%q): %v, want an ErrInvalidArgument", sel, err)
			}
			return
		}
		if err := sockmgr.ValidateLabels(m); err != nil {
			t.Fatalf("ParseLabelSelector(%q) accepted %v, which ValidateLabels rejects: %v", sel, m, err)
		}
		var parts []string
		for k, v := range m {
			parts = append(parts, k+"="+v)
		}
		slices.Sort(parts)
		again, err := ParseLabelSelector(strings.Join(parts, ","))
		if err != nil || len(again) != len(m) {
			t.Fatalf("%q → %v renders to %q → %v, %v", sel, m, strings.Join(parts, ","), again, err)
		}
		for k, v := range m {
			if again[k] != v {
				t.Fatalf("%q → %v renders to %q → %v", sel, m, strings.Join(parts, ","), again)
			}
		}
	})
}
