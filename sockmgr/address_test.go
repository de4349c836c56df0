package sockmgr_test

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/sockd/sockd/sockmgr"
)

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" = rejected
	}{
		{"127.0.0.1:8090", "127.0.0.1:8090"},
		{"[::1]:8090", "[::1]:8090"},
		{"[::ffff:127.0.0.1]:80", "[::ffff:127.0.0.1]:80"},
		{"localhost:8090", "localhost:8090"},
		{"LocalHost.:1", "localhost:1"},
		{"my-host.example.com:65535", "my-host.example.com:65535"},
		{":8090", ":8090"},
		{"127.0.0.1:0", "127.0.0.1:0"},
		// Rejected: what inet_aton or getaddrinfo would quietly accept.
		{"0x7f000001:80", ""},
		{"2130706433:80", ""},
		{"127.1:80", ""},
		{"010.0.0.1:80", ""},
		{"127.0.0.01:80", ""},
		{"0x7f.0.0.1:80", ""},
		{"[fe80::1%lo]:80", ""},
		{"fe80::1%lo:80", ""},
		{"::1:80", ""},
		{"[127.0.0.1]:80", ""},
		{"[localhost]:80", ""},
		{"127.0.0.1", ""},
		{"127.0.0.1:", ""},
		{"127.0.0.1:080", ""},
		{"127.0.0.1:+80", ""},
		{"127.0.0.1:-1", ""},
		{"127.0.0.1:65536", ""},
		{"127.0.0.1:http", ""},
		{"[]:80", ""},
		{"", ""},
		{"-bad.example:80", ""},
		{"under_score:80", ""},
		{"a..b:80", ""},
		{"host name:80", ""},
		{strings.Repeat("a", 64) + ".com:80", ""},
		{"1.2.3.4.5:80", ""},
	} {
		hp, err := sockmgr.ParseAddress(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("ParseAddress(%q) = %s, want an error", tc.in, hp)
		case tc.want == "" && !errors.Is(err, sockmgr.ErrInvalidAddress):
			t.Errorf("ParseAddress(%q): %v, want ErrInvalidAddress", tc.in, err)
		case tc.want != "" && err != nil:
			t.Errorf("ParseAddress(%q): %v", tc.in, err)
		case tc.want != "" && hp.String() != tc.want:
			t.Errorf("ParseAddress(%q) = %s, want %s", tc.in, hp, tc.want)
		}
	}
}

// resolverFunc and recordingPolicy are logic doubles: no network is involved
// in deciding which address a name stands for or whether it is allowed.
type resolverFunc func(host string) []netip.Addr

func (f resolverFunc) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	return f(host), nil
}

type recordingPolicy struct {
	seen []string
	deny netip.Prefix
}

func (p *recordingPolicy) Check(op sockmgr.Op, owner string, proto sockmgr.Protocol, ap netip.AddrPort) error {
	p.seen = append(p.seen, string(op)+" "+ap.String())
	if p.deny.IsValid() && p.deny.Contains(ap.Addr()) {
		return errors.New("address in " + p.deny.String())
	}
	return nil
}

// A host name is resolved once and the policy checks the very address the
// kernel is then given; IPv4-mapped addresses are unmapped for the check.
func TestPolicySeesResolvedAddress(t *testing.T) {
	pol := &recordingPolicy{deny: netip.MustParsePrefix("169.254.0.0/16")}
	m := newManager(t, sockmgr.Config{
		Policy: pol,
		Resolver: resolverFunc(func(host string) []netip.Addr {
			if host == "metadata.test" {
				return []netip.Addr{netip.MustParseAddr("169.254.169.254")}
			}
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}
		}),
	})
	ctx := ctxT(t)
	l := listener(t, m, sockmgr.IPv4)
	port := l.Info().LocalAddr.Port()
	d := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
	err := d.Connect(ctx, "metadata.test:80", nil)
	if !errors.Is(err, sockmgr.ErrPolicyDenied) {
		t.Fatalf("connect to a name resolving to a denied IP: %v", err)
	}
	v6 := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{Family: sockmgr.IPv6}))
	if err := v6.Connect(ctx, "[::ffff:169.254.169.254]:80", nil); !errors.Is(err, sockmgr.ErrPolicyDenied) {
		t.Fatalf("IPv4-mapped denied address: %v", err)
	}
	e := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
	check(t, e.Connect(ctx, "anything.test:"+strconv.Itoa(int(port)), nil))
	if e.Info().RemoteAddr.String() != "127.0.0.1:"+strconv.Itoa(int(port)) {
		t.Fatalf("connected to %s", e.Info().RemoteAddr)
	}
	want := []string{"connect 169.254.169.254:80", "connect 169.254.169.254:80", "connect 127.0.0.1:" + strconv.Itoa(int(port))}
	got := pol.seen[len(pol.seen)-3:]
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("policy saw %v, want %v", got, want)
		}
	}
}

func TestLocalhostResolvesPerFamily(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	s4 := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{Protocol: sockmgr.UDP}))
	check(t, s4.Bind(ctxT(t), "localhost:0"))
	if a := s4.Info().LocalAddr.Addr(); a != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("localhost on IPv4 bound to %s", a)
	}
	s6 := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{Protocol: sockmgr.UDP, Family: sockmgr.IPv6}))
	check(t, s6.Bind(ctxT(t), "localhost:0"))
	if a := s6.Info().LocalAddr.Addr(); a != netip.IPv6Loopback() {
		t.Fatalf("localhost on IPv6 bound to %s", a)
	}
	bad := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
	if err := bad.Bind(ctxT(t), "no-such-host.invalid:0"); !errors.Is(err, sockmgr.ErrInvalidAddress) {
		t.Fatalf("unresolvable name: %v", err)
	}
}
