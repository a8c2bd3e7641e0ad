package source

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
)

// Swapper is what an engine offers so that a restore never leaves a half
// database: it restores into a scratch database and puts that in place of
// the target only once it is complete and its counts match the backup's.
// Names are the engine's own (a database, or for MongoDB a database and a
// collection prefix); the engine makes them with ScratchName and KeptName.
type Swapper interface {
	Inspector
	Dropper
	// ScratchName names a fresh scratch database for target.
	ScratchName(target string) string
	// KeptName names the database an overwrite replaces, kept at time t.
	KeptName(target string, t time.Time) string
	// CreateDatabase makes an empty database.
	CreateDatabase(ctx context.Context, db string) error
	// Load restores one database's dump (dumped from database from) into
	// db, which exists and is empty.
	Load(ctx context.Context, r io.Reader, from, db string, log *slog.Logger) error
	// Count counts in db what want names.
	Count(ctx context.Context, db string, want backup.Counts) (backup.Counts, error)
	// Swap puts scratch in place of target. With kept set, target exists
	// and becomes kept in the same step, where the engine allows.
	Swap(ctx context.Context, scratch, target, kept string) error
}

// RandomSuffix is 12 hex digits for scratch names.
func RandomSuffix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// KeptName is target_replaced_<UTC time>, cut to max bytes.
func KeptName(target string, t time.Time, max int) string {
	suffix := "_replaced_" + t.UTC().Format("20060102T150405")
	if len(target)+len(suffix) > max {
		target = target[:max-len(suffix)]
	}
	return target + suffix
}

// RefuseExisting is the error for a target that holds something when the
// user did not allow overwriting it.
func RefuseExisting(db string, t Target) error {
	return fmt.Errorf("database %s already exists and holds %s; choose a new name (for example %s_restored) or allow overwrite", db, t.Holds, db)
}

// RestoreSwapped restores one database's dump into target through a
// scratch database: created (and recorded) first, loaded, counted against
// the backup's counts, and only then swapped in; the replaced database is
// kept under a new name unless the user asked to drop it. On any failure
// the scratch is dropped and the target was never touched.
func RestoreSwapped(ctx context.Context, s Swapper, r io.Reader, from, target string, opts RestoreOptions, log *slog.Logger) (err error) {
	t, err := s.Inspect(ctx, target)
	if err != nil {
		return err
	}
	if t.Holds != "" && !opts.Overwrite {
		return RefuseExisting(target, t)
	}
	scratch := s.ScratchName(target)
	if opts.Track != nil {
		if err := opts.Track.Scratch(ctx, scratch); err != nil {
			return fmt.Errorf("record the scratch database: %w", err)
		}
	}
	gone := func(db string) {
		if opts.Track != nil {
			opts.Track.Gone(context.WithoutCancel(ctx), db)
		}
	}
	if err := s.CreateDatabase(ctx, scratch); err != nil {
		gone(scratch)
		return fmt.Errorf("create scratch database %s: %w", scratch, err)
	}
	defer func() {
		if err == nil {
			return
		}
		if derr := s.DropDatabase(context.WithoutCancel(ctx), scratch); derr != nil {
			log.Warn(fmt.Sprintf("could not drop scratch database %s (the next start retries): %v", scratch, derr))
			return
		}
		gone(scratch)
		log.Info(fmt.Sprintf("scratch database %s dropped; %s was not touched", scratch, target))
	}()
	log.Info(fmt.Sprintf("restoring into scratch database %s; %s is replaced only once the restore is complete and checked", scratch, target))
	if err := s.Load(ctx, r, from, scratch, log); err != nil {
		return fmt.Errorf("restore into database %s: %w", target, err)
	}
	if want := opts.Expect[from]; want != nil {
		got, err := s.Count(ctx, scratch, want)
		if err != nil {
			return fmt.Errorf("count what the restore wrote: %w", err)
		}
		opts.Report(from, want, got)
		if err := backup.CompareCounts(target, want, got); err != nil {
			return err
		}
		log.Info(fmt.Sprintf("restored %s holds what the backup holds: %s", target, want.Summary("object", "entries")))
	}
	kept := ""
	if t.Exists {
		kept = s.KeptName(target, time.Now())
		if opts.Track != nil {
			if err := opts.Track.Kept(ctx, kept); err != nil {
				return fmt.Errorf("record the kept database: %w", err)
			}
		}
	}
	if err := s.Swap(ctx, scratch, target, kept); err != nil {
		if kept != "" {
			gone(kept)
		}
		return fmt.Errorf("put the restored database in place of %s: %w", target, err)
	}
	gone(scratch)
	switch {
	case kept == "":
		log.Info(fmt.Sprintf("database %s restored", target))
	case opts.DropReplaced || t.Holds == "":
		if err := s.DropDatabase(context.WithoutCancel(ctx), kept); err != nil {
			log.Warn(fmt.Sprintf("database %s restored; the replaced one, %s, could not be dropped: %v", target, kept, err))
			return nil
		}
		gone(kept)
		log.Info(fmt.Sprintf("database %s restored; the replaced one was dropped", target))
	default:
		log.Info(fmt.Sprintf("database %s restored; the replaced one is kept as %s", target, kept))
	}
	return nil
}
