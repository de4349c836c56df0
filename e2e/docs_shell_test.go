package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every shell block of the README and docs/ is valid shell as written
// (bash -n): a "\" before a comment, say, which ends the command and runs
// the next lines as commands of their own, fails here. The tours run their
// blocks for real (TestDocsTours); this covers every other block.
func TestDocsShellBlocksParse(t *testing.T) {
	bash := needCommand(t, "bash", "apt-get install bash")
	files, _ := filepath.Glob(filepath.Join(repoRoot(), "docs", "*.md"))
	files = append(files, filepath.Join(repoRoot(), "README.md"), filepath.Join(repoRoot(), "CONTRIBUTING.md"))
	block := regexp.MustCompile("(?ms)^```(sh|bash|shell)\n(.*?)^```")
	checked := 0
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range block.FindAllSubmatchIndex(text, -1) {
			code := string(text[m[4]:m[5]])
			line := 1 + strings.Count(string(text[:m[0]]), "\n")
			cmd := exec.Command(bash, "-n")
			cmd.Stdin = strings.NewReader(code)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s:%d: not valid shell: %v\n%s", filepath.Base(f), line, err, out)
			}
			// A backslash continuation followed by a comment is valid
			// shell that does not do what it says.
			for i, l := range strings.Split(code, "\n") {
				if regexp.MustCompile(`\\\s+#`).MatchString(l) {
					t.Errorf("%s:%d: a comment after a line continuation ends the command: %q", filepath.Base(f), line+1+i, l)
				}
			}
			checked++
		}
	}
	if checked < 10 {
		t.Fatalf("only %d shell blocks found: the pattern is wrong", checked)
	}
}
