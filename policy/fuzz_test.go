package policy

import (
	"context"
	"errors"
	"hash/fnv"
	"net/netip"
	"testing"

	"github.com/sockd/sockd/sockmgr"
)

// FuzzParseRule: no input panics, and an accepted rule's canonical form
// parses back to the same rule.
func FuzzParseRule(f *testing.F) {
	for _, s := range []string{"127.0.0.0/8", "10.0.0.0/8:80,443", "[::1/128]:0,1024-65535", "::/0", "1.2.3.4:*", "[fe80::/10]:1-2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRule(s)
		if err != nil {
			return
		}
		again, err := ParseRule(r.String())
		if err != nil || again.String() != r.String() || again.Prefix != r.Prefix {
			t.Fatalf("%q → %q → %q, %v", s, r, again, err)
		}
	})
}

// hashResolver resolves any name to one of a few addresses, some allowed and
// some denied, deterministically: a logic double for DNS.
type hashResolver struct{}

var resolvable = []netip.Addr{
	netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("10.1.2.3"),
	netip.MustParseAddr("::1"), netip.MustParseAddr("fe80::1"), netip.MustParseAddr("::ffff:169.254.169.254"),
}

func (hashResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	h := fnv.New32a()
	h.Write([]byte(host))
	a := resolvable[h.Sum32()%uint32(len(resolvable))]
	if network == "ip4" && !a.Unmap().Is4() || network == "ip6" && a.Is4() {
		return nil, errors.New("no address of that family")
	}
	return []netip.Addr{a}, nil
}

// FuzzPolicyParseTimeEqualsConnectTime: for any address a client can write,
// what the policy decides about the parsed address is exactly what sockd
// decides on the way to connect(2) and sendto(2) — through the same parser,
// resolution and IPv4-mapped normalisation — and the address the kernel would
// be given is the one that was checked.
func FuzzPolicyParseTimeEqualsConnectTime(f *testing.F) {
	for _, s := range []string{"127.0.0.1:80", "169.254.169.254:80", "[::ffff:169.254.169.254]:80", "0x7f000001:80",
		"2130706433:80", "127.1:80", "010.0.0.1:80", "[fe80::1%lo]:80", "localhost:8080", "metadata.test:80",
		"[::1]:53", "127.0.0.1:53", "[::ffff:127.0.0.1]:11211", "10.1.2.3:443"} {
		f.Add(s, false, true)
		f.Add(s, true, false)
	}
	pol := Default()
	pol.Own = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:50051")}
	m := sockmgr.New(sockmgr.Config{Policy: pol, Resolver: hashResolver{}})
	f.Cleanup(func() { m.Close() })
	socks := map[[2]bool]*sockmgr.Socket{}
	for _, v6 := range []bool{false, true} {
		for _, udp := range []bool{false, true} {
			o := sockmgr.CreateOptions{Family: sockmgr.IPv4, Protocol: sockmgr.TCP}
			if v6 {
				o.Family = sockmgr.IPv6
			}
			if udp {
				o.Protocol = sockmgr.UDP
			}
			s, err := m.Create("fuzz", o)
			if err != nil {
				f.Fatal(err)
			}
			socks[[2]bool{v6, udp}] = s
		}
	}
	f.Fuzz(func(t *testing.T, address string, v6, udp bool) {
		sock := socks[[2]bool{v6, udp}]
		op := sockmgr.OpConnect
		if udp {
			op = sockmgr.OpSendTo
		}
		hp, parseErr := sockmgr.ParseAddress(address)
		got, connectErr := m.ResolveTarget(context.Background(), op, sock, hp)
		if parseErr != nil {
			// What does not parse never reaches the kernel.
			return
		}
		// Parse time: the literal (or the name's address), as the family
		// would use it, normalised the way the policy sees addresses.
		var ip netip.Addr
		switch {
		case hp.IP.IsValid():
			ip = hp.IP
		case hp.Name != "":
			network := "ip4"
			if v6 {
				network = "ip6"
			}
			if hp.Name == "localhost" {
				ip = netip.MustParseAddr("127.0.0.1")
				if v6 {
					ip = netip.IPv6Loopback()
				}
			} else if ips, err := (hashResolver{}).LookupNetIP(context.Background(), network, hp.Name); err == nil {
				ip = ips[0]
			}
		}
		if !ip.IsValid() || hp.IsWildcard() || (!v6 && !ip.Unmap().Is4()) {
			if connectErr == nil {
				t.Fatalf("%q: no usable address at parse time, but connect would go to %s", address, got)
			}
			return
		}
		policyErr := pol.Check(op, "fuzz", sock.Protocol(), netip.AddrPortFrom(ip.Unmap(), hp.Port))
		if (policyErr == nil) != (connectErr == nil) {
			t.Fatalf("%q (v6=%v udp=%v): the policy says %v at parse time, %v at connect time", address, v6, udp, policyErr, connectErr)
		}
		if connectErr == nil && (got.Addr().Unmap() != ip.Unmap() || got.Port() != hp.Port) {
			t.Fatalf("%q: checked %s, the kernel would be given %s", address, ip, got)
		}
	})
}
