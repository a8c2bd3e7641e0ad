package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
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

// spoolLimit is what a database dumped ahead of its turn may hold in
// memory before its dump waits.
const spoolLimit = 8 << 20

// DumpMany writes the planned databases into one tar, manifest first, each
// dumped through dumpOne into a file named <n>-<name>.<ext>. Up to
// p.Concurrency dumps run at once; each database is written whole and in
// the manifest's order, the ones ahead of their turn held in a bounded
// spool (their dump waits when it is full).
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
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg       sync.WaitGroup
		firstErr atomic.Pointer[error] // the first dump to fail, in time
		spools   = make([]*spool, len(p.Databases))
	)
	defer func() {
		cancel(errors.New("the multi-database dump ended"))
		for _, s := range spools {
			if s != nil {
				s.close()
			}
		}
		wg.Wait()
	}()
	ahead := min(max(p.Concurrency, 1), len(p.Databases))
	chunks := newChunkPool(ahead * (spoolLimit/spoolChunk + 1))
	start := func(i int) {
		s := newSpool(spoolLimit, chunks)
		spools[i] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := dumpOne(ctx, p.Databases[i], s)
			if err != nil && firstErr.CompareAndSwap(nil, &err) {
				cancel(err)
			}
			s.finish(err)
		}()
	}
	for i := range ahead {
		start(i)
	}
	for i := range p.Databases {
		dw, err := tw.Database()
		if err != nil {
			return err
		}
		err = spools[i].drainTo(dw)
		if e := firstErr.Load(); e != nil {
			err = *e // not the cancellation it caused in the others
		}
		if err != nil {
			return err
		}
		if err := dw.Close(); err != nil {
			return err
		}
		spools[i].close()
		if next := i + ahead; next < len(p.Databases) {
			start(next)
		}
	}
	return tw.Close()
}

// RestoreMany restores the selected databases of a tar written by DumpMany
// with restoreOne, under their target names. Up to opts.Concurrency run at
// once: the next database's restore starts as soon as the one before has
// read its dump to the end (while its tool still builds indexes, say).
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
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg       sync.WaitGroup
		firstErr atomic.Pointer[error]
		slots    = make(chan struct{}, max(opts.Concurrency, 1))
	)
	failed := func() error {
		if e := firstErr.Load(); e != nil {
			return *e
		}
		return nil
	}
	restored := 0
	for failed() == nil {
		db, dr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			firstErr.CompareAndSwap(nil, &err)
			break
		}
		target, ok := opts.Target(db.Name)
		if !ok {
			log.Info("skipping database " + db.Name)
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			continue // failed() says why
		}
		restored++
		er := &endReader{r: dr, end: make(chan struct{})}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			err := restoreOne(ctx, er, db.Name, target)
			er.stop()
			if err != nil && firstErr.CompareAndSwap(nil, &err) {
				cancel(err)
			}
		}()
		<-er.end // the tar moves on once this database's dump is read
	}
	wg.Wait()
	if err := failed(); err != nil {
		return err
	}
	if restored == 0 {
		return errors.New("no database was selected for restore")
	}
	return nil
}

// endReader tells, by closing end, when its reader hit the end or its
// restore returned; after that it never touches the underlying reader.
type endReader struct {
	r    io.Reader
	end  chan struct{}
	once sync.Once
	err  error // sticky: io.EOF or the read's error
}

func (e *endReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.r.Read(p)
	if err != nil {
		e.err = err
		e.stop()
	}
	return n, err
}

func (e *endReader) stop() { e.once.Do(func() { close(e.end) }) }

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
