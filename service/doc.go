// Package service is sockd's gRPC service: a thin adapter over sockmgr. It
// validates each request (INVALID_ARGUMENT naming the field), calls sockmgr
// with the caller's scope, converts the answer to the API's messages, and maps
// sockmgr's errors to gRPC statuses in one table (status.go).
//
// It may import sockmgr and gen; it knows nothing of flags, listeners or
// HTTP, which cmd/sockd wires.
package service
