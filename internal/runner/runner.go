// Package runner executes one execution: a backup through the stages
// Initialize → Dump → Upload → Verify → Complete, or a restore.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/pipeline"
	"github.com/dbackup/dbackup/internal/plugin"
	"github.com/dbackup/dbackup/internal/source"
	"github.com/dbackup/dbackup/internal/store"
)

// Runner runs executions. It is safe for concurrent use.
type Runner struct {
	Store   store.Store
	Sources *plugin.Registry[source.Source]
	Dests   *plugin.Registry[dest.Destination]
	Log     *slog.Logger
	// Validators prove each dump whole as it streams, by data format.
	Validators source.Validators
	// Location is the time zone of backup names and retention buckets when
	// Zone is nil; Zone (the scheduler time zone setting) wins.
	Location *time.Location
	Zone     func(context.Context) *time.Location
	Now      func() time.Time
	// Throwaways start the private servers that drills restore into, by
	// source type; DrillDir is where they live (default: the temporary
	// directory); ToolDirs are searched for their programs first.
	Throwaways map[string]source.Starter
	DrillDir   string
	ToolDirs   []string
	// FlushInterval is how often logs and progress are written (default 1s).
	FlushInterval time.Duration
	// Hooks for notifications; nil ones are skipped. They must not block.
	OnStart             func(e *backup.Execution)
	OnFinish            func(e *backup.Execution)
	OnDestinationFailed func(name string, err error)
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// zone is the one time zone of backup names and retention buckets: the
// scheduler's, as the UI shows it.
func (r *Runner) zone(ctx context.Context) *time.Location {
	if r.Zone != nil {
		return r.Zone(ctx)
	}
	if r.Location != nil {
		return r.Location
	}
	return time.UTC
}

func (r *Runner) interval() time.Duration {
	if r.FlushInterval > 0 {
		return r.FlushInterval
	}
	return time.Second
}

// Run claims a queued backup execution and runs it to a final status. Cancel
// ctx with cause backup.ErrCancelled to cancel it; any other cancellation
// fails it as interrupted. The returned execution is the final state.
func (r *Runner) Run(ctx context.Context, id string) (*backup.Execution, error) {
	e, err := r.Store.GetExecution(ctx, id)
	if err != nil {
		return nil, err
	}
	started := r.now().UTC()
	ok, err := r.Store.Transition(ctx, e.ID, backup.StatusQueued, backup.StatusRunning, started, "")
	if err != nil {
		return nil, err
	}
	if !ok {
		return e, fmt.Errorf("execution %s is %s, not queued", e.ID, e.Status)
	}
	e.Status, e.StartedAt = backup.StatusRunning, &started
	return r.RunClaimed(ctx, e)
}

// RunClaimed runs a backup (or drill) execution that is already marked
// running (by the queue's claim).
func (r *Runner) RunClaimed(ctx context.Context, e *backup.Execution) (*backup.Execution, error) {
	if e.Kind == backup.KindDrill {
		return r.RunDrill(ctx, e)
	}
	return r.execute(ctx, e, func(ctx context.Context, l *execLog) (backup.Status, string) { return r.backup(ctx, l) })
}

// execute runs fn for a running execution and writes the final status
// after the log.
func (r *Runner) execute(ctx context.Context, e *backup.Execution, fn func(context.Context, *execLog) (backup.Status, string)) (*backup.Execution, error) {
	log := r.Log.With("execution", e.ID, "job", e.JobName, "kind", e.Kind)
	log.Info("execution started")
	if r.OnStart != nil {
		r.OnStart(e)
	}
	l := newExecLog(r.Store, e, r.interval(), r.now, log)

	status, msg := fn(ctx, l)
	switch status {
	case backup.StatusSuccess:
		l.info("%s finished successfully", e.Kind)
	case backup.StatusPartial:
		l.warn("%s finished partially: %s", e.Kind, msg)
	case backup.StatusCancelled:
		l.warn("%s cancelled: %s", e.Kind, msg)
	case backup.StatusSkipped:
		l.warn("%s %s", e.Kind, msg)
	default:
		l.error("%s failed: %s", e.Kind, msg)
	}
	l.update(func(e *backup.Execution) { e.Error = msg })
	l.close()

	wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := r.Store.Transition(wctx, e.ID, backup.StatusRunning, status, r.now().UTC(), msg); err != nil {
		return nil, err
	}
	log.Info("execution finished", "status", status, "error", msg)
	final, err := r.Store.GetExecution(wctx, e.ID)
	if err == nil && r.OnFinish != nil {
		r.OnFinish(final)
	}
	return final, err
}

// interrupted returns the final status for a context that ended the run.
func interrupted(ctx context.Context, err error) (backup.Status, string) {
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, backup.ErrCancelled) && cause != backup.ErrCancelled:
		return backup.StatusCancelled, cause.Error() // "cancelled by admin"
	case errors.Is(cause, backup.ErrCancelled):
		return backup.StatusCancelled, "cancelled by user"
	case errors.Is(cause, backup.ErrStalled), errors.Is(cause, backup.ErrTooLong):
		return backup.StatusFailed, cause.Error()
	case errors.Is(cause, backup.ErrShutdown):
		return backup.StatusFailed, "interrupted: this node stopped before the run ended; a backup is queued again, nothing from this run was committed"
	case ctx.Err() != nil:
		return backup.StatusFailed, fmt.Sprintf("interrupted: %v", cause)
	}
	return backup.StatusFailed, err.Error()
}

// target is one destination of a run.
type target struct {
	ep     *backup.Endpoint
	d      dest.Destination
	result *backup.DestResult
	// What the backup's upload and its verification took here.
	upload, verify backup.StageTiming
}

func (r *Runner) openTargets(ctx context.Context, job *backup.Job, l *execLog) ([]*target, error) {
	if len(job.Destinations) == 0 {
		return nil, errors.New("the job has no destination")
	}
	var out []*target
	for _, jd := range job.Destinations {
		ep, err := r.Store.Destinations().Get(ctx, jd.DestinationID)
		if err != nil {
			return out, fmt.Errorf("load destination %s: %w", jd.DestinationID, err)
		}
		t := &target{ep: ep, result: &backup.DestResult{DestinationID: ep.ID, Name: ep.Name}}
		out = append(out, t)
		d, err := r.Dests.New(ep)
		if err == nil {
			if err = d.Check(ctx); err != nil {
				d.Close()
			}
		}
		if err != nil {
			t.result.Status, t.result.Error = backup.StatusFailed, err.Error()
			l.error("destination %s is not usable, skipping it: %v", ep.Name, err)
			if r.OnDestinationFailed != nil {
				r.OnDestinationFailed(ep.Name, err)
			}
			continue
		}
		t.d = d
		l.info("destination %s (%s) is reachable", ep.Name, ep.Type)
	}
	return out, nil
}

// uniqueKey picks folder/base+ext, adding _2, _3… while any destination
// already has that name. A destination that cannot answer is marked failed
// and dropped from this run rather than failing the others.
func uniqueKey(ctx context.Context, folder, base, ext string, ts []*target, l *execLog) (string, []*target, error) {
	for i := 1; i <= 100; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s_%d", base, i)
		}
		key := folder + "/" + name + ext
		taken := false
		var ok []*target
		for _, t := range ts {
			failed := false
			for _, k := range []string{key, key + backup.MetaSuffix} {
				if _, err := t.d.Stat(ctx, k); err == nil {
					taken = true
				} else if !errors.Is(err, dest.ErrNotFound) {
					t.result.Status, t.result.Error = backup.StatusFailed, err.Error()
					l.error("destination %s is not usable, skipping it: %v", t.ep.Name, err)
					failed = true
					break
				}
			}
			if !failed {
				ok = append(ok, t)
			}
		}
		ts = ok
		if len(ts) == 0 {
			return "", nil, errors.New("no destination is usable")
		}
		if !taken {
			return key, ts, nil
		}
	}
	return "", nil, fmt.Errorf("no free backup name for %s", base)
}

// SettingDumpConcurrency is how many databases of one job are dumped, or
// restored, at once.
const SettingDumpConcurrency = "dump_concurrency"

func (r *Runner) dumpConcurrency(ctx context.Context) int {
	n := 2
	if v, ok, err := r.Store.GetSetting(ctx, SettingDumpConcurrency); err == nil && ok {
		fmt.Sscan(v, &n)
	}
	return max(n, 1)
}

// SettingStallMinutes is the default stall timeout of runs, in minutes.
const SettingStallMinutes = "stall_timeout_minutes"

func (r *Runner) stallTimeout(ctx context.Context, job *backup.Job) time.Duration {
	if d := time.Duration(job.StallTimeout); d > 0 {
		return d
	}
	minutes := 60
	if v, ok, err := r.Store.GetSetting(ctx, SettingStallMinutes); err == nil && ok {
		fmt.Sscan(v, &minutes)
	}
	return time.Duration(minutes) * time.Minute
}

// reportProgress updates byte counts every flush interval and logs a line
// every ten seconds. A dump that moves no byte for stall ends the run
// through stop. The returned function stops the reporter.
func (r *Runner) reportProgress(l *execLog, prog *pipeline.Progress, stall time.Duration, stop context.CancelCauseFunc) func() {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(r.interval())
		defer t.Stop()
		start, lastLog := r.now(), r.now()
		lastBytes, lastMove := int64(-1), time.Now()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				d, s := prog.Dumped.N(), prog.Stored.N()
				if d != lastBytes {
					lastBytes, lastMove = d, time.Now()
				} else if stall > 0 && time.Since(lastMove) >= stall {
					stop(fmt.Errorf("%w: no data moved for %s", backup.ErrStalled, stall.Round(time.Second)))
				}
				l.update(func(e *backup.Execution) { e.BytesDumped = d; e.BytesStored = max(e.BytesStored, s) })
				if now := r.now(); now.Sub(lastLog) >= 10*time.Second {
					lastLog = now
					rate := backup.HumanBytes(int64(float64(d)/now.Sub(start).Seconds())) + "/s"
					if l.snapshot().Kind == backup.KindDrill {
						l.info("%s of the dump restored, %s", backup.HumanBytes(d), rate)
					} else {
						l.info("%s dumped, %s stored, %s", backup.HumanBytes(d), backup.HumanBytes(s), rate)
					}
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

func results(ts []*target) []backup.DestResult {
	out := make([]backup.DestResult, len(ts))
	for i, t := range ts {
		out[i] = *t.result
	}
	return out
}

func destErrors(ts []*target) string {
	var parts []string
	for _, t := range ts {
		if t.result.Error != "" {
			parts = append(parts, t.ep.Name+": "+t.result.Error)
		}
	}
	return strings.Join(parts, "; ")
}

func profileName(p *backup.Profile) string {
	if p == nil {
		return "none"
	}
	return "AES-256-GCM with profile " + p.Name
}
