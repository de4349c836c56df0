package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/sockd/sockd/sockmgr"
)

// Policy is a set of allow rules for binding and for destinations. An
// address is allowed when a rule covers it and none of the always-denied
// conditions applies (see Check).
type Policy struct {
	Bind    []Rule
	Connect []Rule
	// Own are sockd's own listening addresses: never a bind or a
	// destination unless a rule lists the port, so that sockd cannot be
	// turned on itself.
	Own []netip.AddrPort
}

// Defaults: loopback only; binding only to ports 1024 and up (or 0, the
// kernel's choice), because sockd may run as root.
var (
	DefaultBind    = MustParseRules("127.0.0.0/8:0,1024-65535", "[::1/128]:0,1024-65535")
	DefaultConnect = MustParseRules("127.0.0.0/8", "::1/128")
)

// Default is the policy sockd uses unless told otherwise.
func Default() *Policy {
	return &Policy{Bind: DefaultBind, Connect: DefaultConnect}
}

// special are ranges no rule allows unless it names them: link-local
// addresses, where cloud metadata services live (169.254.169.254,
// fd00:ec2::254 is unique-local but its link-local twin is fe80::/10).
var special = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local and cloud metadata range"},
	{netip.MustParsePrefix("fe80::/10"), "IPv6 link-local range"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "cloud metadata address"},
}

// amplifiers are UDP ports of services that answer a small datagram with a
// large one: sendto them is refused unless a rule lists the port, so that
// sockd cannot be used to reflect floods.
var amplifiers = map[uint16]string{
	7: "echo", 17: "qotd", 19: "chargen", 53: "dns", 111: "portmap", 123: "ntp", 137: "netbios-ns",
	161: "snmp", 389: "cldap", 520: "rip", 1900: "ssdp", 3283: "ard", 3702: "ws-discovery",
	5353: "mdns", 5683: "coap", 10001: "ubiquiti", 11211: "memcached",
}

// Check implements sockmgr.Policy. The address is already resolved and
// IPv4-mapped addresses are unmapped.
func (p *Policy) Check(op sockmgr.Op, owner string, proto sockmgr.Protocol, ap netip.AddrPort) error {
	ip, port := ap.Addr().Unmap(), ap.Port()
	rules, flag := p.Connect, "--allow-connect"
	if op == sockmgr.OpBind || op == sockmgr.OpAutoBind {
		rules, flag = p.Bind, "--allow-bind"
	}
	what := string(op) + " " + netip.AddrPortFrom(ip, port).String()
	if op == sockmgr.OpAutoBind {
		what = "binding the unbound socket to " + ip.String() + " (all interfaces)"
	}
	deny := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", sockmgr.ErrPolicyDenied, what, fmt.Sprintf(format, args...))
	}
	matching := slices.DeleteFunc(slices.Clone(rules), func(r Rule) bool { return !r.allows(ip, port) })
	for _, own := range p.Own {
		if port == own.Port() && port != 0 && (ip == own.Addr().Unmap() || ip.IsLoopback() || ip.IsUnspecified() || own.Addr().IsUnspecified()) &&
			!slices.ContainsFunc(matching, func(r Rule) bool { return r.namesPort(port) }) {
			return deny("that is sockd's own port %d, denied unless a %s rule lists the port", port, flag)
		}
	}
	if len(matching) == 0 {
		return deny("no %s rule allows it (rules: %s)", flag, ruleList(rules))
	}
	for _, sp := range special {
		if sp.prefix.Contains(ip) && !slices.ContainsFunc(matching, func(r Rule) bool { return r.names(sp.prefix) }) {
			return deny("%s is in the %s %s, which is denied unless a %s rule names it", ip, sp.what, sp.prefix, flag)
		}
	}
	// A connected UDP socket sends with send(2) (Send, Attach), so connect
	// gets the same rule as sendto.
	if (op == sockmgr.OpSendTo || op == sockmgr.OpConnect) && proto == sockmgr.UDP {
		if name, ok := amplifiers[port]; ok && !slices.ContainsFunc(matching, func(r Rule) bool { return r.namesPort(port) }) {
			return deny("UDP port %d (%s) can amplify traffic and is denied unless a %s rule lists the port", port, name, flag)
		}
	}
	return nil
}

func ruleList(rules []Rule) string {
	if len(rules) == 0 {
		return "none"
	}
	parts := make([]string, len(rules))
	for i, r := range rules {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

// String describes the policy, for the daemon's start-up log.
func (p *Policy) String() string {
	own := make([]string, len(p.Own))
	for i, a := range p.Own {
		own[i] = strconv.Itoa(int(a.Port()))
	}
	return fmt.Sprintf("bind: %s; connect: %s; never sockd's ports %s", ruleList(p.Bind), ruleList(p.Connect), strings.Join(own, ","))
}

var _ sockmgr.Policy = (*Policy)(nil)
