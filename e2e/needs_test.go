package e2e

import (
	"os"
	"os/exec"
	"testing"
)

// mustRunAll is true where every test must run: in CI (CI=true) and when
// SOCKD_TEST_ALL=1. Elsewhere (a laptop without root, Chromium or tshark) a
// test that needs what is missing skips with a one-line reason.
var mustRunAll = os.Getenv("CI") == "true" || os.Getenv("SOCKD_TEST_ALL") == "1"

// need skips the test with why when ok is false — or fails it where every
// test must run.
func need(t *testing.T, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if mustRunAll {
		t.Fatal(why + " (CI=true or SOCKD_TEST_ALL=1: required)")
	}
	t.Skip(why)
}

// needCommand skips (or fails, see need) unless the command is on PATH.
func needCommand(t *testing.T, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	need(t, err == nil, "needs "+name+" ("+install+"; scripts/test-deps.sh installs it)")
	return path
}

// needRoot skips (or fails) unless the test runs as root.
func needRoot(t *testing.T, what string) {
	t.Helper()
	need(t, os.Geteuid() == 0, "needs root for "+what)
}
