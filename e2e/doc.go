// Package e2e holds sockd's end-to-end tests: they build the real sockd and
// sockctl binaries, start sockd on free loopback ports, and drive it with
// real outside clients — grpcurl, curl, Python's socket module, nc/socat —
// and with the Go client. Run them with `make test` (or go test ./e2e).
package e2e
