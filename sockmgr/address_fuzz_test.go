package sockmgr_test

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/sockd/sockd/sockmgr"
)

// FuzzParseAddress checks the parser's invariants on any input: it never
// panics; what it accepts has a port and either a canonical IP literal, a
// valid host name or nothing; and its canonical form parses back to the same
// address. The seed corpus is in testdata/fuzz/FuzzParseAddress.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1:8090", "[::1]:8090", "localhost:80", ":0", "0x7f000001:80",
		"2130706433:80", "127.1:80", "010.0.0.1:80", "[fe80::1%lo]:80",
		"[::ffff:169.254.169.254]:80", "1.2.3.4:065535", "example.com.:1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hp, err := sockmgr.ParseAddress(s)
		if err != nil {
			return
		}
		host, port, splitErr := net.SplitHostPort(s)
		if splitErr != nil {
			t.Fatalf("accepted %q, which is not host:port", s)
		}
		if strconv.Itoa(int(hp.Port)) != port {
			t.Fatalf("accepted %q with a non-canonical port", s)
		}
		switch {
		case hp.IP.IsValid():
			if hp.IP.Zone() != "" {
				t.Fatalf("accepted a zone in %q", s)
			}
			if want, err := netip.ParseAddr(host); err != nil || want != hp.IP {
				t.Fatalf("%q: literal %s does not match the text", s, hp.IP)
			}
		case hp.Name != "":
			last := hp.Name[strings.LastIndexByte(hp.Name, '.')+1:]
			if strings.Trim(last, "0123456789") == "" || strings.HasPrefix(last, "0x") {
				t.Fatalf("accepted numeric-looking host name %q", hp.Name)
			}
			if _, err := netip.ParseAddr(hp.Name); err == nil {
				t.Fatalf("an IP literal %q came out as a name", hp.Name)
			}
		case host != "":
			t.Fatalf("%q lost its host", s)
		}
		again, err := sockmgr.ParseAddress(hp.String())
		if err != nil || again != hp {
			t.Fatalf("canonical form %q of %q parses to %+v, %v", hp.String(), s, again, err)
		}
	})
}
