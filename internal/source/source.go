// Package source defines the database source interface.
package source

import (
	"context"
	"io"
	"log/slog"
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
}

// RestoreOptions select and rename what a restore writes.
type RestoreOptions struct {
	// Targets maps a database name in the backup to the database to restore
	// it into. Empty restores every database under its own name; otherwise
	// only the databases named here are restored.
	Targets map[string]string
	// Overwrite allows restoring into a database that already has tables.
	Overwrite bool
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
