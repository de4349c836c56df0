// Package sockaddr converts socket addresses between netip's form and the
// kernel's (struct sockaddr_in / sockaddr_in6), for the raw syscalls of
// sockmgr (bind, connect, accept4, getsockname) and relay (recvmmsg,
// sendmmsg), which take and fill the kernel's form without allocating.
// It imports only the standard library and x/sys/unix.
package sockaddr

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Raw is a socket address in the kernel's form: Any holds it, Len is its
// length (for a call that fills it: the room, then what was written).
type Raw struct {
	Any unix.RawSockaddrAny
	Len uint32
}

// Empty is a Raw with room for any address, for a call that fills it.
func Empty() Raw { return Raw{Len: unix.SizeofSockaddrAny} }

// From is ap in the kernel's form.
func From(ap netip.AddrPort) Raw {
	var r Raw
	port := ap.Port()
	if ap.Addr().Is4() {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&r.Any))
		sa.Family = unix.AF_INET
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		sa.Addr = ap.Addr().As4()
		r.Len = unix.SizeofSockaddrInet4
		return r
	}
	sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&r.Any))
	sa.Family = unix.AF_INET6
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	sa.Addr = ap.Addr().As16()
	r.Len = unix.SizeofSockaddrInet6
	return r
}

// AddrPort is r in netip's form; the zero AddrPort for a family other than
// IPv4 and IPv6.
func (r *Raw) AddrPort() netip.AddrPort {
	switch r.Any.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&r.Any))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(p[0])<<8|uint16(p[1]))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&r.Any))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(p[0])<<8|uint16(p[1]))
	}
	return netip.AddrPort{}
}
