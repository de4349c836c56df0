package sockaddr

import (
	"net/netip"
	"testing"
)

// Every address comes back as it went in, IPv4, IPv6 and v4-mapped alike.
func TestRoundTrip(t *testing.T) {
	for _, s := range []string{"127.0.0.1:0", "10.1.2.3:65535", "[::1]:8080", "[fe80::1%eth0]:1", "[::ffff:127.0.0.1]:443"} {
		ap := netip.MustParseAddrPort(s)
		r := From(ap)
		got := r.AddrPort()
		want := netip.AddrPortFrom(ap.Addr().WithZone(""), ap.Port())
		if got != want {
			t.Errorf("%s: came back as %s", s, got)
		}
	}
	if r := Empty(); r.AddrPort().IsValid() {
		t.Error("an empty Raw has an address")
	}
}
