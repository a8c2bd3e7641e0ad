package postgres

import (
	"strconv"
	"strings"

	"github.com/dbackup/dbackup/internal/source/proc"
)

// conninfo quotes a value for a libpq connection string.
func conninfo(key, value string) string {
	v := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(value)
	return key + "='" + v + "'"
}

// env is the connection environment of every client tool. The password is
// passed only here, never as an argument.
func (c *Config) env(password string) []string {
	env := []string{
		"PGHOST=" + c.Host,
		"PGPORT=" + strconv.Itoa(c.Port),
		"PGUSER=" + c.User,
		"PGSSLMODE=" + c.SSLMode,
		"PGAPPNAME=dbackup",
		"PGCONNECT_TIMEOUT=15",
	}
	if password != "" {
		env = append(env, "PGPASSWORD="+password)
	}
	return env
}

// DumpCommand dumps one database in custom format without pg_dump's own
// compression: dbackup compresses faster in its own pipeline.
// From PostgreSQL 14 on, the server checks every 2 s that pg_dump is still
// there, also while it waits on a lock: a killed pg_dump does not leave a
// session waiting for minutes.
func DumpCommand(c Config, password, db string, serverMajor int) proc.Cmd {
	env := c.env(password)
	if serverMajor >= 14 {
		env = append(env, "PGOPTIONS=-c client_connection_check_interval=2000")
	}
	return proc.Cmd{
		Path:    proc.Binary(c.BinDir, "pg_dump"),
		Args:    []string{"--format=custom", "--compress=0", "--no-password", "--dbname=" + conninfo("dbname", db)},
		Env:     env,
		Secrets: proc.Secrets(password),
	}
}

// RestoreCommand restores a custom-format dump read from stdin into db, a
// new empty database, and stops at the first error.
func RestoreCommand(c Config, password, db string) proc.Cmd {
	args := []string{"--exit-on-error", "--no-owner", "--no-acl", "--no-password", "--dbname=" + conninfo("dbname", db)}
	return proc.Cmd{
		Path:    proc.Binary(c.BinDir, "pg_restore"),
		Args:    args,
		Env:     c.env(password),
		Secrets: proc.Secrets(password),
	}
}
