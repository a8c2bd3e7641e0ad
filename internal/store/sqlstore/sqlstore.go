// Package sqlstore implements store.Store over database/sql, with SQLite
// (modernc.org/sqlite, pure Go) by default and PostgreSQL (pgx) when given a
// postgres:// URL. The SQL is shared; a dialect covers the differences.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/secret"
	"github.com/dbackup/dbackup/internal/store"
)

type dialect struct {
	name     string
	postgres bool
}

// DB is the SQL store.
type DB struct {
	db       *sql.DB
	txn      *sql.Tx // set in the store InTx gives its function
	d        dialect
	box      *secret.Box
	sources  *endpoints
	dests    *endpoints
	channels *endpoints
}

var _ store.Store = (*DB)(nil)

// IsPostgres reports whether a database URL selects PostgreSQL.
func IsPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// Open opens (and migrates) the store at url: a postgres:// URL, or the path
// of a SQLite file. box encrypts secrets at rest.
func Open(ctx context.Context, url string, box *secret.Box) (*DB, error) {
	var s DB
	s.box = box
	var err error
	if IsPostgres(url) {
		s.d = dialect{name: "postgres", postgres: true}
		s.db, err = sql.Open("pgx", url)
		if err == nil {
			s.db.SetMaxOpenConns(10)
		}
	} else {
		s.d = dialect{name: "sqlite"}
		dsn := "file:" + url + "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		s.db, err = sql.Open("sqlite", dsn)
		if err == nil {
			// One connection: SQLite allows one writer, and queueing in Go
			// is kinder than SQLITE_BUSY.
			s.db.SetMaxOpenConns(1)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("open %s metadata store: %w", s.d.name, err)
	}
	if !s.d.postgres {
		// It holds sealed secrets: only the owner reads it.
		os.Chmod(url, 0o600)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	s.initEndpoints()
	return &s, nil
}

func (s *DB) initEndpoints() {
	s.sources = &endpoints{s: s, table: "sources", jobsQuery: "SELECT count(*) FROM jobs WHERE ? IN (source_id, drill_target_id)"}
	s.dests = &endpoints{s: s, table: "destinations", jobsQuery: "SELECT count(*) FROM job_destinations WHERE destination_id = ?"}
	s.channels = &endpoints{s: s, table: "channels", jobsQuery: "SELECT count(*) FROM job_channels WHERE channel_id = ?"}
}

// InTx runs fn with a store whose every read and write is one
// transaction, committed if fn returns nil and rolled back otherwise.
// With SQLite it holds the only connection: other users wait.
func (s *DB) InTx(ctx context.Context, fn func(store.Store) error) error {
	if s.txn != nil {
		return fn(s)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	c := &DB{db: s.db, txn: tx, d: s.d, box: s.box}
	c.initEndpoints()
	if err := fn(c); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// execer is the database, or the transaction of InTx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *DB) conn() execer {
	if s.txn != nil {
		return s.txn
	}
	return s.db
}

// Dialect names the SQL dialect in use ("sqlite" or "postgres").
func (s *DB) Dialect() string { return s.d.name }

// Close closes the database.
func (s *DB) Close() error { return s.db.Close() }

// q rewrites ? placeholders to $n for PostgreSQL.
func (s *DB) q(query string) string {
	if !s.d.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return s.conn().ExecContext(ctx, s.q(query), args...)
}

func (s *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return s.conn().QueryContext(ctx, s.q(query), args...)
}

func (s *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return s.conn().QueryRowContext(ctx, s.q(query), args...)
}

func (s *DB) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	blob := "BLOB"
	if s.d.postgres {
		blob = "BYTEA"
	}
	for i, m := range migrations {
		version := i + 1
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if s.d.postgres {
				// Several nodes may start at once: one migrates, the others wait.
				if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(726173)"); err != nil {
					return err
				}
			}
			var n int
			if err := tx.QueryRowContext(ctx, s.q("SELECT count(*) FROM schema_migrations WHERE version = ?"), version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			sqlText := strings.NewReplacer("{BLOB}", blob, "{BIGINT}", "BIGINT").Replace(m)
			for _, stmt := range strings.Split(sqlText, ";") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%w\n%s", err, stmt)
				}
			}
			_, err := tx.ExecContext(ctx, s.q("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)"), version, micros(time.Now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %d: %w", version, err)
		}
	}
	return nil
}

func (s *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	if s.txn != nil {
		return fn(s.txn) // within InTx: its transaction
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return micros(*t)
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// classify maps constraint violations to the domain's sentinel errors.
func classify(err error, what string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var pe *pgconn.PgError
	code := ""
	if errors.As(err, &pe) {
		code = pe.Code
	}
	switch {
	case code == "23505" || strings.Contains(msg, "UNIQUE constraint failed"):
		return fmt.Errorf("%s: %w", what, backup.ErrConflict)
	case code == "23503" || strings.Contains(msg, "FOREIGN KEY constraint failed"):
		return fmt.Errorf("%s: %w", what, backup.ErrInUse)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func notFound(err error, what, ref string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %q: %w", what, ref, backup.ErrNotFound)
	}
	return err
}

// GetSetting reads a setting.
func (s *DB) GetSetting(ctx context.Context, name string) (string, bool, error) {
	var v string
	err := s.queryRow(ctx, "SELECT value FROM settings WHERE name = ?", name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return v, err == nil, err
}

// SetSetting writes a setting.
func (s *DB) SetSetting(ctx context.Context, name, value string) error {
	_, err := s.exec(ctx, "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", name, value)
	return err
}
