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
	"strconv"
	"strings"

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
	BinDir string `json:"bin_dir,omitempty" help:"directory of pg_dump and pg_restore (empty: PATH)"`
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
	if len(dbs) > 1 {
		p.Format, p.Ext = "tar", "tar"
	}
	return p, nil
}

// Dump runs pg_dump for each planned database.
func (s *Source) Dump(ctx context.Context, p source.Plan, w io.Writer, log *slog.Logger) error {
	if p.Format == "pg_custom" {
		return s.dumpOne(ctx, p.Databases[0], w, log)
	}
	return source.DumpMany(ctx, w, Type, p, "dump", "pg_custom", func(ctx context.Context, db string, w io.Writer) error {
		return s.dumpOne(ctx, db, w, log)
	})
}

func (s *Source) dumpOne(ctx context.Context, db string, w io.Writer, log *slog.Logger) error {
	cmd := DumpCommand(s.cfg, s.password, db)
	return source.RunDump(ctx, cmd, db, w, log)
}

// Restore restores a single dump or a multi-database tar.
func (s *Source) Restore(ctx context.Context, format string, r io.Reader, opts source.RestoreOptions, log *slog.Logger) error {
	return source.RestoreFormat(ctx, format, "pg_custom", Type, r, opts, log, func(ctx context.Context, r io.Reader, _, target string) error {
		return s.restoreOne(ctx, r, target, opts.Overwrite, log)
	})
}

// restoreOne restores one custom-format dump into target.
func (s *Source) restoreOne(ctx context.Context, r io.Reader, target string, overwrite bool, log *slog.Logger) error {
	created, err := s.prepareTarget(ctx, target, overwrite)
	if err != nil {
		return err
	}
	if created {
		log.Info("created database " + target)
	}
	cmd := RestoreCommand(s.cfg, s.password, target, overwrite && !created)
	log.Info("restoring into database " + target + ": " + cmd.String())
	if err := proc.Run(ctx, cmd, r, nil, log); err != nil {
		return fmt.Errorf("restore into database %s: %w", target, err)
	}
	log.Info("database " + target + " restored")
	return nil
}

// prepareTarget creates db if it is missing and refuses one that already
// holds tables unless overwrite is set.
func (s *Source) prepareTarget(ctx context.Context, db string, overwrite bool) (bool, error) {
	conn, err := s.connect(ctx, s.cfg.MaintenanceDB)
	if err != nil {
		return false, err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", db).Scan(&exists); err != nil {
		return false, err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
			return false, fmt.Errorf("create database %s: %w", db, err)
		}
		return true, nil
	}
	tconn, err := s.connect(ctx, db)
	if err != nil {
		return false, err
	}
	defer tconn.Close(ctx)
	var tables int
	err = tconn.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r','p','v','m','S') AND n.nspname NOT IN ('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg_toast%'`).Scan(&tables)
	if err != nil {
		return false, err
	}
	if tables > 0 && !overwrite {
		return false, fmt.Errorf("database %s already exists and holds %d relations; choose a new name or allow overwrite", db, tables)
	}
	return false, nil
}

// Close releases nothing: connections are opened per call.
func (s *Source) Close() error { return nil }
