package policy

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// ParseFile reads a policy file: one rule per line, "allow-bind RULE" or
// "allow-connect RULE", with # comments and blank lines ignored.
//
//	# let harnesses listen on the test network
//	allow-bind    10.0.0.0/8:1024-65535
//	allow-connect 10.0.0.0/8
func ParseFile(r io.Reader) (bind, connect []Rule, err error) {
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		kind, rest, _ := strings.Cut(line, " ")
		rule, err := ParseRule(rest)
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", n, err)
		}
		switch kind {
		case "allow-bind":
			bind = append(bind, rule)
		case "allow-connect":
			connect = append(connect, rule)
		default:
			return nil, nil, fmt.Errorf("line %d: %q: want allow-bind or allow-connect", n, kind)
		}
	}
	return bind, connect, sc.Err()
}
