package service

import (
	"strings"
	"unicode/utf8"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
	"github.com/sockd/sockd/sockmgr"
)

// maxRefLen bounds an id or name in a request (ids are 24, names 63).
const maxRefLen = 64

func checkID(field, id string) error {
	switch {
	case id == "":
		return invalidField(field, ReasonInvalidArgument, "required: the socket's id or name")
	case len(id) > maxRefLen || !utf8.ValidString(id):
		return invalidField(field, ReasonInvalidArgument, "not a socket id or name")
	}
	return nil
}

func checkAddress(field, address string) error {
	if address == "" {
		return invalidField(field, ReasonInvalidAddress, "required: host:port")
	}
	if _, err := sockmgr.ParseAddress(address); err != nil {
		return invalidField(field, ReasonInvalidAddress, "%v", err)
	}
	return nil
}

func protocolFrom(field string, p sockdv1.Protocol) (sockmgr.Protocol, error) {
	switch p {
	case sockdv1.Protocol_PROTOCOL_UNSPECIFIED, sockdv1.Protocol_PROTOCOL_TCP:
		return sockmgr.TCP, nil
	case sockdv1.Protocol_PROTOCOL_UDP:
		return sockmgr.UDP, nil
	}
	return 0, invalidField(field, ReasonInvalidArgument, "unknown protocol %d (want PROTOCOL_TCP or PROTOCOL_UDP)", p)
}

func familyFrom(field string, f sockdv1.Family) (sockmgr.Family, error) {
	switch f {
	case sockdv1.Family_FAMILY_UNSPECIFIED, sockdv1.Family_FAMILY_IPV4:
		return sockmgr.IPv4, nil
	case sockdv1.Family_FAMILY_IPV6:
		return sockmgr.IPv6, nil
	}
	return 0, invalidField(field, ReasonInvalidArgument, "unknown family %d (want FAMILY_IPV4 or FAMILY_IPV6)", f)
}

func stateFrom(field string, s sockdv1.State) (sockmgr.State, error) {
	if s == sockdv1.State_STATE_UNSPECIFIED {
		return 0, nil
	}
	for k, v := range stateNames {
		if v == s {
			return k, nil
		}
	}
	return 0, invalidField(field, ReasonInvalidArgument, "unknown state %d", s)
}

func shutdownFrom(field string, h sockdv1.ShutdownHow) (sockmgr.ShutdownHow, error) {
	switch h {
	case sockdv1.ShutdownHow_SHUTDOWN_HOW_READ:
		return sockmgr.ShutRead, nil
	case sockdv1.ShutdownHow_SHUTDOWN_HOW_WRITE:
		return sockmgr.ShutWrite, nil
	case sockdv1.ShutdownHow_SHUTDOWN_HOW_BOTH:
		return sockmgr.ShutBoth, nil
	}
	return 0, invalidField(field, ReasonInvalidArgument, "required: SHUTDOWN_HOW_READ, SHUTDOWN_HOW_WRITE or SHUTDOWN_HOW_BOTH")
}

// ParseLabelSelector parses "k=v,k2=v2" (kubectl's equality selectors).
func ParseLabelSelector(sel string) (map[string]string, error) {
	if strings.TrimSpace(sel) == "" {
		return nil, nil
	}
	out := map[string]string{}
	for _, part := range strings.Split(sel, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, sockmgr.ErrInvalidArgument
		}
		out[k] = strings.TrimSpace(v)
	}
	if err := sockmgr.ValidateLabels(out); err != nil {
		return nil, err
	}
	return out, nil
}

func labelSelector(field, sel string) (map[string]string, error) {
	m, err := ParseLabelSelector(sel)
	if err != nil {
		return nil, invalidField(field, ReasonInvalidArgument, "want k=v[,k2=v2...]: %v", err)
	}
	return m, nil
}

// checkMaxBytes validates a receive size against the per-call limit.
func (s *Server) checkMaxBytes(field string, n int32) error {
	switch {
	case n <= 0:
		return invalidField(field, ReasonInvalidArgument, "required: a positive number of bytes (at most %d)", s.cfg.MaxBytesPerCall)
	case int(n) > s.cfg.MaxBytesPerCall:
		return limitExceeded("max bytes per call", s.cfg.MaxBytesPerCall, int(n))
	}
	return nil
}

// payload returns the bytes of a data-or-text oneof, checked against the
// per-call limit.
func (s *Server) payload(data []byte, text string, isText bool) ([]byte, error) {
	if isText {
		data = []byte(text)
	}
	if len(data) > s.cfg.MaxBytesPerCall {
		return nil, limitExceeded("max bytes per call", s.cfg.MaxBytesPerCall, len(data))
	}
	return data, nil
}

// asText fills a response's text field: the bytes as UTF-8, with the exact
// bytes kept in data only when they are not valid UTF-8.
func asText(data []byte) (keep []byte, text string) {
	if utf8.Valid(data) {
		return nil, string(data)
	}
	return data, strings.ToValidUTF8(string(data), "\uFFFD")
}
