// Package sqlite backs up SQLite database files. A backup is a consistent
// snapshot taken with VACUUM INTO, correct while other processes write; a
// restore replaces the file only after the new one passed integrity_check,
// and keeps the old one beside it.
package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers "sqlite"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/plugin"
	"github.com/dbackup/dbackup/internal/source"
)

// Type is the source type name.
const Type = "sqlite"

// Config names the database file.
type Config struct {
	Path string `json:"path" help:"the database file on this server"`
}

// Source is one SQLite database file.
type Source struct {
	cfg     Config
	tempDir string // where snapshots are made; "" is the system default
}

var _ source.Source = (*Source)(nil)

// Factory registers the SQLite source.
var Factory = plugin.Typed(Type, "SQLite", nil, func(c Config, _ map[string]string) (source.Source, error) {
	return New(c)
})

// New validates c.
func New(c Config) (*Source, error) {
	if c.Path == "" || !filepath.IsAbs(c.Path) {
		return nil, fmt.Errorf("%w: path must be an absolute file path", backup.ErrInvalid)
	}
	return &Source{cfg: c}, nil
}

// Name is the database's name in plans and restores: the file's base name.
func (s *Source) Name() string { return filepath.Base(s.cfg.Path) }

func open(path string, readOnly bool) (*sql.DB, error) {
	mode := "rw"
	if readOnly {
		mode = "ro"
	}
	return sql.Open("sqlite", "file:"+path+"?mode="+mode+"&_pragma=busy_timeout(10000)")
}

// Check opens the file and reads its schema.
func (s *Source) Check(ctx context.Context) error {
	if st, err := os.Stat(s.cfg.Path); err != nil {
		return fmt.Errorf("sqlite database %s: %w", s.cfg.Path, err)
	} else if st.IsDir() {
		return fmt.Errorf("sqlite database %s is a directory", s.cfg.Path)
	}
	db, err := open(s.cfg.Path, true)
	if err != nil {
		return err
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
		return fmt.Errorf("sqlite database %s: %w", s.cfg.Path, err)
	}
	return nil
}

// Version is the SQLite library version that reads and writes the file.
func (s *Source) Version(ctx context.Context) (string, error) {
	db, err := open(s.cfg.Path, true)
	if err != nil {
		return "", err
	}
	defer db.Close()
	var v string
	err = db.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&v)
	return v, err
}

// ListDatabases lists the one database: the file.
func (s *Source) ListDatabases(ctx context.Context) ([]string, error) {
	if err := s.Check(ctx); err != nil {
		return nil, err
	}
	return []string{s.Name()}, nil
}

// Plan accepts no name or the file's name.
func (s *Source) Plan(ctx context.Context, dbs []string) (source.Plan, error) {
	if len(dbs) > 1 || (len(dbs) == 1 && dbs[0] != s.Name()) {
		return source.Plan{}, fmt.Errorf("database %q does not exist: this SQLite source is the single database %q", strings.Join(dbs, ","), s.Name())
	}
	v, err := s.Version(ctx)
	if err != nil {
		return source.Plan{}, err
	}
	if err := s.Check(ctx); err != nil {
		return source.Plan{}, err
	}
	return source.Plan{Databases: []string{s.Name()}, Format: "sqlite", Ext: "db", EngineVersion: v}, nil
}

func tempName(dir, base string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return filepath.Join(dir, "."+base+".dbackup-"+hex.EncodeToString(b))
}

// Dump takes a transactionally consistent snapshot with VACUUM INTO into a
// private temporary file, streams it and removes it.
func (s *Source) Dump(ctx context.Context, p source.Plan, w io.Writer, log *slog.Logger) error {
	dir, err := os.MkdirTemp(s.tempDir, "dbackup-sqlite-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o700)
	snap := filepath.Join(dir, "snapshot.db")
	db, err := open(s.cfg.Path, true)
	if err != nil {
		return err
	}
	defer db.Close()
	log.Info("snapshot of " + s.cfg.Path + " with VACUUM INTO")
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", snap); err != nil {
		return fmt.Errorf("snapshot of %s: %w", s.cfg.Path, err)
	}
	f, err := os.Open(snap)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, f)
	if err != nil {
		return fmt.Errorf("stream snapshot: %w", err)
	}
	log.Info(fmt.Sprintf("database %s dumped: %d bytes", s.Name(), n))
	return nil
}

// Restore writes the file beside its target, checks it, and only then
// moves it into place; an existing file (and its WAL) is kept beside as
// <name>.before-restore-<time>.
func (s *Source) Restore(ctx context.Context, format string, r io.Reader, opts source.RestoreOptions, log *slog.Logger) error {
	if format != "sqlite" {
		return fmt.Errorf("%w: sqlite cannot restore format %q", backup.ErrUnsupported, format)
	}
	target, from := s.cfg.Path, s.Name()
	for f, to := range opts.Targets {
		from = f
		if to != "" && to != f {
			if !filepath.IsAbs(to) {
				to = filepath.Join(filepath.Dir(s.cfg.Path), to)
			}
			target = to
		}
	}
	exists := false
	if st, err := os.Stat(target); err == nil {
		exists = st.Size() > 0
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if exists && !opts.Overwrite {
		return fmt.Errorf("database file %s already exists; choose a new name or allow overwrite (the current file is then kept beside it)", target)
	}
	tmp := tempName(filepath.Dir(target), filepath.Base(target))
	if opts.Track != nil {
		if err := opts.Track.Scratch(ctx, tmp); err != nil {
			return err
		}
		defer opts.Track.Gone(context.WithoutCancel(ctx), tmp)
	}
	defer os.Remove(tmp)
	if err := writeSynced(tmp, r); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := integrityCheck(ctx, tmp); err != nil {
		return fmt.Errorf("the restored database fails its integrity check, %s was not touched: %w", target, err)
	}
	if want := opts.Expect[from]; want != nil {
		got, err := countRows(ctx, tmp, want)
		if err != nil {
			return err
		}
		opts.Report(from, want, got)
		if err := backup.CompareCounts(filepath.Base(target), want, got); err != nil {
			return fmt.Errorf("%w; %s was not touched", err, target)
		}
	}
	if exists {
		kept := target + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		if err := moveAside(ctx, target, kept); err != nil {
			return err
		}
		log.Info("the previous database file is kept as " + kept)
	}
	if err := os.Rename(tmp, target); err != nil {
		return err
	}
	log.Info("database file " + target + " restored and passed integrity_check")
	return nil
}

func writeSynced(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func integrityCheck(ctx context.Context, path string) error {
	db, err := open(path, true)
	if err != nil {
		return err
	}
	defer db.Close()
	var res string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil {
		return err
	}
	if res != "ok" {
		return errors.New(res)
	}
	return nil
}

// Inspect tells whether the target file exists and holds data.
func (s *Source) Inspect(_ context.Context, db string) (source.Target, error) {
	path := s.targetPath(db)
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return source.Target{}, nil
	}
	if err != nil {
		return source.Target{}, err
	}
	t := source.Target{Exists: true}
	if st.Size() > 0 {
		t.Holds = fmt.Sprintf("a database file of %s", backup.HumanBytes(st.Size()))
	}
	return t, nil
}

// targetPath is where a restore named db writes: this source's file, or
// another name in its directory.
func (s *Source) targetPath(db string) string {
	if db == "" || db == s.Name() {
		return s.cfg.Path
	}
	if filepath.IsAbs(db) {
		return db
	}
	return filepath.Join(filepath.Dir(s.cfg.Path), db)
}

var scratchFile = regexp.MustCompile(`^\..+\.dbackup-[0-9a-f]{12}$`)

// DropDatabase removes a restore's temporary file left by a crash; it
// removes nothing else.
func (s *Source) DropDatabase(_ context.Context, path string) error {
	if !scratchFile.MatchString(filepath.Base(path)) {
		return fmt.Errorf("%s is not a restore's temporary file", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// countRows counts the rows of the tables want names in the file at path.
func countRows(ctx context.Context, path string, want backup.Counts) (backup.Counts, error) {
	db, err := open(path, true)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	got := backup.Counts{}
	for table := range want {
		var n int64
		q := `SELECT count(*) FROM "` + strings.ReplaceAll(table, `"`, `""`) + `"`
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			continue // missing: CompareCounts says so
		}
		got[table] = n
	}
	return got, nil
}

// moveAside checkpoints the current database so its WAL holds nothing,
// then renames the file and any WAL/SHM files to kept. No WAL of the old
// file may be left next to the new one: SQLite would apply it.
func moveAside(ctx context.Context, path, kept string) error {
	if db, err := open(path, false); err == nil {
		db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
		db.Close()
	}
	if err := os.Rename(path, kept); err != nil {
		return err
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Rename(path+suffix, kept+suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Close releases nothing.
func (s *Source) Close() error { return nil }
