package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// make install puts the binaries, the systemd unit and the settings file
// where they belong; the unit passes systemd-analyze verify, and the
// installed sockd starts with the installed settings.
func TestInstallAndSystemdUnit(t *testing.T) {
	needCommand(t, "make", "apt-get install make")
	verify := needCommand(t, "systemd-analyze", "apt-get install systemd")
	dest := t.TempDir()
	cmd := exec.Command("make", "install", "DESTDIR="+dest)
	cmd.Dir = repoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for _, f := range []string{"usr/local/bin/sockd", "usr/local/bin/sockctl", "etc/systemd/system/sockd.service", "etc/sockd/sockd.yaml"} {
		if _, err := os.Stat(filepath.Join(dest, f)); err != nil {
			t.Fatalf("make install left no %s: %v", f, err)
		}
	}
	unit, err := os.ReadFile(filepath.Join(dest, "etc/systemd/system/sockd.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DynamicUser=yes", "CapabilityBoundingSet=\n", "ProtectSystem=strict", "LimitNOFILE=", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("the unit lacks %q", want)
		}
	}
	// systemd-analyze checks that ExecStart's binary exists: point it at
	// the installed one.
	local := strings.ReplaceAll(string(unit), "/usr/local/bin/sockd", filepath.Join(dest, "usr/local/bin/sockd"))
	local = strings.ReplaceAll(local, "/etc/sockd/sockd.yaml", filepath.Join(dest, "etc/sockd/sockd.yaml"))
	unitFile := filepath.Join(t.TempDir(), "sockd.service")
	os.WriteFile(unitFile, []byte(local), 0o644)
	if out, err := exec.Command(verify, "verify", unitFile).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The installed sockd starts with the installed settings (on free ports).
	out, err := exec.Command(filepath.Join(dest, "usr/local/bin/sockd"), "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "sockd ") {
		t.Fatalf("sockd --version: %q, %v", out, err)
	}
	d := startSockdBinary(t, filepath.Join(dest, "usr/local/bin/sockd"), "--config", filepath.Join(dest, "etc/sockd/sockd.yaml"))
	if code, _ := curl(t, d, "GET", "/v1/info", nil); code != 200 {
		t.Fatalf("the installed sockd: GET /v1/info %d", code)
	}
}
