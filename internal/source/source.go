// Package source defines the database source interface.
package source

import (
	"context"
	"io"
	"log/slog"

	"github.com/dbackup/dbackup/internal/backup"
)

// Plan is what a dump will produce, known before it starts so the data
// object can be named: the databases it covers and the file format.
type Plan struct {
	Databases     []string
	Format        string // "pg_custom" for one PostgreSQL database, "tar" for several
	Ext           string // file extension without compression/encryption suffixes
	EngineVersion string
	// Tables are the tables of each database when the plan was made, as the
	// validator names them; each must be in the dump. Nil: not checked.
	Tables map[string][]string
	// Concurrency is how many databases of a multi-database plan are
	// dumped at once (0 or 1: one after the other).
	Concurrency int
	// Warnings are for the run's log (a dump tool much newer than the
	// server, say).
	Warnings []string
}

// RestoreOptions select and rename what a restore writes.
type RestoreOptions struct {
	// Targets maps a database name in the backup to the database to restore
	// it into. Empty restores every database under its own name; otherwise
	// only the databases named here are restored.
	Targets map[string]string
	// Overwrite allows replacing a database that already exists and holds
	// something. The restore writes a scratch database and swaps it in
	// only once it is complete and its counts match.
	Overwrite bool
	// Expect is what the backup holds, by database name in the backup (its
	// sidecar's contents): the restore counts what it wrote and fails,
	// naming the table, on any difference. Nil: not compared.
	Expect backup.Contents
	// Track records the databases a restore creates before it creates
	// them; nil records nothing.
	Track Tracker
	// DropReplaced drops the database an overwrite replaced instead of
	// keeping it under a new name.
	DropReplaced bool
	// Counted, when set, is told what the restore counted in a database
	// (named as in the backup) and what the backup holds, before the two
	// are compared: a drill records both.
	Counted func(db string, want, got backup.Counts)
	// Concurrency is how many databases of a multi-database backup are
	// restored at once (0 or 1: one after the other).
	Concurrency int
}

// Report tells Counted (if set) what a restore counted.
func (o RestoreOptions) Report(db string, want, got backup.Counts) {
	if o.Counted != nil {
		o.Counted(db, want, got)
	}
}

// Tracker records the databases a restore creates, so that what a crash
// leaves behind can be removed by the next start.
type Tracker interface {
	// Scratch is called before a scratch database is created.
	Scratch(ctx context.Context, db string) error
	// Kept is called when an overwrite kept the replaced database as db.
	Kept(ctx context.Context, db string) error
	// Gone is called when db is in place or dropped: nothing to clean.
	Gone(ctx context.Context, db string)
}

// Target is what a restore target holds now.
type Target struct {
	Exists bool
	Holds  string // e.g. "7 relations"; empty when it holds nothing
	// Fixed: the target has no name of its own to choose (Redis: the whole
	// keyspace of the server).
	Fixed bool
}

// Inspector tells what a database to restore into holds now, for the
// restore's pre-flight.
type Inspector interface {
	Inspect(ctx context.Context, db string) (Target, error)
}

// Dropper drops a database a restore left behind (scratch or kept).
type Dropper interface {
	DropDatabase(ctx context.Context, db string) error
}

// Target returns the target name for db and whether it is selected.
func (o RestoreOptions) Target(db string) (string, bool) {
	if len(o.Targets) == 0 {
		return db, true
	}
	t, ok := o.Targets[db]
	if ok && t == "" {
		t = db
	}
	return t, ok
}

// Source is one database server.
type Source interface {
	// Check connects and authenticates, changing nothing.
	Check(ctx context.Context) error
	Version(ctx context.Context) (string, error)
	// ListDatabases lists the user databases a job can back up.
	ListDatabases(ctx context.Context) ([]string, error)
	// Plan resolves dbs (empty = all) and the output format.
	Plan(ctx context.Context, dbs []string) (Plan, error)
	// Dump writes the planned dump to w; nil only if it is complete.
	Dump(ctx context.Context, p Plan, w io.Writer, log *slog.Logger) error
	// Restore reads a dump in format from r into the server.
	Restore(ctx context.Context, format string, r io.Reader, opts RestoreOptions, log *slog.Logger) error
	Close() error
}
