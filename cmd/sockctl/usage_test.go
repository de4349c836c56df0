package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// One convention for every command: a wrong command line — too many
// arguments, too few, an unknown command or flag — exits 2 with the hint to
// --help, before anything is asked of sockd; nothing exits 1 for it.
func TestEveryCommandsUsageErrorsExit2(t *testing.T) {
	g := &globals{}
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			p := append(append([]string(nil), path...), sub.Name())
			paths = append(paths, p)
			walk(sub, p)
		}
	}
	walk(newRootCommand(g), nil)
	if len(paths) < 25 {
		t.Fatalf("only %d commands found", len(paths))
	}
	sockctl := func(args ...string) (int, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var out, errb bytes.Buffer
		// No sockd there: a command line that passes reaches sockd and fails
		// with UNAVAILABLE (24), not with a usage error.
		code := run(ctx, append([]string{"--addr", "127.0.0.1:1"}, args...), streams{in: strings.NewReader(""), out: &out, err: &errb})
		return code, errb.String()
	}
	for _, p := range paths {
		name := strings.Join(p, " ")
		usage := 0
		for _, args := range [][]string{p, append(append([]string(nil), p...), strings.Split("a b c d e f g h i", " ")...)} {
			code, stderr := sockctl(args...)
			switch code {
			case exitUsage:
				usage++
				if !strings.Contains(stderr, "Run 'sockctl --help' for usage.") {
					t.Errorf("%s: a usage error without the hint: %q", name, stderr)
				}
			case exitFailed:
				t.Errorf("sockctl %s: exit 1 for a command line (%q)", strings.Join(args, " "), stderr)
			}
		}
		// `lease` alone prints its help; `capture dump` takes any number of
		// sockets, none meaning all of them.
		if usage == 0 && name != "lease" && name != "capture dump" {
			t.Errorf("%s: neither no arguments nor nine is a usage error", name)
		}
	}
	for _, args := range [][]string{{"nosuchcommand"}, {"ls", "--nosuchflag"}, {"lease", "nosuch"}, {"-o", "xml", "ls"}, {"listen", "udp", "127.0.0.1:0", "--backlog", "5"}} {
		if code, stderr := sockctl(args...); code != exitUsage {
			t.Errorf("sockctl %s: exit %d, want 2 (%q)", strings.Join(args, " "), code, stderr)
		}
	}
}
