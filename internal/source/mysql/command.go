package mysql

import (
	"strconv"
	"strings"

	"github.com/dbackup/dbackup/internal/source/proc"
)

// DefaultDumpFlags make a consistent dump of InnoDB tables without locking
// them, with routines, triggers and events, binary data as hex.
var DefaultDumpFlags = []string{"--single-transaction", "--quick", "--routines", "--triggers", "--events", "--hex-blob"}

// DefaultsFile renders the client option file that carries the password,
// so that it never appears on a command line.
func DefaultsFile(password string) string {
	v := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(password)
	return "[client]\npassword=\"" + v + "\"\n"
}

// connArgs are the connection options every client takes. The defaults
// file must be the first option.
func (c *Config) connArgs(defaultsFile string) []string {
	args := []string{"--defaults-extra-file=" + defaultsFile, "--host=" + c.Host, "--port=" + strconv.Itoa(c.Port), "--user=" + c.User}
	if c.Socket != "" {
		args = []string{"--defaults-extra-file=" + defaultsFile, "--socket=" + c.Socket, "--user=" + c.User}
	}
	switch c.SSLMode {
	case "disable":
		args = append(args, "--skip-ssl")
	case "require":
		args = append(args, "--ssl")
	}
	return args
}

// DumpCommand dumps one database without CREATE DATABASE/USE statements,
// so that it can be restored under any name.
func DumpCommand(c Config, binary, defaultsFile, password, db string) proc.Cmd {
	flags := c.DumpFlags
	if flags == nil {
		flags = DefaultDumpFlags
	}
	args := append(c.connArgs(defaultsFile), flags...)
	args = append(args, "--", db)
	return proc.Cmd{Path: proc.Binary(c.BinDir, binary), Args: args, Secrets: proc.Secrets(password)}
}

// RestoreCommand feeds a dump read from stdin into database db, with the
// client's own commands (\! shell, \. source, tee, pager) turned off by
// noCommands: MariaDB's --sandbox or MySQL's --commands=OFF.
func RestoreCommand(c Config, binary, noCommands, defaultsFile, password, db string) proc.Cmd {
	args := append(c.connArgs(defaultsFile), noCommands, "--batch", "--database="+db)
	return proc.Cmd{Path: proc.Binary(c.BinDir, binary), Args: args, Secrets: proc.Secrets(password)}
}
