package main

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// docs/security.md lists every limit with its flag and default; this holds
// the page to the code, so a default changed in one place fails here until
// the other says the same.
func TestSecurityDocDefaultsMatchTheFlags(t *testing.T) {
	page, err := os.ReadFile("../../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseConfig(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	actual := map[string]int64{
		"--max-sockets":               int64(c.maxSockets),
		"--max-sockets-per-principal": int64(c.maxSocketsPerPrincipal),
		"--max-call-bytes":            int64(c.maxCallBytes),
		"--max-streams":               int64(c.maxStreams),
		"--rate":                      int64(c.rate),
		"--event-history":             int64(c.eventHistory),
		"--event-buffer":              int64(c.eventBuffer),
		"--max-streams-per-principal": int64(c.maxStreamsPerPrincipal),
		"--http-max-conns":            int64(c.httpMaxConns),
		"--grpc-max-conns":            int64(c.grpcMaxConns),
		"--rest-call-timeout":         int64(c.restCallTimeout.Seconds()),
		"--http-read-header-timeout":  int64(c.httpReadHeaderTimeout.Seconds()),
		"--http-write-timeout":        int64(c.httpWriteTimeout.Seconds()),
		"--http-idle-timeout":         int64(c.httpIdleTimeout.Seconds()),
		"--retain-bytes":              int64(c.retainBytes),
	}
	// | what | `--flag` (, `--other`) | default | over it |
	row := regexp.MustCompile("(?m)^\\| [^|]+ \\| `(--[a-z-]+)`[^|]* \\| ([0-9]+)( MiB)?[^|]* \\|")
	seen := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(string(page), -1) {
		flag, doc := m[1], m[2]
		want, ok := actual[flag]
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(doc, 10, 64)
		if m[3] != "" {
			n <<= 20
		}
		if n != want {
			t.Errorf("docs/security.md says %s defaults to %s%s; the flag's default is %d", flag, doc, m[3], want)
		}
		seen[flag] = true
	}
	for flag := range actual {
		if !seen[flag] {
			t.Errorf("docs/security.md's limits table does not give %s's default", flag)
		}
	}
	if idle := fmt.Sprintf("(default %g h;", c.idleTimeout.Hours()); !strings.Contains(string(page), idle) {
		t.Errorf("docs/security.md does not give the idle timeout's default as %q", idle)
	}
}
