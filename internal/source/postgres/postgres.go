// Package postgres backs up and restores PostgreSQL with pg_dump and
// pg_restore, and talks to the server with pgx for everything else.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/plugin"
	"github.com/dbackup/dbackup/internal/source"
	"github.com/dbackup/dbackup/internal/source/proc"
)

// Type is the source type name.
const Type = "postgres"

// Config is a PostgreSQL source's configuration. The password is a secret.
type Config struct {
	Host string `json:"host" help:"server name or address"`
	Port int    `json:"port" help:"default 5432"`
	User string `json:"user" help:"default postgres"`
	// MaintenanceDB is where dbackup connects to list and create databases.
	MaintenanceDB string `json:"maintenance_db" help:"where dbackup connects to list and create databases (default postgres)"`
	SSLMode       string `json:"sslmode" choices:"|disable|allow|prefer|require|verify-ca|verify-full" help:"libpq sslmode (default prefer)"`
	// BinDir holds pg_dump and pg_restore; empty means PATH.
	BinDir string `json:"bin_dir,omitempty" host:"dir" help:"directory of pg_dump and pg_restore, one of the server's tool directories (empty: PATH)"`
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.Host == "" {
		return fmt.Errorf("%w: host is required", backup.ErrInvalid)
	}
	if c.Port == 0 {
		c.Port = 5432
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("%w: port %d out of range", backup.ErrInvalid, c.Port)
	}
	if c.User == "" {
		c.User = "postgres"
	}
	if c.MaintenanceDB == "" {
		c.MaintenanceDB = "postgres"
	}
	switch c.SSLMode {
	case "":
		c.SSLMode = "prefer"
	case "disable", "allow", "prefer", "require", "verify-ca", "verify-full":
	default:
		return fmt.Errorf("%w: sslmode %q", backup.ErrInvalid, c.SSLMode)
	}
	return nil
}

// Source is one PostgreSQL server.
type Source struct {
	cfg      Config
	password string
}

var _ source.Source = (*Source)(nil)

// Factory registers the PostgreSQL source.
var Factory = plugin.Typed(Type, "PostgreSQL", []string{"password"}, func(c Config, secrets map[string]string) (source.Source, error) {
	return New(c, secrets["password"])
})

// New validates c and returns the source.
func New(c Config, password string) (*Source, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Source{cfg: c, password: password}, nil
}

func (s *Source) connect(ctx context.Context, db string) (*pgx.Conn, error) {
	cs := strings.Join([]string{
		conninfo("host", s.cfg.Host), conninfo("port", strconv.Itoa(s.cfg.Port)), conninfo("user", s.cfg.User),
		conninfo("dbname", db), conninfo("sslmode", s.cfg.SSLMode), "connect_timeout=15",
	}, " ")
	pc, err := pgx.ParseConfig(cs)
	if err != nil {
		return nil, err
	}
	pc.Password = s.password
	conn, err := pgx.ConnectConfig(ctx, pc)
	if err != nil {
		return nil, explain(err, s.cfg, db)
	}
	return conn, nil
}

// explain turns a connection error into a message a user can act on.
func explain(err error, c Config, db string) error {
	var pe *pgconn.PgError
	var ne net.Error
	switch {
	case errors.As(err, &pe) && pe.Code == "28P01":
		return fmt.Errorf("authentication failed for user %q at %s:%d: wrong password", c.User, c.Host, c.Port)
	case errors.As(err, &pe) && pe.Code == "3D000":
		return fmt.Errorf("database %q does not exist on %s:%d", db, c.Host, c.Port)
	case errors.As(err, &pe):
		return fmt.Errorf("postgres %s:%d: %s (SQLSTATE %s)", c.Host, c.Port, pe.Message, pe.Code)
	case errors.As(err, &ne) || strings.Contains(err.Error(), "connect"):
		return fmt.Errorf("cannot reach postgres at %s:%d: %w", c.Host, c.Port, err)
	}
	return fmt.Errorf("postgres %s:%d: %w", c.Host, c.Port, err)
}

// Check connects to the maintenance database.
func (s *Source) Check(ctx context.Context) error {
	conn, err := s.connect(ctx, s.cfg.MaintenanceDB)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// Version returns the server version, e.g. "15.20".
func (s *Source) Version(ctx context.Context) (string, error) {
	conn, err := s.connect(ctx, s.cfg.MaintenanceDB)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "", err
	}
	return strings.Fields(v)[0], nil
}

// ListDatabases lists every database that accepts connections, no templates.
func (s *Source) ListDatabases(ctx context.Context) ([]string, error) {
	conn, err := s.connect(ctx, s.cfg.MaintenanceDB)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn ORDER BY datname")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Plan resolves the databases; one is dumped as is, several into a tar.
func (s *Source) Plan(ctx context.Context, dbs []string) (source.Plan, error) {
	all, err := s.ListDatabases(ctx)
	if err != nil {
		return source.Plan{}, err
	}
	if dbs, err = source.Resolve(all, dbs, fmt.Sprintf("%s:%d", s.cfg.Host, s.cfg.Port)); err != nil {
		return source.Plan{}, err
	}
	v, err := s.Version(ctx)
	if err != nil {
		return source.Plan{}, err
	}
	p := source.Plan{Databases: dbs, Format: "pg_custom", Ext: "dump", EngineVersion: v}
	if warn, err := s.checkClient(ctx, v); err != nil {
		return source.Plan{}, err
	} else if warn != "" {
		p.Warnings = append(p.Warnings, warn)
	}
	if len(dbs) > 1 {
		p.Format, p.Ext = "tar", "tar"
	}
	return p, nil
}

var pgDumpVersion = regexp.MustCompile(`\(PostgreSQL\) (\d+(?:\.\d+)*)`)

// checkClient refuses a pg_dump older than the server: it refuses to
// dump it, or worse, misses what it does not know.
func (s *Source) checkClient(ctx context.Context, server string) (string, error) {
	major, _, _ := strings.Cut(server, ".")
	return source.ClientCheck{
		Tool: proc.Binary(s.cfg.BinDir, "pg_dump"), Server: server, Parts: 1, MuchNewer: 4,
		Parse: func(out string) string {
			if m := pgDumpVersion.FindStringSubmatch(out); m != nil {
				return m[1]
			}
			return ""
		},
		Fix: fmt.Sprintf("install postgresql-client-%s or newer (Debian/Ubuntu: from apt.postgresql.org; the container image: a newer image), "+
			"or set the source's bin_dir to a directory holding pg_dump %s or newer", major, major),
	}.Check(ctx)
}

// Dump runs pg_dump for each planned database.
func (s *Source) Dump(ctx context.Context, p source.Plan, w io.Writer, log *slog.Logger) error {
	major, _ := strconv.Atoi(strings.Split(p.EngineVersion, ".")[0])
	if p.Format == "pg_custom" {
		return s.dumpOne(ctx, p.Databases[0], major, w, log)
	}
	return source.DumpMany(ctx, w, Type, p, "dump", "pg_custom", func(ctx context.Context, db string, w io.Writer) error {
		return s.dumpOne(ctx, db, major, w, log)
	})
}

func (s *Source) dumpOne(ctx context.Context, db string, major int, w io.Writer, log *slog.Logger) error {
	cmd := DumpCommand(s.cfg, s.password, db, major)
	return source.RunDump(ctx, cmd, db, w, log)
}

// Restore restores a single dump or a multi-database tar, each database
// through a scratch database swapped in once complete.
func (s *Source) Restore(ctx context.Context, format string, r io.Reader, opts source.RestoreOptions, log *slog.Logger) error {
	return source.RestoreFormat(ctx, format, "pg_custom", Type, r, opts, log, func(ctx context.Context, r io.Reader, from, target string) error {
		return source.RestoreSwapped(ctx, s, r, from, target, opts, log)
	})
}

var _ source.Swapper = (*Source)(nil)

// maxName is PostgreSQL's longest identifier.
const maxName = 63

// Inspect tells whether db exists and how many relations it holds.
func (s *Source) Inspect(ctx context.Context, db string) (source.Target, error) {
	conn, err := s.connect(ctx, s.cfg.MaintenanceDB)
	if err != nil {
		return source.Target{}, err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", db).Scan(&exists); err != nil || !exists {
		return source.Target{}, err
	}
	tconn, err := s.connect(ctx, db)
	if err != nil {
		return source.Target{}, err
	}
	defer tconn.Close(ctx)
	var n int
	err = tconn.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r','p','v','m','S','f') AND n.nspname NOT IN ('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg_toast%'`).Scan(&n)
	t := source.Target{Exists: true}
	if n > 0 {
		t.Holds = fmt.Sprintf("%d relations", n)
	}
	return t, err
}

// ScratchName names a new database for a restore in progress.
func (s *Source) ScratchName(string) string { return "dbackup_scratch_" + source.RandomSuffix() }

// KeptName names the database an overwrite replaced.
func (s *Source) KeptName(target string, t time.Time) string {
	return source.KeptName(target, t, maxName)
}

// CreateDatabase creates an empty database.
func (s *Source) CreateDatabase(ctx context.Context, db string) error {
	return s.maintenance(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize())
}

// DropDatabase drops a database and the sessions connected to it.
func (s *Source) DropDatabase(ctx context.Context, db string) error {
	return s.maintenance(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
}

func (s *Source) maintenance(ctx context.Context, sql string) error {
	conn, err := s.connect(ctx, s.cfg.MaintenanceDB)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// Load restores a custom-format dump into db with pg_restore.
func (s *Source) Load(ctx context.Context, r io.Reader, _, db string, log *slog.Logger) error {
	cmd := RestoreCommand(s.cfg, s.password, db)
	log.Info("pg_restore: " + cmd.String())
	return proc.Run(ctx, cmd, r, nil, log)
}

// Count counts the rows of the tables want names (and the large objects).
func (s *Source) Count(ctx context.Context, db string, want backup.Counts) (backup.Counts, error) {
	conn, err := s.connect(ctx, db)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r','p') AND n.nspname NOT IN ('pg_catalog','information_schema')`)
	if err != nil {
		return nil, err
	}
	tables := map[string]pgx.Identifier{}
	for rows.Next() {
		var schema, name string
		if err := rows.Scan(&schema, &name); err != nil {
			return nil, err
		}
		tables[TableKey(schema, name)] = pgx.Identifier{schema, name}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	got := backup.Counts{}
	for key := range want {
		q := ""
		if key == LargeObjects {
			q = "SELECT count(*) FROM pg_largeobject_metadata"
		} else if id, ok := tables[key]; ok {
			q = "SELECT count(*) FROM ONLY " + id.Sanitize()
		} else {
			continue
		}
		var n int64
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", key, err)
		}
		got[key] = n
	}
	return got, nil
}

// Swap renames target to kept (when set) and scratch to target in one
// transaction. Sessions connected to target are closed first: the user
// asked to replace it.
func (s *Source) Swap(ctx context.Context, scratch, target, kept string) error {
	conn, err := s.connect(ctx, s.cfg.MaintenanceDB)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for attempt := 0; ; attempt++ {
		if kept != "" {
			if _, err := conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", target); err != nil {
				return fmt.Errorf("close the sessions connected to %s: %w", target, err)
			}
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if kept != "" {
				if _, err := tx.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{target}.Sanitize()+" RENAME TO "+pgx.Identifier{kept}.Sanitize()); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{scratch}.Sanitize()+" RENAME TO "+pgx.Identifier{target}.Sanitize())
			return err
		})
		var pe *pgconn.PgError
		if err == nil || attempt == 2 || !errors.As(err, &pe) || pe.Code != "55006" { // object_in_use: a session came back
			return err
		}
	}
}

// Close releases nothing: connections are opened per call.
func (s *Source) Close() error { return nil }
