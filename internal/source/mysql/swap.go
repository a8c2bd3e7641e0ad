package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/source"
	"github.com/dbackup/dbackup/internal/source/proc"
)

var _ source.Swapper = (*Source)(nil)

// maxName is the longest database name MariaDB and MySQL take.
const maxName = 64

func quote(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

// Inspect tells whether db exists and what it holds.
func (s *Source) Inspect(ctx context.Context, name string) (source.Target, error) {
	db, err := s.db(ctx, "")
	if err != nil {
		return source.Target{}, err
	}
	defer db.Close()
	var exists, tables, routines int
	err = db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?),
		(SELECT count(*) FROM information_schema.tables WHERE table_schema = ?),
		(SELECT count(*) FROM information_schema.routines WHERE routine_schema = ?)`, name, name, name).Scan(&exists, &tables, &routines)
	t := source.Target{Exists: exists > 0}
	switch {
	case tables > 0:
		t.Holds = fmt.Sprintf("%d tables", tables)
	case routines > 0:
		t.Holds = fmt.Sprintf("%d routines", routines)
	}
	return t, err
}

// ScratchName names a new database for a restore in progress.
func (s *Source) ScratchName(string) string { return "dbackup_scratch_" + source.RandomSuffix() }

// KeptName names the database an overwrite replaced.
func (s *Source) KeptName(target string, t time.Time) string {
	return source.KeptName(target, t, maxName)
}

func (s *Source) exec(ctx context.Context, query string, args ...any) error {
	db, err := s.db(ctx, "")
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, query, args...)
	return err
}

// CreateDatabase creates an empty database.
func (s *Source) CreateDatabase(ctx context.Context, name string) error {
	return s.exec(ctx, "CREATE DATABASE "+quote(name))
}

// DropDatabase drops a database.
func (s *Source) DropDatabase(ctx context.Context, name string) error {
	return s.exec(ctx, "DROP DATABASE IF EXISTS "+quote(name))
}

// Load feeds a dump into db with the client, in its sandbox mode: a dump
// is data, never client commands (`\! cmd` would run a shell command).
func (s *Source) Load(ctx context.Context, r io.Reader, _, name string, log *slog.Logger) error {
	client, noCommands, err := s.sandboxedClient(ctx)
	if err != nil {
		return err
	}
	return s.withDefaultsFile(func(defaults string) error {
		cmd := RestoreCommand(s.cfg, client, noCommands, defaults, s.password, name)
		log.Info("restoring: " + cmd.String())
		return proc.Run(ctx, cmd, r, nil, log)
	})
}

var (
	hasSandbox  = regexp.MustCompile(`(?m)^\s+--sandbox\b`)
	hasCommands = regexp.MustCompile(`(?m)^\s+--commands\b`)
)

// sandboxedClient finds the client and its option that turns off client
// commands. A client with neither is refused: a backup could otherwise run
// shell commands on this host.
func (s *Source) sandboxedClient(ctx context.Context) (client, noCommands string, err error) {
	client = s.tool("mariadb", "mysql")
	out, _ := exec.CommandContext(ctx, proc.Binary(s.cfg.BinDir, client), "--no-defaults", "--help").CombinedOutput()
	switch {
	case hasSandbox.Match(out):
		return client, "--sandbox", nil
	case hasCommands.Match(out):
		return client, "--commands=OFF", nil
	}
	return "", "", fmt.Errorf("%w: the client %s cannot turn off its own commands (it has neither --sandbox, MariaDB 10.5.25, 10.6.18, 10.11.8 and later, "+
		"nor --commands, MySQL 8.0.40 and 8.4.3 and later), so a backup could run shell commands through it; upgrade the client", backup.ErrUnsupported, client)
}

// Count counts the rows of the tables want names.
func (s *Source) Count(ctx context.Context, name string, want backup.Counts) (backup.Counts, error) {
	db, err := s.db(ctx, "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	tables, err := queryStrings(ctx, db, "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_type <> 'VIEW'", name)
	if err != nil {
		return nil, err
	}
	got := backup.Counts{}
	for t := range want {
		if !slices.Contains(tables, t) {
			continue
		}
		var n int64
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+quote(name)+"."+quote(t)).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", t, err)
		}
		got[t] = n
	}
	return got, nil
}

// object is a schema object that RENAME TABLE cannot move to another
// database: a trigger, a view, a routine or an event, with what recreates it.
type object struct {
	kind, name string
	create     string // the CREATE statement as SHOW CREATE gives it
	// The session it was created in.
	sqlMode, charset, collation string
}

// Swap moves scratch's tables into target in one RENAME TABLE (target's
// into kept in the same statement), and recreates the objects that cannot
// move (triggers, views, routines, events) where they belong. The steps
// around the RENAME are not one transaction: a crash inside them (a few
// statements) leaves both databases for inspection.
func (s *Source) Swap(ctx context.Context, scratch, target, kept string) error {
	db, err := s.db(ctx, "")
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	run := func(q string, args ...any) error {
		_, err := conn.ExecContext(ctx, q, args...)
		return err
	}
	if kept != "" {
		if err := run("CREATE DATABASE " + quote(kept)); err != nil {
			return err
		}
	} else if err := run("CREATE DATABASE IF NOT EXISTS " + quote(target)); err != nil {
		return err
	}
	fresh, err := takeObjects(ctx, conn, scratch)
	if err != nil {
		return err
	}
	var old []object
	var moves []string
	if kept != "" {
		if old, err = takeObjects(ctx, conn, target); err != nil {
			return err
		}
		tables, err := baseTables(ctx, conn, target)
		if err != nil {
			return err
		}
		for _, t := range tables {
			moves = append(moves, quote(target)+"."+quote(t)+" TO "+quote(kept)+"."+quote(t))
		}
	}
	tables, err := baseTables(ctx, conn, scratch)
	if err != nil {
		return err
	}
	for _, t := range tables {
		moves = append(moves, quote(scratch)+"."+quote(t)+" TO "+quote(target)+"."+quote(t))
	}
	if len(moves) > 0 {
		if err := run("RENAME TABLE " + strings.Join(moves, ", ")); err != nil {
			return err
		}
	}
	if err := putObjects(ctx, conn, fresh, scratch, target); err != nil {
		return err
	}
	if err := putObjects(ctx, conn, old, target, kept); err != nil {
		return err
	}
	return run("DROP DATABASE " + quote(scratch))
}

// baseTables lists what RENAME TABLE moves: tables and sequences.
func baseTables(ctx context.Context, conn *sql.Conn, db string) ([]string, error) {
	return queryStrings(ctx, conn, "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_type <> 'VIEW'", db)
}

// takeObjects reads the triggers, views, routines and events of db, and
// drops them.
func takeObjects(ctx context.Context, conn *sql.Conn, db string) ([]object, error) {
	lists := []struct{ kind, query string }{
		{"TRIGGER", "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = ?"},
		{"VIEW", "SELECT table_name FROM information_schema.views WHERE table_schema = ?"},
		{"PROCEDURE", "SELECT routine_name FROM information_schema.routines WHERE routine_schema = ? AND routine_type = 'PROCEDURE'"},
		{"FUNCTION", "SELECT routine_name FROM information_schema.routines WHERE routine_schema = ? AND routine_type = 'FUNCTION'"},
		{"EVENT", "SELECT event_name FROM information_schema.events WHERE event_schema = ?"},
	}
	var out []object
	for _, l := range lists {
		names, err := queryStrings(ctx, conn, l.query, db)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			o, err := showCreate(ctx, conn, l.kind, db, n)
			if err != nil {
				return nil, err
			}
			out = append(out, o)
		}
	}
	for _, o := range out {
		if _, err := conn.ExecContext(ctx, "DROP "+o.kind+" IF EXISTS "+quote(db)+"."+quote(o.name)); err != nil {
			return nil, fmt.Errorf("drop %s %s.%s: %w", strings.ToLower(o.kind), db, o.name, err)
		}
	}
	return out, nil
}

// showCreate reads the statement that recreates an object, and its sql_mode.
func showCreate(ctx context.Context, conn *sql.Conn, kind, db, name string) (object, error) {
	rows, err := conn.QueryContext(ctx, "SHOW CREATE "+kind+" "+quote(db)+"."+quote(name))
	if err != nil {
		return object{}, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		return object{}, fmt.Errorf("show create %s %s.%s: no row", strings.ToLower(kind), db, name)
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return object{}, err
	}
	o := object{kind: kind, name: name}
	for i, c := range cols {
		switch c {
		case "Create View", "Create Procedure", "Create Function", "Create Event", "SQL Original Statement":
			o.create = vals[i].String
		case "sql_mode":
			o.sqlMode = vals[i].String
		case "character_set_client":
			o.charset = vals[i].String
		case "collation_connection":
			o.collation = vals[i].String
		}
	}
	if o.create == "" {
		return object{}, fmt.Errorf("%s %s.%s: its definition cannot be read (missing privileges?)", strings.ToLower(kind), db, name)
	}
	return o, rows.Err()
}

// putObjects recreates objects taken from database from in database to.
// Views name their tables with the database (`from`.`t`), which becomes
// `to`; a view built on another view waits for it.
func putObjects(ctx context.Context, conn *sql.Conn, objs []object, from, to string) error {
	if len(objs) == 0 {
		return nil
	}
	if _, err := conn.ExecContext(ctx, "USE "+quote(to)); err != nil {
		return err
	}
	var mode, charset, collation string
	if err := conn.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode, @@SESSION.character_set_client, @@SESSION.collation_connection").Scan(&mode, &charset, &collation); err != nil {
		return err
	}
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	pending := objs
	for len(pending) > 0 {
		var failed []object
		var last error
		for _, o := range pending {
			stmt := o.create
			if o.kind == "VIEW" {
				stmt = strings.ReplaceAll(stmt, quote(from)+".", quote(to)+".")
			}
			if _, err := conn.ExecContext(ctx, "SET SESSION sql_mode = ?, character_set_client = ?, collation_connection = ?",
				or(o.sqlMode, mode), or(o.charset, charset), or(o.collation, collation)); err != nil {
				return err
			}
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				failed, last = append(failed, o), fmt.Errorf("recreate %s %s in %s: %w", strings.ToLower(o.kind), o.name, to, err)
			}
		}
		if len(failed) == len(pending) {
			return last
		}
		pending = failed
	}
	return nil
}
