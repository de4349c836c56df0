package toxiproxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// apiError is toxiproxy's error body: {"error": "...", "status": N}.
type apiError struct {
	Message string `json:"error"`
	Status  int    `json:"status"`
}

func (e *apiError) Error() string { return e.Message }

func newError(status int, format string, args ...any) *apiError {
	return &apiError{Message: fmt.Sprintf(format, args...), Status: status}
}

// toxiproxy's own errors, word for word (its api.go).
var (
	errProxyNotFound      = &apiError{"proxy not found", http.StatusNotFound}
	errProxyAlreadyExists = &apiError{"proxy already exists", http.StatusConflict}
	errInvalidStream      = &apiError{"stream was invalid, can be either upstream or downstream", http.StatusBadRequest}
	errInvalidToxicType   = &apiError{"invalid toxic type", http.StatusBadRequest}
	errToxicAlreadyExists = &apiError{"toxic already exists", http.StatusConflict}
	errToxicNotFound      = &apiError{"toxic not found", http.StatusNotFound}
	errRouteNotFound      = &apiError{"not found", http.StatusNotFound}
)

// badBody is toxiproxy's 400 for a body that does not decode ("bad request
// body: " and the decoder's words), or a 413 when the body was over the
// HTTP side's limit.
func badBody(err error) *apiError {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return newError(http.StatusRequestEntityTooLarge, "bad request body: over the limit of %d bytes", tooLarge.Limit)
	}
	return newError(http.StatusBadRequest, "bad request body: %v", err)
}

// missingField is toxiproxy's 400 for a required field left out.
func missingField(what string) *apiError {
	return newError(http.StatusBadRequest, "missing required field: %s", what)
}

// WriteError writes toxiproxy's error body: {"error": msg, "status": code}.
func WriteError(w http.ResponseWriter, code int, msg string) {
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sockd"`)
	}
	writeJSON(w, code, &apiError{Message: msg, Status: code})
}

func writeAPIError(w http.ResponseWriter, e *apiError) { WriteError(w, e.Status, e.Message) }

// writeJSON writes v as the response, with a newline (for curl).
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encoding the response failed","status":500}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// reasonOf is the ErrorInfo reason of a sockd status ("" if it has none).
func reasonOf(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// metadataOf is the ErrorInfo metadata of a sockd status.
func metadataOf(st *status.Status) map[string]string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetMetadata()
		}
	}
	return nil
}

// fromStatus translates an error of a ProxyService call into toxiproxy's
// terms. The conditions toxiproxy has keep its status and words (a name
// taken: 409 "proxy already exists"; a port taken: 500 with Go's net
// error, as toxiproxy's net.Listen reports it); sockd's own conditions get
// the HTTP status the REST gateway gives them and sockd's message.
// listen is the address the call tried to listen on, for that message.
func fromStatus(err error, listen string) *apiError {
	st := status.Convert(err)
	reason := reasonOf(st)
	switch reason {
	case sockdv1.ErrorReason_PROXY_NOT_FOUND.String():
		return errProxyNotFound
	case sockdv1.ErrorReason_FAULT_NOT_FOUND.String():
		return errToxicNotFound
	case sockdv1.ErrorReason_FAULT_EXISTS.String():
		return errToxicAlreadyExists
	case sockdv1.ErrorReason_NAME_IN_USE.String():
		return errProxyAlreadyExists
	case sockdv1.ErrorReason_AUTH_THROTTLED.String():
		return &apiError{st.Message(), http.StatusTooManyRequests}
	case "EADDRINUSE":
		addr := listen
		if a := metadataOf(st)["address"]; a != "" {
			addr = a
		}
		return newError(http.StatusInternalServerError, "listen tcp %s: bind: address already in use", addr)
	}
	return &apiError{st.Message(), httpStatus(st.Code())}
}

// httpStatus is the HTTP status of a gRPC code, as sockd's REST gateway
// (grpc-gateway) answers it.
func httpStatus(c codes.Code) int {
	switch c {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.Canceled:
		return 499 // the client went away; nobody reads this
	case codes.Unimplemented:
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}
