package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The tours of the README and docs/cli.md, run as written against a real
// sockd: every block marked <!-- tour ... --> is executed by bash in order,
// with the documents' ports swapped for free ones. step=run blocks must
// succeed and print no error (except in the errors section), and their
// output must contain expect="..." if given; step=peer blocks run in the
// background as the Python side, and their output must contain expect.
func TestDocsTours(t *testing.T) {
	for _, doc := range []struct {
		file      string
		minBlocks int
		needs     []string // commands the tour runs besides bash, curl and python3
	}{{"README.md", 8, nil}, {"docs/cli.md", 10, nil}, {"docs/proxies.md", 9, nil}, {"docs/capture.md", 6, []string{"tshark"}}} {
		t.Run(doc.file, func(t *testing.T) {
			for _, c := range doc.needs {
				needCommand(t, c, "apt-get install "+c)
			}
			runTour(t, doc.file, doc.minBlocks)
		})
	}
}

func runTour(t *testing.T, file string, minBlocks int) {
	text, err := os.ReadFile(filepath.Join(repoRoot(), file))
	if err != nil {
		t.Fatal(err)
	}
	steps := parseTour(string(text))
	if len(steps) < minBlocks {
		t.Fatalf("found only %d tour blocks in %s", len(steps), file)
	}
	d := startSockd(t)
	swap := []string{"localhost:8080", d.HTTP, "localhost:50051", d.GRPC}
	for _, p := range []string{"65432", "65433", "65434", "65435", "65436"} {
		swap = append(swap, p, freePort(t))
	}
	replacer := strings.NewReplacer(swap...)

	type peer struct {
		cmd    *exec.Cmd
		out    *bytes.Buffer
		expect string
	}
	var peers []peer
	finishSection := func(name string) {
		for _, p := range peers {
			done := make(chan error, 1)
			go func() { done <- p.cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("tour %s: peer failed: %v\n%s", name, err, p.out)
				}
			case <-time.After(30 * time.Second):
				p.cmd.Process.Kill()
				t.Fatalf("tour %s: peer did not finish:\n%s", name, p.out)
			}
			if !strings.Contains(p.out.String(), p.expect) {
				t.Fatalf("tour %s: peer printed %q, want %q", name, p.out, p.expect)
			}
		}
		peers = nil
	}
	section := ""
	for _, st := range steps {
		if st.section != section {
			finishSection(section)
			section = st.section
		}
		script := replacer.Replace(st.code)
		switch st.step {
		case "peer":
			var out bytes.Buffer
			cmd := exec.Command("bash", "-c", script)
			cmd.Dir, cmd.Stdout, cmd.Stderr = repoRoot(), &out, &out
			cmd.WaitDelay = 5 * time.Second
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill() })
			peers = append(peers, peer{cmd: cmd, out: &out, expect: st.expect})
			if st.listens != "" {
				port := replacer.Replace(st.listens)
				// Ask the kernel (a test connection would use up the
				// tutorial server's one accept).
				kind := "-ltnH"
				if st.udp {
					kind = "-lunH"
				}
				waitFor(t, "the tour's peer to listen on "+port, func() bool {
					r := run(t, nil, "ss", kind, "sport", "=", ":"+port)
					return strings.TrimSpace(r.stdout) != ""
				})
			}
		case "run":
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
			cmd.Dir = repoRoot()
			cmd.Env = append(os.Environ(), "SOCKD_ADDR="+d.GRPC) // sockctl's default is the README's port
			cmd.WaitDelay = 5 * time.Second                      // a hung child must not hang the test
			out, err := cmd.CombinedOutput()
			cancel()
			if err != nil {
				t.Fatalf("tour %s: block failed: %v\n%s\n--- output:\n%s", section, err, script, out)
			}
			isError := regexp.MustCompile(`"code":\s*[1-9]|ERROR:`).Match(out)
			if section == "errors" {
				if !bytes.Contains(out, []byte("ECONNREFUSED")) {
					t.Fatalf("tour errors: %s", out)
				}
			} else if isError {
				t.Fatalf("tour %s: an error in:\n%s\n--- output:\n%s", section, script, out)
			}
			if !bytes.Contains(out, []byte(st.expect)) {
				t.Fatalf("tour %s: output lacks %q:\n%s", section, st.expect, out)
			}
			// A command's comment that shows JSON (# {"eof":true}) is what
			// the command answers: some line of the output has those fields.
			for _, want := range jsonComments(st.code) {
				if !someLineHas(out, want) {
					t.Fatalf("tour %s: no output line has %v (the comment says it should):\n%s", section, want, out)
				}
			}
		}
	}
	finishSection(section)
}

type tourStep struct {
	section, step, listens, expect, code string
	udp                                  bool
}

var tourMarker = regexp.MustCompile("(?s)<!-- tour ([^>]*)-->\\s*```sh\\n(.*?)```")
var tourAttr = regexp.MustCompile(`(\w+)=("[^"]*"|\S+)`)

func parseTour(readme string) []tourStep {
	var steps []tourStep
	for _, m := range tourMarker.FindAllStringSubmatch(readme, -1) {
		st := tourStep{code: m[2]}
		for _, a := range tourAttr.FindAllStringSubmatch(m[1], -1) {
			v := strings.Trim(a[2], `"`)
			switch a[1] {
			case "section":
				st.section = v
			case "step":
				st.step = v
			case "listens":
				st.listens = v
			case "expect":
				st.expect = v
			case "udp":
				st.udp = v == "true"
			}
		}
		steps = append(steps, st)
	}
	return steps
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	u, err := net.ListenPacket("udp4", l.Addr().String()) // free for UDP too
	if err != nil {
		return freePort(t)
	}
	u.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// jsonComments are the JSON objects shown in a block's trailing comments.
func jsonComments(code string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(code, "\n") {
		_, comment, ok := strings.Cut(line, "# {")
		if !ok {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte("{"+comment), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// someLineHas reports whether a line of output is a JSON object with every
// field of want.
func someLineHas(out []byte, want map[string]any) bool {
	for _, line := range bytes.Split(out, []byte("\n")) {
		var got map[string]any
		if json.Unmarshal(line, &got) != nil {
			continue
		}
		all := true
		for k, v := range want {
			if fmt.Sprint(got[k]) != fmt.Sprint(v) {
				all = false
			}
		}
		if all {
			return true
		}
	}
	return false
}
