package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Rule allows a prefix of addresses, on some ports.
type Rule struct {
	Prefix netip.Prefix
	Ports  []PortRange // empty: every port
	text   string
}

// PortRange is an inclusive range of ports.
type PortRange struct{ Lo, Hi uint16 }

func (r Rule) String() string { return r.text }

// allows reports whether the rule covers the address and port.
func (r Rule) allows(ip netip.Addr, port uint16) bool {
	return r.Prefix.Contains(ip) && r.allowsPort(port)
}

func (r Rule) allowsPort(port uint16) bool {
	if len(r.Ports) == 0 {
		return true
	}
	for _, p := range r.Ports {
		if p.Lo <= port && port <= p.Hi {
			return true
		}
	}
	return false
}

// names reports whether the rule names a special range explicitly: its
// prefix lies inside the range (0.0.0.0/0 covers 169.254.0.0/16 but does not
// name it; 169.254.169.254/32 does).
func (r Rule) names(special netip.Prefix) bool {
	return r.Prefix.Bits() >= special.Bits() && special.Contains(r.Prefix.Addr())
}

// namesPort reports whether the rule lists the port itself (a range that
// merely contains it does not name it).
func (r Rule) namesPort(port uint16) bool {
	return slices.Contains(r.Ports, PortRange{port, port})
}

// ParseRule parses "CIDR", "CIDR:PORTS" or "[IPv6-CIDR]:PORTS", where a bare
// address stands for itself (/32 or /128) and PORTS is "*", or a
// comma-separated list of ports and ranges: "80,443,8000-8999".
// IPv4-mapped IPv6 prefixes are written as IPv4.
func ParseRule(s string) (Rule, error) {
	bad := func(why string) (Rule, error) {
		return Rule{}, fmt.Errorf("rule %q: %s (want CIDR, CIDR:PORTS or [IPv6-CIDR]:PORTS)", s, why)
	}
	text := strings.TrimSpace(s)
	addr, ports := text, ""
	switch {
	case strings.HasPrefix(text, "["):
		end := strings.Index(text, "]")
		if end < 0 {
			return bad("unclosed [")
		}
		addr, ports = text[1:end], text[end+1:]
		if ports != "" {
			if !strings.HasPrefix(ports, ":") || len(ports) == 1 {
				return bad("want ]:PORTS after the brackets")
			}
			ports = ports[1:]
		}
	case strings.Count(text, ":") == 1:
		addr, ports, _ = strings.Cut(text, ":")
		if ports == "" {
			return bad("empty port list")
		}
	}
	var prefix netip.Prefix
	if strings.Contains(addr, "/") {
		p, err := netip.ParsePrefix(addr)
		if err != nil {
			return bad(err.Error())
		}
		if p.Masked() != p {
			return bad("the prefix has host bits set; write " + p.Masked().String())
		}
		prefix = p
	} else {
		ip, err := netip.ParseAddr(addr)
		if err != nil {
			return bad(err.Error())
		}
		if ip.Zone() != "" {
			return bad("zones are not supported")
		}
		prefix = netip.PrefixFrom(ip, ip.BitLen())
	}
	if prefix.Addr().Zone() != "" {
		return bad("zones are not supported")
	}
	if prefix.Addr().Is4In6() {
		return bad("write IPv4-mapped addresses as IPv4")
	}
	r := Rule{Prefix: prefix}
	if ports != "" && ports != "*" {
		for _, part := range strings.Split(ports, ",") {
			lo, hi, isRange := strings.Cut(part, "-")
			if !isRange {
				hi = lo
			}
			l, err1 := strconv.ParseUint(lo, 10, 16)
			h, err2 := strconv.ParseUint(hi, 10, 16)
			if err1 != nil || err2 != nil || l > h {
				return bad(fmt.Sprintf("port %q", part))
			}
			r.Ports = append(r.Ports, PortRange{uint16(l), uint16(h)})
		}
	}
	r.text = r.canonical()
	return r, nil
}

// canonical writes the rule back in the form ParseRule reads.
func (r Rule) canonical() string {
	if len(r.Ports) == 0 {
		return r.Prefix.String()
	}
	parts := make([]string, len(r.Ports))
	for i, p := range r.Ports {
		parts[i] = strconv.Itoa(int(p.Lo))
		if p.Hi != p.Lo {
			parts[i] += "-" + strconv.Itoa(int(p.Hi))
		}
	}
	host := r.Prefix.String()
	if r.Prefix.Addr().Is6() {
		host = "[" + host + "]"
	}
	return host + ":" + strings.Join(parts, ",")
}

// MustParseRules parses rules that are known to be valid (the defaults).
func MustParseRules(ss ...string) []Rule {
	out := make([]Rule, 0, len(ss))
	for _, s := range ss {
		r, err := ParseRule(s)
		if err != nil {
			panic(err)
		}
		out = append(out, r)
	}
	return slices.Clip(out)
}
