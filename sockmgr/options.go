package sockmgr

import (
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

type optionKind uint8

const (
	optBool   optionKind = iota + 1 // 0 or 1
	optInt                          // an integer in [min, max]
	optLinger                       // struct linger as seconds, -1 = off
)

// optionSpec describes one socket option as socket(7), tcp(7), ip(7) and
// ipv6(7) name it.
type optionSpec struct {
	name     string
	level    int
	opt      int
	kind     optionKind
	proto    Protocol // 0: any protocol
	family   Family   // 0: any family
	readOnly bool
	min, max int // for optInt
}

var optionSpecs = map[string]*optionSpec{}

func init() {
	for _, o := range []optionSpec{
		{name: "SO_REUSEADDR", level: unix.SOL_SOCKET, opt: unix.SO_REUSEADDR, kind: optBool},
		{name: "SO_REUSEPORT", level: unix.SOL_SOCKET, opt: unix.SO_REUSEPORT, kind: optBool},
		{name: "SO_KEEPALIVE", level: unix.SOL_SOCKET, opt: unix.SO_KEEPALIVE, kind: optBool, proto: TCP},
		{name: "SO_BROADCAST", level: unix.SOL_SOCKET, opt: unix.SO_BROADCAST, kind: optBool, proto: UDP},
		// The kernel doubles the buffer sizes it is given (socket(7)); the
		// value read back is the doubled one, as getsockopt reports it.
		{name: "SO_RCVBUF", level: unix.SOL_SOCKET, opt: unix.SO_RCVBUF, kind: optInt, min: 0, max: 1 << 30},
		{name: "SO_SNDBUF", level: unix.SOL_SOCKET, opt: unix.SO_SNDBUF, kind: optInt, min: 0, max: 1 << 30},
		{name: "SO_LINGER", level: unix.SOL_SOCKET, opt: unix.SO_LINGER, kind: optLinger, proto: TCP},
		{name: "SO_ERROR", level: unix.SOL_SOCKET, opt: unix.SO_ERROR, kind: optInt, readOnly: true},
		{name: "SO_TYPE", level: unix.SOL_SOCKET, opt: unix.SO_TYPE, kind: optInt, readOnly: true},
		{name: "SO_ACCEPTCONN", level: unix.SOL_SOCKET, opt: unix.SO_ACCEPTCONN, kind: optBool, readOnly: true},
		{name: "TCP_NODELAY", level: unix.IPPROTO_TCP, opt: unix.TCP_NODELAY, kind: optBool, proto: TCP},
		{name: "TCP_KEEPIDLE", level: unix.IPPROTO_TCP, opt: unix.TCP_KEEPIDLE, kind: optInt, proto: TCP, min: 1, max: 32767},
		{name: "TCP_KEEPINTVL", level: unix.IPPROTO_TCP, opt: unix.TCP_KEEPINTVL, kind: optInt, proto: TCP, min: 1, max: 32767},
		{name: "TCP_KEEPCNT", level: unix.IPPROTO_TCP, opt: unix.TCP_KEEPCNT, kind: optInt, proto: TCP, min: 1, max: 127},
		{name: "IP_TTL", level: unix.IPPROTO_IP, opt: unix.IP_TTL, kind: optInt, family: IPv4, min: 1, max: 255},
		{name: "IP_TOS", level: unix.IPPROTO_IP, opt: unix.IP_TOS, kind: optInt, family: IPv4, min: 0, max: 255},
		{name: "IPV6_V6ONLY", level: unix.IPPROTO_IPV6, opt: unix.IPV6_V6ONLY, kind: optBool, family: IPv6},
		{name: "IPV6_UNICAST_HOPS", level: unix.IPPROTO_IPV6, opt: unix.IPV6_UNICAST_HOPS, kind: optInt, family: IPv6, min: 1, max: 255},
		{name: "IPV6_TCLASS", level: unix.IPPROTO_IPV6, opt: unix.IPV6_TCLASS, kind: optInt, family: IPv6, min: 0, max: 255},
	} {
		optionSpecs[o.name] = &o
	}
}

// optionPrefixes are the levels' prefixes a short name may leave out.
var optionPrefixes = []string{"SO_", "TCP_", "IP_", "IPV6_"}

// optionByName finds an option by its full name (SO_REUSEADDR) or by its
// name without the level's prefix (reuseaddr, nodelay, unicast_hops) when
// that is unique, case-insensitively.
func optionByName(name string) (*optionSpec, bool) {
	name = strings.ToUpper(strings.TrimSpace(name))
	if o, ok := optionSpecs[name]; ok {
		return o, true
	}
	var found *optionSpec
	for _, p := range optionPrefixes {
		if o, ok := optionSpecs[p+name]; ok {
			if found != nil {
				return nil, false // ambiguous (none today, but say so if one comes)
			}
			found = o
		}
	}
	return found, found != nil
}

// CanonicalOptionName is the socket(7) name of an option given by its full
// or short name, or "" if there is none.
func CanonicalOptionName(name string) string {
	if o, ok := optionByName(name); ok {
		return o.name
	}
	return ""
}

// OptionNames lists the supported option names, sorted.
func OptionNames() []string {
	names := make([]string, 0, len(optionSpecs))
	for n := range optionSpecs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// lookupOption finds an option by its socket(7) name, case-insensitively, and
// checks that it fits a socket of the given protocol and family.
func lookupOption(name string, proto Protocol, fam Family) (*optionSpec, error) {
	o, ok := optionByName(name)
	if !ok {
		return nil, detail(ErrInvalidOption, "unknown option %q (known: %s; the part after SO_, TCP_, IP_ or IPV6_ works too when it is unique)", clip(name), strings.Join(OptionNames(), ", "))
	}
	if o.proto != 0 && o.proto != proto {
		return nil, detail(ErrInvalidOption, "%s applies to %s sockets only, not %s", o.name, o.proto, proto)
	}
	if o.family != 0 && o.family != fam {
		return nil, detail(ErrInvalidOption, "%s applies to %s sockets only, not %s", o.name, o.family, fam)
	}
	return o, nil
}

// check validates a value for the option before it reaches the kernel.
func (o *optionSpec) check(v int) error {
	if o.readOnly {
		return detail(ErrInvalidOption, "%s is read-only", o.name)
	}
	switch o.kind {
	case optBool:
		if v != 0 && v != 1 {
			return detail(ErrInvalidArgument, "%s takes 0 or 1, not %d", o.name, v)
		}
	case optLinger:
		if v < -1 || v > 65535 {
			return detail(ErrInvalidArgument, "%s takes seconds from 0 to 65535, or -1 for off; not %d", o.name, v)
		}
	case optInt:
		if v < o.min || v > o.max {
			return detail(ErrInvalidArgument, "%s takes %d to %d, not %d", o.name, o.min, o.max, v)
		}
	}
	return nil
}

func (o *optionSpec) set(fd int, v int) error {
	if o.kind == optLinger {
		l := unix.Linger{}
		if v >= 0 {
			l = unix.Linger{Onoff: 1, Linger: int32(v)}
		}
		return unix.SetsockoptLinger(fd, o.level, o.opt, &l)
	}
	return unix.SetsockoptInt(fd, o.level, o.opt, v)
}

func (o *optionSpec) get(fd int) (int, error) {
	if o.kind == optLinger {
		l, err := unix.GetsockoptLinger(fd, o.level, o.opt)
		if err != nil {
			return 0, err
		}
		if l.Onoff == 0 {
			return -1, nil
		}
		return int(l.Linger), nil
	}
	v, err := unix.GetsockoptInt(fd, o.level, o.opt)
	if err != nil {
		return 0, err
	}
	if o.kind == optBool && v != 0 {
		v = 1
	}
	return v, nil
}
