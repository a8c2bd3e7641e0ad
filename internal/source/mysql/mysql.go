// Package mysql backs up and restores MariaDB and MySQL with their dump and
// client tools, and talks to the server with go-sql-driver for the rest.
package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	driver "github.com/go-sql-driver/mysql"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/plugin"
	"github.com/dbackup/dbackup/internal/source"
	"github.com/dbackup/dbackup/internal/source/proc"
)

// Type is the source type name (MariaDB and MySQL alike).
const Type = "mysql"

// Config is a MariaDB or MySQL server. The password is a secret.
type Config struct {
	Host string `json:"host" help:"server name or address"`
	// Socket reaches a server on this host through its Unix socket.
	Socket  string `json:"socket,omitempty" help:"the server's Unix socket on this host, instead of host and port"`
	Port    int    `json:"port" help:"default 3306"`
	User    string `json:"user"`
	SSLMode string `json:"sslmode" choices:"|preferred|require|disable" help:"default preferred"` // "preferred" (default), "require" or "disable"
	// DumpFlags replace DefaultDumpFlags when set.
	DumpFlags []string `json:"dump_flags,omitempty" help:"replace the default dump flags, one per line (passwords refused)"`
	BinDir    string   `json:"bin_dir,omitempty" host:"dir" help:"directory of mariadb-dump/mysqldump, one of the server's tool directories (empty: PATH)"`
}

// systemDatabases are never part of "all databases".
var systemDatabases = map[string]bool{"information_schema": true, "mysql": true, "performance_schema": true, "sys": true}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.Host == "" && c.Socket == "" {
		return fmt.Errorf("%w: host (or socket) is required", backup.ErrInvalid)
	}
	if c.Port == 0 {
		c.Port = 3306
	}
	if c.User == "" {
		c.User = "root"
	}
	switch c.SSLMode {
	case "":
		c.SSLMode = "preferred"
	case "preferred", "require", "disable":
	default:
		return fmt.Errorf("%w: sslmode %q (want preferred, require or disable)", backup.ErrInvalid, c.SSLMode)
	}
	for _, f := range c.DumpFlags {
		if err := checkDumpFlag(f); err != nil {
			return err
		}
	}
	return nil
}

// dumpFlags are the options a source may give the dump tool: what changes
// how the dump is taken or written, never where it goes, what the tool
// loads or reads, nor what a dump's validation needs (the header and the
// completion line: no --compact, --skip-comments, --no-create-info).
// Flags ending in "=" take a value.
var dumpFlags = []string{
	"--single-transaction", "--quick", "--skip-quick", "--routines", "--skip-routines", "--triggers", "--skip-triggers",
	"--events", "--skip-events", "--hex-blob", "--lock-tables", "--skip-lock-tables", "--lock-all-tables",
	"--add-drop-table", "--skip-add-drop-table", "--add-locks", "--skip-add-locks", "--extended-insert",
	"--skip-extended-insert", "--complete-insert", "--insert-ignore", "--replace", "--order-by-primary",
	"--tz-utc", "--skip-tz-utc", "--dump-date", "--skip-dump-date", "--compress", "--skip-opt", "--opt",
	"--default-character-set=", "--max-allowed-packet=", "--net-buffer-length=", "--set-gtid-purged=",
	"--column-statistics=", "--ignore-table=", "--skip-add-drop-trigger", "--add-drop-trigger",
}

func checkDumpFlag(f string) error {
	name, value, hasValue := strings.Cut(f, "=")
	for _, ok := range dumpFlags {
		if want, takesValue := strings.CutSuffix(ok, "="); want == name && takesValue == hasValue &&
			!strings.ContainsAny(value, "/\\") && !strings.ContainsFunc(value, unicode.IsControl) {
			return nil
		}
	}
	return fmt.Errorf("%w: dump flag %q is not allowed: flags that choose files, plugins or passwords, or that drop what a dump's validation needs (its header, its completion line), are refused; allowed: %s",
		backup.ErrInvalid, f, strings.Join(dumpFlags, " "))
}

// where names the server in messages.
func (c *Config) where() string {
	if c.Socket != "" {
		return c.Socket
	}
	return fmt.Sprintf("%s:%d", c.Host, c.Port)
}

// Source is one server.
type Source struct {
	cfg      Config
	password string
}

var _ source.Source = (*Source)(nil)

// Factory registers the MySQL/MariaDB source.
var Factory = plugin.Typed(Type, "MySQL / MariaDB", []string{"password"}, func(c Config, secrets map[string]string) (source.Source, error) {
	return New(c, secrets["password"])
})

// New validates c and returns the source.
func New(c Config, password string) (*Source, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Source{cfg: c, password: password}, nil
}

func (s *Source) db(ctx context.Context, name string) (*sql.DB, error) {
	dc := driver.NewConfig()
	dc.User, dc.Passwd, dc.Net, dc.Addr, dc.DBName = s.cfg.User, s.password, "tcp", net.JoinHostPort(s.cfg.Host, fmt.Sprint(s.cfg.Port)), name
	if s.cfg.Socket != "" {
		dc.Net, dc.Addr = "unix", s.cfg.Socket
	}
	dc.Timeout = 15 * time.Second
	switch s.cfg.SSLMode {
	case "require":
		dc.TLSConfig = "skip-verify"
	case "preferred":
		dc.TLSConfig = "preferred"
	}
	conn, err := driver.NewConnector(dc)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, s.explain(err, name)
	}
	return db, nil
}

func (s *Source) explain(err error, db string) error {
	var me *driver.MySQLError
	var ne net.Error
	switch {
	case errors.As(err, &me) && me.Number == 1045:
		return fmt.Errorf("authentication failed for user %q at %s: wrong password", s.cfg.User, s.cfg.where())
	case errors.As(err, &me) && me.Number == 1049:
		return fmt.Errorf("database %q does not exist on %s", db, s.cfg.where())
	case errors.As(err, &me):
		return fmt.Errorf("mysql %s: %s (error %d)", s.cfg.where(), me.Message, me.Number)
	case errors.As(err, &ne), strings.Contains(err.Error(), "connect"):
		return fmt.Errorf("cannot reach mysql at %s: %w", s.cfg.where(), err)
	}
	return fmt.Errorf("mysql %s: %w", s.cfg.where(), err)
}

// Check connects and authenticates.
func (s *Source) Check(ctx context.Context) error {
	db, err := s.db(ctx, "")
	if err != nil {
		return err
	}
	return db.Close()
}

// Version returns the server version, e.g. "10.11.19-MariaDB".
func (s *Source) Version(ctx context.Context) (string, error) {
	db, err := s.db(ctx, "")
	if err != nil {
		return "", err
	}
	defer db.Close()
	var v string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v); err != nil {
		return "", err
	}
	return normalizeVersion(v), nil
}

// normalizeVersion keeps the number and the MariaDB mark: "10.11.19-MariaDB".
func normalizeVersion(v string) string {
	num, rest, _ := strings.Cut(v, "-")
	if strings.Contains(strings.ToLower(rest), "mariadb") {
		return num + "-MariaDB"
	}
	return num
}

// ListDatabases lists user databases (system schemas excluded).
func (s *Source) ListDatabases(ctx context.Context) ([]string, error) {
	db, err := s.db(ctx, "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	all, err := queryStrings(ctx, db, "SHOW DATABASES")
	return slices.DeleteFunc(all, func(n string) bool { return systemDatabases[n] }), err
}

// Plan resolves the databases; one is a plain SQL dump, several a tar.
func (s *Source) Plan(ctx context.Context, dbs []string) (source.Plan, error) {
	all, err := s.ListDatabases(ctx)
	if err != nil {
		return source.Plan{}, err
	}
	if dbs, err = source.Resolve(all, dbs, s.cfg.where()); err != nil {
		return source.Plan{}, err
	}
	v, err := s.Version(ctx)
	if err != nil {
		return source.Plan{}, err
	}
	p := source.Plan{Databases: dbs, Format: "sql", Ext: "sql", EngineVersion: v, Tables: map[string][]string{}}
	if warn, err := s.checkClient(ctx, v); err != nil {
		return source.Plan{}, err
	} else if warn != "" {
		p.Warnings = append(p.Warnings, warn)
	}
	if len(dbs) > 1 {
		p.Format, p.Ext = "tar", "tar"
	}
	for _, db := range dbs {
		if p.Tables[db], err = s.tables(ctx, db); err != nil {
			return source.Plan{}, err
		}
	}
	return p, nil
}

// distribVersion and verVersion find the server version a dump client was built for:
// "Distrib 10.11.18-MariaDB," (MariaDB, and MySQL before 8) or "Ver 8.0.36 ".
var (
	distribVersion = regexp.MustCompile(`Distrib (\d+(?:\.\d+)*)`)
	verVersion     = regexp.MustCompile(`Ver (\d+(?:\.\d+)+)[ ,]`)
)

// checkClient refuses a dump client older than the server; one of the
// other vendor (mysqldump of MySQL against MariaDB) is only a warning.
func (s *Source) checkClient(ctx context.Context, server string) (string, error) {
	tool := proc.Binary(s.cfg.BinDir, s.tool("mariadb-dump", "mysqldump"))
	mariadb := strings.HasSuffix(server, "-MariaDB")
	fix := "install a mariadb-client at least as new as the server (Debian: apt-get install mariadb-client; the container image has Debian's), or set the source's bin_dir to a directory holding one"
	if !mariadb {
		fix = "install MySQL's client tools at least as new as the server (mysqldump), or set the source's bin_dir to a directory holding them"
	}
	otherVendor := ""
	warn, err := source.ClientCheck{
		Tool: tool, Server: server, Parts: 2, MuchNewer: 1, Fix: fix,
		Parse: func(out string) string {
			m := distribVersion.FindStringSubmatch(out)
			if m == nil {
				m = verVersion.FindStringSubmatch(out)
			}
			if m == nil {
				return ""
			}
			v := m[1]
			if strings.Contains(out, "MariaDB") != mariadb {
				otherVendor = v
				return ""
			}
			return v
		},
	}.Check(ctx)
	if otherVendor != "" {
		return fmt.Sprintf("%s is %s's (%s) and the server is %s: dumps across vendors may miss what only one of them has", tool,
			map[bool]string{true: "MariaDB", false: "MySQL"}[!mariadb], otherVendor, server), nil
	}
	return warn, err
}

// tables lists the base tables of a database: each must be in its dump.
func (s *Source) tables(ctx context.Context, name string) ([]string, error) {
	db, err := s.db(ctx, "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return queryStrings(ctx, db, "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE' ORDER BY table_name", name)
}

// queryStrings runs a query of one text column and returns its values.
func queryStrings(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// tool picks the MariaDB name of a client when it exists, else the MySQL one.
func (s *Source) tool(mariadb, mysql string) string {
	if _, err := exec.LookPath(proc.Binary(s.cfg.BinDir, mariadb)); err == nil {
		return mariadb
	}
	return mysql
}

// withDefaultsFile writes the password to a 0600 option file for one
// command and removes it afterwards.
func (s *Source) withDefaultsFile(fn func(path string) error) error {
	return proc.WithSecretFile("dbackup-my-*.cnf", DefaultsFile(s.password), fn)
}

// Dump runs the dump tool for each planned database.
func (s *Source) Dump(ctx context.Context, p source.Plan, w io.Writer, log *slog.Logger) error {
	if p.Format == "sql" {
		return s.dumpOne(ctx, p.Databases[0], w, log)
	}
	return source.DumpMany(ctx, w, Type, p, "sql", "sql", func(ctx context.Context, db string, w io.Writer) error {
		return s.dumpOne(ctx, db, w, log)
	})
}

func (s *Source) dumpOne(ctx context.Context, db string, w io.Writer, log *slog.Logger) error {
	return s.withDefaultsFile(func(defaults string) error {
		cmd := DumpCommand(s.cfg, s.tool("mariadb-dump", "mysqldump"), defaults, s.password, db)
		return source.RunDump(ctx, cmd, db, w, log)
	})
}

// Restore restores a single dump or a multi-database tar, each database
// through a scratch database swapped in once complete.
func (s *Source) Restore(ctx context.Context, format string, r io.Reader, opts source.RestoreOptions, log *slog.Logger) error {
	return source.RestoreFormat(ctx, format, "sql", Type, r, opts, log, func(ctx context.Context, r io.Reader, from, target string) error {
		return source.RestoreSwapped(ctx, s, r, from, target, opts, log)
	})
}

// Close releases nothing: connections are opened per call.
func (s *Source) Close() error { return nil }
