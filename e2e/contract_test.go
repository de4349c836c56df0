package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The shared contract's own checker, against the real daemon.
func TestContractNames(t *testing.T) {
	script := filepath.Join(repoRoot(), "..", "shared", "contract", "check-names.sh")
	if _, err := os.Stat(script); err != nil {
		// A clone outside the workplace has no shared/ beside it: use the
		// copy kept in the repository.
		script = filepath.Join(repoRoot(), "scripts", "check-names.sh")
	}
	d := startSockd(t)
	r := run(t, nil, "bash", script, d.GRPC, d.HTTP)
	if r.code != 0 || !strings.Contains(r.stdout, "contract names: all present") {
		t.Fatalf("check-names.sh: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
