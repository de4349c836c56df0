package sockmgr

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// HostPort is an address as a client wrote it, parsed and validated but not
// yet resolved: an IP literal, a host name, or (empty host) the wildcard.
type HostPort struct {
	IP   netip.Addr // the literal; invalid when Name is set or for the wildcard
	Name string     // a DNS host name, lower case, no trailing dot; "" for a literal
	Port uint16
}

// IsWildcard reports whether the host part was empty (":8090"): the
// unspecified address of the socket's family, as Python's bind(("", port)).
func (h HostPort) IsWildcard() bool { return !h.IP.IsValid() && h.Name == "" }

func (h HostPort) String() string {
	port := strconv.Itoa(int(h.Port))
	switch {
	case h.Name != "":
		return net.JoinHostPort(h.Name, port)
	case h.IP.IsValid():
		return netip.AddrPortFrom(h.IP, h.Port).String()
	default:
		return ":" + port
	}
}

// maxAddressLen bounds what the parser looks at: a bracketed IPv6 literal with
// a port is under 60 bytes and a DNS name is at most 253.
const maxAddressLen = 270

// ParseAddress parses "host:port" where host is a canonical IPv4 literal
// (127.0.0.1), a bracketed IPv6 literal ([::1]), a DNS host name (localhost),
// or empty (the wildcard). It is the one address parser of sockd, and it is
// strict on purpose: the spellings that C's inet_aton or getaddrinfo would
// quietly turn into an address (0x7f000001, 2130706433, 127.1, 010.0.0.1),
// IPv6 zones, and ports with signs or leading zeros are rejected, so what a
// policy checks is exactly what the kernel is given.
func ParseAddress(s string) (HostPort, error) {
	bad := func(why string) (HostPort, error) {
		return HostPort{}, detail(ErrInvalidAddress, "%q: %s", clip(s), why)
	}
	if s == "" {
		return bad("empty address")
	}
	if len(s) > maxAddressLen {
		return bad("too long")
	}
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return bad(ae.Err + " (want host:port, [ipv6]:port)")
		}
		return bad("want host:port")
	}
	port, ok := parsePort(portStr)
	if !ok {
		return bad("port must be a decimal number from 0 to 65535 without sign or leading zeros")
	}
	bracketed := strings.HasPrefix(s, "[")
	if host == "" {
		if bracketed {
			return bad("empty brackets")
		}
		return HostPort{Port: port}, nil
	}
	if strings.ContainsRune(host, '%') {
		return bad("IPv6 zones are not supported")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Is6() && !bracketed {
			return bad("an IPv6 literal needs brackets: [" + host + "]:" + portStr)
		}
		if ip.Is4() && bracketed {
			return bad("brackets are for IPv6 literals only")
		}
		return HostPort{IP: ip, Port: port}, nil
	}
	if bracketed {
		return bad("not an IPv6 literal inside the brackets")
	}
	if looksNumeric(host) {
		return bad("not a canonical IP address (write IPv4 as four decimal numbers without leading zeros)")
	}
	name, ok := canonicalHostname(host)
	if !ok {
		return bad("not a valid host name")
	}
	return HostPort{Name: name, Port: port}, nil
}

func parsePort(s string) (uint16, bool) {
	if s == "" || len(s) > 5 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0, false
	}
	return uint16(n), true
}

// looksNumeric reports whether a host that is not an IP literal would still be
// read as one by inet_aton-style parsers: its last label is all digits or a
// 0x hex number. No real top-level domain is numeric, so nothing valid is lost.
func looksNumeric(host string) bool {
	last := strings.TrimSuffix(host, ".")
	if i := strings.LastIndexByte(last, '.'); i >= 0 {
		last = last[i+1:]
	}
	if last == "" {
		return false
	}
	l := strings.ToLower(last)
	if strings.HasPrefix(l, "0x") {
		return true
	}
	for _, c := range []byte(l) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// canonicalHostname validates a DNS host name (RFC 1123 labels) and returns
// it in lower case without a trailing dot.
func canonicalHostname(h string) (string, bool) {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return "", false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return "", false
			}
		}
	}
	return strings.ToLower(h), true
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// Resolver looks up host names; *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// resolve turns a parsed address into the one IP and port that the socket of
// the given family will use. IPv4 literals on an IPv6 socket become
// IPv4-mapped addresses; IPv4-mapped literals on an IPv4 socket are unmapped.
func resolve(ctx context.Context, r Resolver, hp HostPort, fam Family) (netip.AddrPort, error) {
	var ip netip.Addr
	switch {
	case hp.IsWildcard():
		ip = netip.IPv4Unspecified()
		if fam == IPv6 {
			ip = netip.IPv6Unspecified()
		}
	case hp.IP.IsValid():
		ip = hp.IP
	case hp.Name == "localhost" || strings.HasSuffix(hp.Name, ".localhost"):
		// RFC 6761: localhost names are the loopback address, without
		// asking /etc/hosts or DNS (which may lack ::1, or lie).
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		if fam == IPv6 {
			ip = netip.IPv6Loopback()
		}
	default:
		network := "ip4"
		if fam == IPv6 {
			network = "ip6"
		}
		ips, err := r.LookupNetIP(ctx, network, hp.Name)
		if err != nil || len(ips) == 0 {
			why := "no address"
			var dnsErr *net.DNSError
			if errors.As(err, &dnsErr) {
				why = dnsErr.Err
			} else if err != nil {
				why = err.Error()
			}
			return netip.AddrPort{}, detail(ErrInvalidAddress, "%s does not resolve to an %s address: %s", hp.Name, fam, why)
		}
		ip = ips[0]
	}
	switch fam {
	case IPv4:
		ip = ip.Unmap()
		if !ip.Is4() {
			return netip.AddrPort{}, detail(ErrInvalidAddress, "%s is an IPv6 address and the socket is IPv4", hp)
		}
	case IPv6:
		if ip.Is4() {
			ip = netip.AddrFrom16(ip.As16())
		}
	}
	return netip.AddrPortFrom(ip, hp.Port), nil
}

func toSockaddr(ap netip.AddrPort) unix.Sockaddr {
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}

func fromSockaddr(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
	}
	return netip.AddrPort{}
}
