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
	golden.Check(t, "dump", golden.Render(DumpCommand(c, pw, "shop", 15), pw))
	golden.Check(t, "dump_odd_name", golden.Render(DumpCommand(c, pw, `we'ird db=x\y`, 13), pw))
	golden.Check(t, "restore", golden.Render(RestoreCommand(c, pw, "shop_copy"), pw))
	c.BinDir = "/usr/lib/postgresql/15/bin/"
	golden.Check(t, "dump_bindir", golden.Render(DumpCommand(c, "", "shop", 15), pw))
}

func TestPasswordNeverInArguments(t *testing.T) {
	t.Parallel()
	c := Config{Host: "h"}
	c.Validate()
	for _, cmd := range []proc.Cmd{DumpCommand(c, "pw-canary", "d", 15), RestoreCommand(c, "pw-canary", "d")} {
		if strings.Contains(cmd.String(), "pw-canary") {
			t.Fatalf("password on the command line: %s", cmd)
		}
	}
}
