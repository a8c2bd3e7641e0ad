package mysql

import (
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/source/proc"
	"github.com/dbackup/dbackup/internal/testutil/golden"
)

func TestCommandLines(t *testing.T) {
	t.Parallel()
	c := Config{Host: "db.example", SSLMode: "disable"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	const pw = `p"a\ss`
	golden.Check(t, "dump", golden.Render(DumpCommand(c, "mariadb-dump", "/tmp/my.cnf", pw, "shop"), ""))
	golden.Check(t, "dump_dash_name", golden.Render(DumpCommand(c, "mysqldump", "/tmp/my.cnf", pw, "-weird"), ""))
	golden.Check(t, "restore", golden.Render(RestoreCommand(c, "mariadb", "--sandbox", "/tmp/my.cnf", pw, "shop_copy"), ""))
	c.DumpFlags = []string{"--single-transaction", "--skip-lock-tables"}
	c.SSLMode, c.BinDir = "require", "/opt/mysql/bin"
	golden.Check(t, "dump_custom_flags", golden.Render(DumpCommand(c, "mysqldump", "/tmp/my.cnf", pw, "shop"), ""))
	if got := DefaultsFile(pw); got != "[client]\npassword=\"p\\\"a\\\\ss\"\n" {
		t.Fatalf("defaults file %q", got)
	}
	for _, cmd := range []proc.Cmd{DumpCommand(c, "x", "/f", pw, "d"), RestoreCommand(c, "x", "--commands=OFF", "/f", pw, "d")} {
		if strings.Contains(cmd.String(), pw) || !strings.HasPrefix(cmd.Args[0], "--defaults-extra-file=") {
			t.Fatalf("password or option order wrong: %s", cmd)
		}
	}
}

func TestUnsafeDumpFlagsRefused(t *testing.T) {
	t.Parallel()
	// Files written or read on this host, libraries loaded, passwords, and
	// what a dump's validation needs.
	for _, f := range []string{"--password=x", "--defaults-file=/etc/x", "-p", "--result-file=/etc/cron.d/x", "--plugin-dir=/tmp/evil",
		"--tab=/tmp", "--compact", "--skip-comments", "--no-create-info", "--single-transaction=1", "--default-character-set=../x", "--debug=d:o,/tmp/x"} {
		c := Config{Host: "h", DumpFlags: []string{f}}
		if err := c.Validate(); err == nil {
			t.Errorf("dump flag %q accepted", f)
		}
	}
	for _, f := range []string{"--single-transaction", "--skip-extended-insert", "--ignore-table=shop.sessions", "--max-allowed-packet=1G", "--set-gtid-purged=OFF"} {
		c := Config{Host: "h", DumpFlags: []string{f}}
		if err := c.Validate(); err != nil {
			t.Errorf("dump flag %q refused: %v", f, err)
		}
	}
}
