package sockmgr_test

import (
	"errors"
	"testing"

	"github.com/sockd/sockd/sockmgr"
	"golang.org/x/sys/unix"
)

func TestOptionsReadBackFromKernel(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	tcp := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
	udp6 := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{Protocol: sockmgr.UDP, Family: sockmgr.IPv6}))
	for _, tc := range []struct {
		s     *sockmgr.Socket
		name  string
		value int
		want  int
	}{
		{tcp, "SO_REUSEADDR", 1, 1},
		{tcp, "so_reuseport", 1, 1},
		{tcp, "SO_KEEPALIVE", 1, 1},
		{tcp, "SO_KEEPALIVE", 0, 0},
		{tcp, "TCP_NODELAY", 1, 1},
		{tcp, "TCP_KEEPIDLE", 30, 30},
		{tcp, "TCP_KEEPINTVL", 5, 5},
		{tcp, "TCP_KEEPCNT", 3, 3},
		{tcp, "IP_TTL", 17, 17},
		{tcp, "IP_TOS", 0x10, 0x10},
		{tcp, "SO_RCVBUF", 65536, 131072}, // the kernel doubles it (socket(7))
		{tcp, "SO_SNDBUF", 65536, 131072},
		{tcp, "SO_LINGER", 5, 5},
		{tcp, "SO_LINGER", -1, -1},
		{udp6, "SO_BROADCAST", 1, 1},
		{udp6, "IPV6_V6ONLY", 1, 1},
		{udp6, "IPV6_UNICAST_HOPS", 9, 9},
	} {
		got, err := tc.s.SetOption(tc.name, tc.value)
		if err != nil || got != tc.want {
			t.Errorf("set %s=%d: got %d, %v; want %d", tc.name, tc.value, got, err, tc.want)
			continue
		}
		if again := must[int](t)(tc.s.GetOption(tc.name)); again != tc.want {
			t.Errorf("get %s = %d, want %d", tc.name, again, tc.want)
		}
	}
	if v := must[int](t)(tcp.GetOption("SO_TYPE")); v != unix.SOCK_STREAM {
		t.Errorf("SO_TYPE of TCP = %d", v)
	}
	if v := must[int](t)(udp6.GetOption("so_type")); v != unix.SOCK_DGRAM {
		t.Errorf("SO_TYPE of UDP = %d", v)
	}
	if v := must[int](t)(tcp.GetOption("SO_ERROR")); v != 0 {
		t.Errorf("SO_ERROR of a fresh socket = %d", v)
	}
}

func TestOptionErrors(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	tcp := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
	udp := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{Protocol: sockmgr.UDP}))
	for _, tc := range []struct {
		s     *sockmgr.Socket
		name  string
		value int
		want  error
	}{
		{tcp, "SO_NOSUCH", 1, sockmgr.ErrInvalidOption},
		{tcp, "", 1, sockmgr.ErrInvalidOption},
		{udp, "TCP_NODELAY", 1, sockmgr.ErrInvalidOption}, // does not fit UDP
		{tcp, "SO_BROADCAST", 1, sockmgr.ErrInvalidOption},
		{tcp, "IPV6_V6ONLY", 1, sockmgr.ErrInvalidOption}, // IPv4 socket
		{tcp, "SO_TYPE", 1, sockmgr.ErrInvalidOption},     // read-only
		{tcp, "SO_ERROR", 0, sockmgr.ErrInvalidOption},
		{tcp, "SO_REUSEADDR", 2, sockmgr.ErrInvalidArgument}, // booleans are 0 or 1
		{tcp, "IP_TTL", 0, sockmgr.ErrInvalidArgument},
		{tcp, "IP_TTL", 256, sockmgr.ErrInvalidArgument},
		{tcp, "SO_LINGER", -2, sockmgr.ErrInvalidArgument},
		{tcp, "SO_RCVBUF", -1, sockmgr.ErrInvalidArgument},
		{tcp, "TCP_KEEPCNT", 0, sockmgr.ErrInvalidArgument},
	} {
		_, err := tc.s.SetOption(tc.name, tc.value)
		if !errors.Is(err, tc.want) {
			t.Errorf("set %q=%d on %s: %v, want %v", tc.name, tc.value, tc.s.Protocol(), err, tc.want)
		}
	}
	if _, err := udp.GetOption("TCP_KEEPIDLE"); !errors.Is(err, sockmgr.ErrInvalidOption) {
		t.Errorf("get TCP_KEEPIDLE on UDP: %v", err)
	}
}

// Options go by their socket(7) names or by the part after the level's
// prefix, as people type them (reuseaddr, nodelay, unicast_hops).
func TestOptionShortNames(t *testing.T) {
	for short, full := range map[string]string{
		"reuseaddr": "SO_REUSEADDR", "SO_RCVBUF": "SO_RCVBUF", "nodelay": "TCP_NODELAY", "Keepidle": "TCP_KEEPIDLE",
		"ttl": "IP_TTL", "tos": "IP_TOS", "unicast_hops": "IPV6_UNICAST_HOPS", "tclass": "IPV6_TCLASS", "v6only": "IPV6_V6ONLY",
		" linger ": "SO_LINGER",
	} {
		if got := sockmgr.CanonicalOptionName(short); got != full {
			t.Errorf("%q: %q, want %q", short, got, full)
		}
	}
	for _, bad := range []string{"", "so_", "reuse", "TCP_REUSEADDR", "hops"} {
		if got := sockmgr.CanonicalOptionName(bad); got != "" {
			t.Errorf("%q names %q", bad, got)
		}
	}
}
