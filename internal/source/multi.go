package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/source/dbtar"
	"github.com/dbackup/dbackup/internal/source/proc"
)

// Resolve checks the requested databases against all the server has; none
// requested means all of them.
func Resolve(all, requested []string, where string) ([]string, error) {
	if len(requested) == 0 {
		requested = all
	}
	for _, db := range requested {
		if !slices.Contains(all, db) {
			return nil, fmt.Errorf("database %q does not exist on %s", db, where)
		}
	}
	if len(requested) == 0 {
		return nil, fmt.Errorf("no database to back up on %s", where)
	}
	return requested, nil
}

// CountingWriter counts the bytes written through it.
type CountingWriter struct {
	W io.Writer
	N int64
}

func (c *CountingWriter) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.N += int64(n)
	return n, err
}

// DumpMany writes the planned databases into one tar, manifest first, each
// dumped through dumpOne into a file named <n>-<name>.<ext>.
func DumpMany(ctx context.Context, w io.Writer, sourceType string, p Plan, ext, format string,
	dumpOne func(ctx context.Context, db string, w io.Writer) error) error {
	m := dbtar.Manifest{SourceType: sourceType, EngineVersion: p.EngineVersion, CreatedAt: time.Now().UTC()}
	for i, db := range p.Databases {
		m.Databases = append(m.Databases, dbtar.Database{Name: db, File: fmt.Sprintf("%03d-%s.%s", i+1, backup.SafeName(db), ext), Format: format})
	}
	tw, err := dbtar.NewWriter(w, m)
	if err != nil {
		return err
	}
	for _, db := range p.Databases {
		dw, err := tw.Database()
		if err != nil {
			return err
		}
		if err := dumpOne(ctx, db, dw); err != nil {
			return err
		}
		if err := dw.Close(); err != nil {
			return err
		}
	}
	return tw.Close()
}

// RestoreMany restores the selected databases of a tar written by DumpMany
// with restoreOne, under their target names.
func RestoreMany(ctx context.Context, r io.Reader, sourceType string, opts RestoreOptions, log *slog.Logger,
	restoreOne func(ctx context.Context, r io.Reader, from, target string) error) error {
	tr, err := dbtar.NewReader(r)
	if err != nil {
		return err
	}
	if st := tr.Manifest().SourceType; st != sourceType {
		return fmt.Errorf("the tar holds %s databases, not %s", st, sourceType)
	}
	for want := range opts.Targets {
		if !slices.ContainsFunc(tr.Manifest().Databases, func(d dbtar.Database) bool { return d.Name == want }) {
			return fmt.Errorf("database %q is not in this backup", want)
		}
	}
	restored := 0
	for {
		db, dr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		target, ok := opts.Target(db.Name)
		if !ok {
			log.Info("skipping database " + db.Name)
			continue
		}
		if err := restoreOne(ctx, dr, db.Name, target); err != nil {
			return err
		}
		restored++
	}
	if restored == 0 {
		return errors.New("no database was selected for restore")
	}
	return nil
}

// SingleTarget is the database a single-database backup was dumped from
// and the one to restore it into.
func SingleTarget(opts RestoreOptions) (from, target string, err error) {
	if len(opts.Targets) != 1 {
		return "", "", errors.New("restore of a single-database backup needs exactly one target database")
	}
	for from, to := range opts.Targets {
		if to == "" {
			return from, from, nil
		}
		return from, to, nil
	}
	return "", "", nil
}

// RunDump runs one database's dump tool into w. It fails unless the tool
// exited 0, every byte was written, and it wrote something.
func RunDump(ctx context.Context, cmd proc.Cmd, db string, w io.Writer, log *slog.Logger) error {
	log.Info("dumping database " + db + ": " + cmd.String())
	cw := &CountingWriter{W: w}
	if err := proc.Run(ctx, cmd, nil, cw, log); err != nil {
		return fmt.Errorf("dump of database %s: %w", db, err)
	}
	if cw.N == 0 {
		return fmt.Errorf("dump of database %s: %s wrote nothing", db, filepath.Base(cmd.Path))
	}
	log.Info(fmt.Sprintf("database %s dumped: %d bytes", db, cw.N))
	return nil
}

// RestoreFormat restores either one database's dump (format single) or a
// multi-database tar, each database through restoreOne.
func RestoreFormat(ctx context.Context, format, single, sourceType string, r io.Reader, opts RestoreOptions, log *slog.Logger,
	restoreOne func(ctx context.Context, r io.Reader, from, target string) error) error {
	switch format {
	case single:
		from, target, err := SingleTarget(opts)
		if err != nil {
			return err
		}
		return restoreOne(ctx, r, from, target)
	case "tar":
		return RestoreMany(ctx, r, sourceType, opts, log, restoreOne)
	}
	return fmt.Errorf("%w: %s cannot restore format %q", backup.ErrUnsupported, sourceType, format)
}
