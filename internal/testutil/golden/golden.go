// Package golden compares command lines built by pure functions with the
// files in a package's testdata/. Run the tests with -update to rewrite them.
package golden

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/source/proc"
)

var update = flag.Bool("update", false, "rewrite golden files")

// Render lists a command's path, arguments and environment, with secret
// replaced by <password>.
func Render(c proc.Cmd, secret string) string {
	var b strings.Builder
	b.WriteString("path: " + c.Path + "\n")
	for _, a := range c.Args {
		b.WriteString("arg: " + a + "\n")
	}
	for _, e := range c.Env {
		if secret != "" {
			e = strings.ReplaceAll(e, secret, "<password>")
		}
		b.WriteString("env: " + e + "\n")
	}
	return b.String()
}

// Check compares got with testdata/<name>.golden.
func Check(t *testing.T, name, got string) {
	t.Helper()
	path := "testdata/" + name + ".golden"
	if *update {
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s:\n%s", name, path, got)
	}
}
