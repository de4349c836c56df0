package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// netnsEnv marks a test binary running inside inNetns's namespace; its value
// is the test to run there.
const netnsEnv = "SOCKD_E2E_NETNS"

// inNetns runs the calling (top-level) test inside a private network and
// mount namespace, so that a policy bug can never put a packet on a real
// network: the test binary re-executes itself under `unshare -nm`, where the
// only interfaces are loopback and a veth pair of the test's own (v0/v1,
// with 169.254.0.1/16 and 10.0.0.1/8 on v0, so that a packet to a denied
// address would leave through v0 and be counted), and /etc/hosts is the
// given text. In the parent it reports the child's outcome and returns
// false; in the child it returns true and the test body runs.
func inNetns(t *testing.T, hosts string) bool {
	t.Helper()
	if os.Getenv(netnsEnv) == t.Name() {
		return true
	}
	needRoot(t, "a network namespace of its own (unshare -nm)")
	needCommand(t, "ip", "apt-get install iproute2")
	hostsFile := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(hostsFile, []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `set -e
mount --bind "$NETNS_HOSTS" /etc/hosts
ip link set lo up
ip link add v0 type veth peer name v1
# IPv6 would announce the new link on its own (router solicitations, DAD,
# MLD reports, repeated at random intervals: one counted while the test ran,
# on a loaded machine), and no test sends IPv6 through the pair: it is off
# there, and quietTxPackets waits out anything else the link says at first,
# so that the count sees only what sockd sends.
echo 1 > /proc/sys/net/ipv6/conf/v0/disable_ipv6
echo 1 > /proc/sys/net/ipv6/conf/v1/disable_ipv6
ip addr add 169.254.0.1/16 dev v0
ip addr add 10.0.0.1/8 dev v0
ip link set v0 up
ip link set v1 up
exec "$@"`
	cmd := exec.Command("unshare", "-nm", "bash", "-c", script, "netns",
		os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), netnsEnv+"="+t.Name(), "SOCKD_E2E_BIN="+binDir, "NETNS_HOSTS="+hostsFile)
	out, err := cmd.CombinedOutput()
	t.Logf("inside a private network namespace:\n%s", out)
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("the test failed inside its network namespace: %v", err)
	}
	return false
}

// quietTxPackets waits until the link has stopped announcing itself (no
// packet through iface for a second, at most 20 s) and returns the count.
func quietTxPackets(t *testing.T, iface string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last, since := txPackets(t, iface), time.Now()
	for time.Since(since) < time.Second {
		if time.Now().After(deadline) {
			t.Fatalf("%s kept sending packets for 20 s on its own", iface)
		}
		time.Sleep(50 * time.Millisecond)
		if n := txPackets(t, iface); n != last {
			last, since = n, time.Now()
		}
	}
	return last
}

// txPackets is how many packets have left through an interface.
func txPackets(t *testing.T, iface string) int {
	t.Helper()
	f, err := os.Open("/proc/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok || name != iface {
			continue
		}
		fields := strings.Fields(rest)
		n, err := strconv.Atoi(fields[9]) // transmit packets
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	t.Fatalf("no interface %s in /proc/net/dev", iface)
	return 0
}
