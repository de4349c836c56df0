package client

import (
	"strings"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// Reason is the sentinel error of one sockd reason (an ErrorReason value):
// errors.Is(err, client.ErrSocketNotFound) holds for every error sockd
// answered with that reason.
type Reason struct {
	code sockdv1.ErrorReason
	text string
}

func (r *Reason) Error() string { return r.text }

// Code is the reason's enum value; its String() is the reason on the wire.
func (r *Reason) Code() sockdv1.ErrorReason { return r.code }

// The sentinels, one per sockd.v1.ErrorReason (errors.proto says when sockd
// answers each); their text is the reason's name in lower case. This block
// is the client's one table of reasons: a test walks the enum and fails on a
// value that has no sentinel here.
var (
	ErrSocketNotFound    = reason(sockdv1.ErrorReason_SOCKET_NOT_FOUND)
	ErrLeaseNotFound     = reason(sockdv1.ErrorReason_LEASE_NOT_FOUND)
	ErrInvalidAddress    = reason(sockdv1.ErrorReason_INVALID_ADDRESS)
	ErrInvalidOption     = reason(sockdv1.ErrorReason_INVALID_OPTION)
	ErrInvalidArgument   = reason(sockdv1.ErrorReason_INVALID_ARGUMENT)
	ErrWrongState        = reason(sockdv1.ErrorReason_WRONG_STATE)
	ErrNameInUse         = reason(sockdv1.ErrorReason_NAME_IN_USE)
	ErrLimitExceeded     = reason(sockdv1.ErrorReason_LIMIT_EXCEEDED)
	ErrPolicyDenied      = reason(sockdv1.ErrorReason_POLICY_DENIED)
	ErrTimeout           = reason(sockdv1.ErrorReason_TIMEOUT)
	ErrCancelled         = reason(sockdv1.ErrorReason_CANCELLED)
	ErrShuttingDown      = reason(sockdv1.ErrorReason_SHUTTING_DOWN)
	ErrUnauthenticated   = reason(sockdv1.ErrorReason_UNAUTHENTICATED)
	ErrInternal          = reason(sockdv1.ErrorReason_INTERNAL)
	ErrCrossOrigin       = reason(sockdv1.ErrorReason_CROSS_ORIGIN)
	ErrHostNotAllowed    = reason(sockdv1.ErrorReason_HOST_NOT_ALLOWED)
	ErrMalformedRequest  = reason(sockdv1.ErrorReason_MALFORMED_REQUEST)
	ErrRouteNotFound     = reason(sockdv1.ErrorReason_ROUTE_NOT_FOUND)
	ErrMethodNotAllowed  = reason(sockdv1.ErrorReason_METHOD_NOT_ALLOWED)
	ErrAuthThrottled     = reason(sockdv1.ErrorReason_AUTH_THROTTLED)
	ErrOffsetUnavailable = reason(sockdv1.ErrorReason_OFFSET_UNAVAILABLE)
	ErrInvalidOffset     = reason(sockdv1.ErrorReason_INVALID_OFFSET)
	ErrProxyNotFound     = reason(sockdv1.ErrorReason_PROXY_NOT_FOUND)
	ErrRelayNotFound     = reason(sockdv1.ErrorReason_RELAY_NOT_FOUND)
	ErrFaultNotFound     = reason(sockdv1.ErrorReason_FAULT_NOT_FOUND)
	ErrFaultExists       = reason(sockdv1.ErrorReason_FAULT_EXISTS)
	ErrSocketInUse       = reason(sockdv1.ErrorReason_SOCKET_IN_USE)
	ErrCaptureDisabled   = reason(sockdv1.ErrorReason_CAPTURE_DISABLED)
	ErrInvalidCapture    = reason(sockdv1.ErrorReason_INVALID_CAPTURE)
)

// Deprecated: ErrLimit is ErrLimitExceeded, its old name.
var ErrLimit = ErrLimitExceeded

// reasons holds every sentinel by its enum value.
var reasons = map[sockdv1.ErrorReason]*Reason{}

func reason(code sockdv1.ErrorReason) *Reason {
	r := &Reason{code: code, text: strings.ToLower(strings.ReplaceAll(code.String(), "_", " "))}
	reasons[code] = r
	return r
}

// Sentinel is the sentinel of a sockd reason (nil for
// ERROR_REASON_UNSPECIFIED or a value this client does not know).
func Sentinel(code sockdv1.ErrorReason) *Reason { return reasons[code] }

// reasonByName is the sentinel of a reason as the wire spells it, if it is
// a sockd reason (not an errno name).
func reasonByName(name string) (*Reason, bool) {
	v, ok := sockdv1.ErrorReason_value[name]
	if !ok || v == 0 {
		return nil, false
	}
	r, ok := reasons[sockdv1.ErrorReason(v)]
	return r, ok
}
