package postgres

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/source/proc"
)

var update = flag.Bool("update", false, "rewrite golden files")

func render(c proc.Cmd, password string) string {
	var b strings.Builder
	b.WriteString("path: " + c.Path + "\n")
	for _, a := range c.Args {
		b.WriteString("arg: " + a + "\n")
	}
	for _, e := range c.Env {
		b.WriteString("env: " + strings.ReplaceAll(e, password, "<password>") + "\n")
	}
	return b.String()
}

func golden(t *testing.T, name, got string) {
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

func TestCommandLines(t *testing.T) {
	t.Parallel()
	c := Config{Host: "db.example", Port: 5433, User: "backup", SSLMode: "require"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	const pw = "s3cr3t-pw"
	golden(t, "dump", render(DumpCommand(c, pw, "shop"), pw))
	golden(t, "dump_odd_name", render(DumpCommand(c, pw, `we'ird db=x\y`), pw))
	golden(t, "restore", render(RestoreCommand(c, pw, "shop_copy", false), pw))
	golden(t, "restore_clean", render(RestoreCommand(c, pw, "shop", true), pw))
	c.BinDir = "/usr/lib/postgresql/15/bin/"
	golden(t, "dump_bindir", render(DumpCommand(c, "", "shop"), pw))
}

func TestPasswordNeverInArguments(t *testing.T) {
	t.Parallel()
	c := Config{Host: "h"}
	c.Validate()
	for _, cmd := range []proc.Cmd{DumpCommand(c, "pw-canary", "d"), RestoreCommand(c, "pw-canary", "d", true)} {
		if strings.Contains(cmd.String(), "pw-canary") {
			t.Fatalf("password on the command line: %s", cmd)
		}
	}
}
