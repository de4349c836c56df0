package policy

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/sockd/sockd/sockmgr"
)

func TestParseRule(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"127.0.0.0/8", "127.0.0.0/8"},
		{"127.0.0.1", "127.0.0.1/32"},
		{"10.0.0.0/8:80,443,8000-8999", "10.0.0.0/8:80,443,8000-8999"},
		{"10.0.0.0/8:*", "10.0.0.0/8"},
		{"::1", "::1/128"},
		{"[fd00::/8]:53", "[fd00::/8]:53"},
		{"fe80::/10", "fe80::/10"},
		{" 169.254.169.254:80 ", "169.254.169.254/32:80"},
	} {
		r, err := ParseRule(tc.in)
		if err != nil || r.String() != tc.want {
			t.Errorf("ParseRule(%q) = %q, %v; want %q", tc.in, r, err, tc.want)
		}
	}
	for _, bad := range []string{"", "10.0.0.1/8", "10.0.0.0/33", "127.0.0.1:", "127.0.0.1:0x50", "127.0.0.1:90-80",
		"127.0.0.1:65536", "[::1", "[::1]80", "::ffff:127.0.0.1", "fe80::1%eth0", "localhost", "127.1"} {
		if r, err := ParseRule(bad); err == nil {
			t.Errorf("ParseRule(%q) = %q, want an error", bad, r)
		}
	}
}

func TestDefaultPolicy(t *testing.T) {
	p := Default()
	p.Own = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:50051"), netip.MustParseAddrPort("127.0.0.1:8080")}
	ap := netip.MustParseAddrPort
	for _, tc := range []struct {
		op    sockmgr.Op
		proto sockmgr.Protocol
		addr  string
		deny  string // "" = allowed; else a part of the reason
	}{
		{sockmgr.OpBind, sockmgr.TCP, "127.0.0.1:8090", ""},
		{sockmgr.OpBind, sockmgr.TCP, "127.0.0.1:0", ""},
		{sockmgr.OpBind, sockmgr.TCP, "[::1]:8090", ""},
		{sockmgr.OpBind, sockmgr.TCP, "127.0.0.1:80", "no --allow-bind rule"},
		{sockmgr.OpBind, sockmgr.TCP, "0.0.0.0:8090", "no --allow-bind rule"},
		{sockmgr.OpBind, sockmgr.TCP, "127.0.0.1:50051", "sockd's own port"},
		{sockmgr.OpAutoBind, sockmgr.TCP, "0.0.0.0:0", "all interfaces"},
		{sockmgr.OpConnect, sockmgr.TCP, "127.0.0.1:80", ""},
		{sockmgr.OpConnect, sockmgr.TCP, "[::1]:22", ""},
		{sockmgr.OpConnect, sockmgr.TCP, "127.0.0.1:8080", "sockd's own port"},
		{sockmgr.OpConnect, sockmgr.TCP, "169.254.169.254:80", "no --allow-connect rule"},
		{sockmgr.OpConnect, sockmgr.TCP, "10.0.0.1:80", "no --allow-connect rule"},
		{sockmgr.OpConnect, sockmgr.TCP, "8.8.8.8:53", "no --allow-connect rule"},
		{sockmgr.OpSendTo, sockmgr.UDP, "127.0.0.1:9999", ""},
		{sockmgr.OpSendTo, sockmgr.UDP, "127.0.0.1:53", "can amplify"},
		{sockmgr.OpSendTo, sockmgr.UDP, "127.0.0.1:11211", "memcached"},
		// connect then send(2) must not get around the sendto rule.
		{sockmgr.OpConnect, sockmgr.UDP, "127.0.0.1:53", "can amplify"},
		{sockmgr.OpConnect, sockmgr.UDP, "127.0.0.1:11211", "memcached"},
		{sockmgr.OpConnect, sockmgr.UDP, "127.0.0.1:9999", ""},
		{sockmgr.OpConnect, sockmgr.TCP, "127.0.0.1:53", ""},
	} {
		err := p.Check(tc.op, "alice", tc.proto, ap(tc.addr))
		switch {
		case tc.deny == "" && err != nil:
			t.Errorf("%s %s: denied: %v", tc.op, tc.addr, err)
		case tc.deny != "" && (err == nil || !strings.Contains(err.Error(), tc.deny)):
			t.Errorf("%s %s: %v, want a denial saying %q", tc.op, tc.addr, err, tc.deny)
		case err != nil && !errors.Is(err, sockmgr.ErrPolicyDenied):
			t.Errorf("%s %s: %v is not ErrPolicyDenied", tc.op, tc.addr, err)
		}
	}
}

// Link-local, metadata and amplifier ports pass only when a rule names them.
func TestSpecialRangesNeedExplicitRules(t *testing.T) {
	ap := netip.MustParseAddrPort
	wide := &Policy{Connect: MustParseRules("0.0.0.0/0", "::/0")}
	for _, addr := range []string{"169.254.169.254:80", "[fe80::1]:80", "[fd00:ec2::254]:80"} {
		if err := wide.Check(sockmgr.OpConnect, "a", sockmgr.TCP, ap(addr)); err == nil {
			t.Errorf("0.0.0.0/0 allowed %s", addr)
		}
	}
	if err := wide.Check(sockmgr.OpSendTo, "a", sockmgr.UDP, ap("192.0.2.1:123")); err == nil {
		t.Error("0.0.0.0/0 allowed sendto NTP")
	}
	if err := wide.Check(sockmgr.OpConnect, "a", sockmgr.TCP, ap("192.0.2.1:443")); err != nil {
		t.Errorf("0.0.0.0/0 denied an ordinary address: %v", err)
	}
	own := &Policy{Connect: MustParseRules("127.0.0.0/8", "127.0.0.2:50051"), Own: []netip.AddrPort{ap("127.0.0.1:50051")}}
	if err := own.Check(sockmgr.OpConnect, "a", sockmgr.TCP, ap("127.0.0.1:50051")); err == nil {
		t.Error("127.0.0.0/8 allowed sockd's own port")
	}
	if err := own.Check(sockmgr.OpConnect, "a", sockmgr.TCP, ap("127.0.0.2:50051")); err != nil {
		t.Errorf("a rule listing sockd's own port: %v", err)
	}
	named := &Policy{Connect: MustParseRules("169.254.169.254:80", "192.0.2.0/24:123")}
	if err := named.Check(sockmgr.OpConnect, "a", sockmgr.TCP, ap("169.254.169.254:80")); err != nil {
		t.Errorf("a rule naming the metadata address: %v", err)
	}
	if err := named.Check(sockmgr.OpSendTo, "a", sockmgr.UDP, ap("192.0.2.7:123")); err != nil {
		t.Errorf("a rule listing port 123: %v", err)
	}
}

func TestParseFile(t *testing.T) {
	bind, connect, err := ParseFile(strings.NewReader("# test net\nallow-bind 10.0.0.0/8:1024-65535\n\nallow-connect 10.0.0.0/8 # all ports\n"))
	if err != nil || len(bind) != 1 || len(connect) != 1 || connect[0].String() != "10.0.0.0/8" {
		t.Fatalf("%v %v %v", bind, connect, err)
	}
	if _, _, err := ParseFile(strings.NewReader("allow-everything 0.0.0.0/0\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("bad kind: %v", err)
	}
}
