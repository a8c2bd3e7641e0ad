package runner

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/source"
)

// SettingKeepReplacedHours is how long a restore keeps the database it
// replaced before the cleanup drops it (default 24).
const SettingKeepReplacedHours = "keep_replaced_hours"

// tracker records a restore's scratch and kept databases in the store, so
// that a crash leaves records the cleanup acts on.
type tracker struct {
	r         *Runner
	sourceID  string
	execution string
	log       *execLog
	mu        sync.Mutex
	ids       map[string]string // database → record id
}

var _ source.Tracker = (*tracker)(nil)

func (t *tracker) add(ctx context.Context, db, state string, expires *time.Time) error {
	l := &backup.Leftover{SourceID: t.sourceID, Database: db, State: state, ExecutionID: t.execution, ExpiresAt: expires}
	if err := t.r.Store.AddLeftover(ctx, l); err != nil {
		return err
	}
	t.mu.Lock()
	if t.ids == nil {
		t.ids = map[string]string{}
	}
	t.ids[db] = l.ID
	t.mu.Unlock()
	return nil
}

func (t *tracker) Scratch(ctx context.Context, db string) error {
	return t.add(ctx, db, backup.LeftoverScratch, nil)
}

func (t *tracker) Kept(ctx context.Context, db string) error {
	at := t.r.now().Add(time.Duration(t.r.keepReplacedHours(ctx)) * time.Hour).UTC()
	t.log.info("the replaced database will be kept as %s until %s", db, at.In(t.r.zone(ctx)).Format("2006-01-02 15:04 MST"))
	return t.add(ctx, db, backup.LeftoverReplaced, &at)
}

func (t *tracker) Gone(ctx context.Context, db string) {
	t.mu.Lock()
	id, ok := t.ids[db]
	delete(t.ids, db)
	t.mu.Unlock()
	if ok {
		if err := t.r.Store.DeleteLeftover(ctx, id); err != nil {
			t.log.warn("could not forget %s: %v", db, err)
		}
	}
}

func (r *Runner) keepReplacedHours(ctx context.Context) int {
	if v, ok, err := r.Store.GetSetting(ctx, SettingKeepReplacedHours); err == nil && ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			return n
		}
	}
	return 24
}

// CleanLeftovers drops what restores left: the scratch databases of the
// execution (one that was interrupted), or with execution "" those of every
// restore that no longer runs, and every kept database whose time is up.
// It returns what it dropped.
func (r *Runner) CleanLeftovers(ctx context.Context, execution string) ([]string, error) {
	all, err := r.Store.ListLeftovers(ctx, "")
	if err != nil {
		return nil, err
	}
	now := r.now()
	var dropped []string
	var errs []error
	for _, l := range all {
		due := l.State == backup.LeftoverReplaced && l.ExpiresAt != nil && !now.Before(*l.ExpiresAt)
		if l.State == backup.LeftoverScratch {
			due = l.ExecutionID == execution || execution == "" && !r.running(ctx, l.ExecutionID)
		}
		if !due {
			continue
		}
		if err := r.dropLeftover(ctx, l); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", l.Database, err))
			continue
		}
		r.Store.DeleteLeftover(ctx, l.ID)
		dropped = append(dropped, l.Database)
	}
	if len(errs) > 0 {
		return dropped, fmt.Errorf("%v", errs)
	}
	return dropped, nil
}

func (r *Runner) dropLeftover(ctx context.Context, l *backup.Leftover) error {
	ep, err := r.Store.Sources().Get(ctx, l.SourceID)
	if err != nil {
		return err
	}
	src, err := r.Sources.New(ep)
	if err != nil {
		return err
	}
	defer src.Close()
	d, ok := src.(source.Dropper)
	if !ok {
		return fmt.Errorf("source %s cannot drop databases", ep.Name)
	}
	return d.DropDatabase(ctx, l.Database)
}

func (r *Runner) running(ctx context.Context, execution string) bool {
	e, err := r.Store.GetExecution(ctx, execution)
	return err == nil && e.Status == backup.StatusRunning
}
