package postgres

import (
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/source/proc"
	"github.com/dbackup/dbackup/internal/testutil/golden"
)

func TestCommandLines(t *testing.T) {
	t.Parallel()
	c := Config{Host: "db.example", Port: 5433, User: "backup", SSLMode: "require"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	const pw = "s3cr3t-pw"
	golden.Check(t, "dump", golden.Render(DumpCommand(c, pw, "shop"), pw))
	golden.Check(t, "dump_odd_name", golden.Render(DumpCommand(c, pw, `we'ird db=x\y`), pw))
	golden.Check(t, "restore", golden.Render(RestoreCommand(c, pw, "shop_copy", false), pw))
	golden.Check(t, "restore_clean", golden.Render(RestoreCommand(c, pw, "shop", true), pw))
	c.BinDir = "/usr/lib/postgresql/15/bin/"
	golden.Check(t, "dump_bindir", golden.Render(DumpCommand(c, "", "shop"), pw))
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
