package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/pipeline"
	"github.com/dbackup/dbackup/internal/source"
)

// SettingDrillMaxMiB is the largest backup (stored MiB) drilled
// automatically, after backups or on a schedule; 0: no bound. Drills asked
// for by hand have none.
const SettingDrillMaxMiB = "drill_max_mib"

// drillSkip is a drill that did not run, and why: not a failure.
type drillSkip struct{ reason string }

func (s drillSkip) Error() string { return s.reason }

// RunDrill runs a drill execution that is already marked running.
func (r *Runner) RunDrill(ctx context.Context, e *backup.Execution) (*backup.Execution, error) {
	return r.execute(ctx, e, r.drill)
}

// drill restores one backup into a throwaway server (or a scratch source)
// and compares what it finds with the backup's counts, in stages:
// Initialize (the backup's sidecar and key, the bounds) → Server (start
// the throwaway server, or reach the scratch source) → Restore (the
// backup streamed in, its bytes checked against the sidecar as they pass,
// every table counted) → Complete. The server and everything it wrote are
// removed whatever the outcome.
func (r *Runner) drill(ctx context.Context, l *execLog) (backup.Status, string) {
	e := l.snapshot()
	if len(e.Destinations) != 1 || e.Drill == nil {
		return backup.StatusFailed, "a drill names one backup at one destination"
	}
	d := &drillRun{r: r, l: l, e: e, result: *e.Drill}
	defer d.save()
	st, msg := d.run(ctx)
	switch {
	case st == backup.StatusSuccess || ctx.Err() == nil:
		return st, msg
	case errors.Is(context.Cause(ctx), backup.ErrShutdown):
		return backup.StatusFailed, "interrupted: this node stopped before the drill ended; its server was removed, ask for the drill again"
	}
	return interrupted(ctx, ctx.Err())
}

// drillRun is one drill's state as its stages fill it.
type drillRun struct {
	r      *Runner
	l      *execLog
	e      backup.Execution
	b      *openedBackup
	mu     sync.Mutex
	result backup.Drill
}

// save writes the drill's result to the execution.
func (d *drillRun) save() {
	d.mu.Lock()
	res := d.result
	res.Tables = slices.Clone(d.result.Tables)
	d.mu.Unlock()
	d.l.update(func(e *backup.Execution) { e.Drill = &res })
}

func (d *drillRun) run(ctx context.Context) (backup.Status, string) {
	fail := func(format string, args ...any) (backup.Status, string) {
		return backup.StatusFailed, fmt.Sprintf(format, args...)
	}
	skip := func(err error) (backup.Status, string, bool) {
		var s drillSkip
		if errors.As(err, &s) {
			d.result.Skipped = s.reason
			d.l.warn("drill skipped: %s", s.reason)
			return backup.StatusSkipped, "skipped: " + s.reason, true
		}
		return "", "", false
	}
	l := d.l
	l.stage(backup.StageInitialize)
	at := d.e.Destinations[0]
	b, err := d.r.openBackup(ctx, at.DestinationID, at.Key, "", nil, l.info)
	if err != nil {
		return fail("%v", err)
	}
	defer b.close()
	d.b = b
	d.result.BackupCreatedAt = b.meta.CreatedAt
	if err := d.checkSize(ctx); err != nil {
		if st, msg, ok := skip(err); ok {
			return st, msg
		}
		return fail("%v", err)
	}
	opts, err := b.restoreOptions(nil)
	if err != nil {
		return fail("%v", err)
	}
	opts.Concurrency = d.r.dumpConcurrency(ctx)
	if b.meta.Contents == nil {
		l.warn("this backup's sidecar holds no counts (it was made before dbackup recorded them): the drill proves it restores, not that every row is there")
	}

	l.stage(backup.StageServer)
	t, err := d.target(ctx, &opts)
	if err != nil {
		if st, msg, ok := skip(err); ok {
			return st, msg
		}
		return fail("%v", err)
	}
	defer t.stop()
	d.save()
	if err := source.CheckRestoreVersion(b.meta.EngineVersion, t.version, false); err != nil {
		return fail("%v", err)
	}

	l.stage(backup.StageRestore)
	opts.Counted = func(db string, want, got backup.Counts) {
		d.mu.Lock()
		d.result.RecordCounts(db, want, got)
		d.mu.Unlock()
	}
	// The stall watchdog of backups: a restore that reads nothing for the
	// stall timeout fails.
	prog := &pipeline.Progress{}
	rctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	stopReport := d.r.reportProgress(l, prog, d.r.stallTimeout(ctx, &backup.Job{}), stop)
	start := d.r.now()
	err = b.restoreInto(rctx, t.src, opts, true, &prog.Dumped, l.slogger())
	stopReport()
	n := prog.Dumped.N()
	d.mu.Lock()
	d.result.RestoreMillis, d.result.BytesRead = d.r.now().Sub(start).Milliseconds(), n
	d.mu.Unlock()
	l.update(func(e *backup.Execution) { e.BytesDumped, e.BytesStored = n, b.meta.Size })
	if cause := context.Cause(rctx); err != nil && errors.Is(cause, backup.ErrStalled) {
		return fail("%v", cause)
	}
	if err != nil {
		return fail("the backup did not restore: %v", err)
	}
	d.l.info("drill passed: %s on %s %s", d.result.Summary(), b.meta.SourceType, t.version)
	l.stage(backup.StageComplete)
	return backup.StatusSuccess, ""
}

// checkSize skips an automatic drill of a backup larger than the setting.
func (d *drillRun) checkSize(ctx context.Context) error {
	if !d.e.Trigger.Automatic() {
		return nil
	}
	v, ok, err := d.r.Store.GetSetting(ctx, SettingDrillMaxMiB)
	if err != nil {
		return err
	}
	maxMiB := int64(10240)
	if ok {
		if maxMiB, err = strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Errorf("setting %s: %v", SettingDrillMaxMiB, err)
		}
	}
	if maxMiB > 0 && d.b.meta.Size > maxMiB<<20 {
		return drillSkip{fmt.Sprintf("the backup is %s, larger than the %s that drills run on their own (setting %s)",
			backup.HumanBytes(d.b.meta.Size), backup.HumanBytes(maxMiB<<20), SettingDrillMaxMiB)}
	}
	return nil
}

// drillTarget is the server a drill restores into.
type drillTarget struct {
	src     source.Source
	version string
	stop    func()
}

// target starts the throwaway server, or reaches the scratch source the
// drill names and points opts at fresh databases there.
func (d *drillRun) target(ctx context.Context, opts *source.RestoreOptions) (*drillTarget, error) {
	if d.result.TargetID != "" {
		return d.scratchTarget(ctx, opts)
	}
	m := d.b.meta
	start := d.r.Throwaways[m.SourceType]
	if start == nil {
		return nil, fmt.Errorf("dbackup cannot start a %s server of its own: choose a drill target for this job (a source marked as scratch)", m.SourceType)
	}
	dir, err := d.r.drillDir(m, d.e.ID)
	if err != nil {
		return nil, err
	}
	removeDir := func() {
		if err := removeDrillDir(dir); err != nil {
			d.l.warn("could not remove the drill directory %s (the next start retries): %v", dir, err)
		}
	}
	began := d.r.now()
	tw, err := start(ctx, source.ThrowawayOptions{Dir: filepath.Join(dir, drillServerDir), Version: m.EngineVersion, ToolDirs: d.r.ToolDirs, Log: d.l.slogger()})
	if err != nil {
		removeDir()
		return nil, fmt.Errorf("start a throwaway %s server: %w", m.SourceType, err)
	}
	d.mu.Lock()
	d.result.Target, d.result.ServerVersion = "throwaway", tw.Version
	d.result.StartupMillis = d.r.now().Sub(began).Milliseconds()
	d.mu.Unlock()
	d.l.info("throwaway %s server %s started in %s (%s), reached through a socket only", m.SourceType, tw.Version,
		time.Duration(d.result.StartupMillis)*time.Millisecond, dir)
	return &drillTarget{src: tw.Source, version: tw.Version, stop: func() {
		if err := tw.Stop(); err != nil {
			d.l.warn("stopping the throwaway server: %v", err)
		}
		tw.Source.Close()
		removeDir()
		d.l.info("throwaway server stopped and its directory removed")
	}}, nil
}

// scratchTarget reaches the scratch source a drill restores into and
// renames every database of the backup to a fresh one there, recorded so
// that a crash leaves nothing behind; they are dropped after.
func (d *drillRun) scratchTarget(ctx context.Context, opts *source.RestoreOptions) (*drillTarget, error) {
	ep, err := d.r.Store.Sources().Get(ctx, d.result.TargetID)
	if err != nil {
		return nil, fmt.Errorf("drill target: %v", err)
	}
	m := d.b.meta
	switch {
	case !ep.Scratch:
		return nil, fmt.Errorf("drill target %s is not marked as scratch: drills write to it, so it must be", ep.Name)
	case ep.Type != m.SourceType:
		return nil, fmt.Errorf("the backup is a %s backup; drill target %s is %s", m.SourceType, ep.Name, ep.Type)
	case ep.Type == "sqlite":
		return nil, fmt.Errorf("SQLite drills need no drill target: they restore into a private file")
	}
	src, err := d.r.Sources.New(ep)
	if err != nil {
		return nil, fmt.Errorf("drill target %s: %v", ep.Name, err)
	}
	version, err := src.Version(ctx)
	if err == nil {
		err = src.Check(ctx)
	}
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("drill target %s: %v", ep.Name, err)
	}
	d.mu.Lock()
	d.result.Target, d.result.ServerVersion = ep.Name, version
	d.mu.Unlock()
	track := &tracker{r: d.r, sourceID: ep.ID, execution: d.e.ID, log: d.l}
	var made []string
	dropper, drops := src.(source.Dropper)
	if drops && m.SourceType != "redis" {
		opts.Targets = map[string]string{}
		for _, db := range m.Databases {
			name := "dbackup_drill_" + source.RandomSuffix()
			opts.Targets[db] = name
			made = append(made, name)
		}
	}
	for _, name := range made {
		if err := track.Scratch(ctx, name); err != nil {
			src.Close()
			return nil, fmt.Errorf("record the drill's database: %w", err)
		}
	}
	opts.Overwrite, opts.DropReplaced, opts.Track = true, true, track
	d.l.info("drilling into scratch source %s (%s %s)", ep.Name, ep.Type, version)
	return &drillTarget{src: src, version: version, stop: func() {
		for _, name := range made {
			if err := dropper.DropDatabase(context.WithoutCancel(ctx), name); err != nil {
				d.l.warn("could not drop the drill's database %s on %s (retried every minute): %v", name, ep.Name, err)
				continue
			}
			track.Gone(context.WithoutCancel(ctx), name)
		}
		src.Close()
	}}, nil
}

// drillDir makes the directory of one drill under the drill directory,
// after checking the disk has room for it: dbackup's (mode 0711), marked
// with the owning process and execution, holding the server's private
// directory (drillServerDir, 0700, which the engine gives to its user).
func (r *Runner) drillDir(m *backup.Meta, execution string) (string, error) {
	base := r.DrillBase()
	if err := os.MkdirAll(base, 0o711); err != nil {
		return "", fmt.Errorf("drill directory: %w", err)
	}
	if err := reachable(base); err != nil {
		return "", err
	}
	need := drillSpace(m)
	var st syscall.Statfs_t
	if err := syscall.Statfs(base, &st); err == nil {
		if free := int64(st.Bavail) * st.Bsize; free < need {
			return "", drillSkip{fmt.Sprintf("the throwaway server needs about %s in %s, which has %s free", backup.HumanBytes(need), base, backup.HumanBytes(free))}
		}
	}
	dir, err := os.MkdirTemp(base, drillDirPrefix)
	if err != nil {
		return "", fmt.Errorf("drill directory: %w", err)
	}
	owner := fmt.Sprintf("%d %s\n", os.Getpid(), execution)
	err = os.WriteFile(filepath.Join(dir, drillOwner), []byte(owner), 0o600)
	if err == nil {
		err = os.Mkdir(filepath.Join(dir, drillServerDir), 0o700)
	}
	if err == nil {
		err = os.Chmod(dir, 0o711)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("drill directory: %w", err)
	}
	return dir, nil
}

// drillSpace is what a throwaway server of m is expected to need: twice
// the dump (the data with its indexes and logs) and room to start.
func drillSpace(m *backup.Meta) int64 {
	dump := m.DumpSize
	if dump == 0 {
		dump = m.Size
		if m.Compression.Algorithm != backup.CompressionNone {
			dump *= 4 // older sidecars: a typical compression ratio
		}
	}
	return 2*dump + 256<<20
}

// reachable checks that the database servers, which run as their own
// users when dbackup runs as root, can reach the drill directory: every
// directory above it must let others through.
func reachable(base string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	for dir := filepath.Clean(base); ; dir = filepath.Dir(dir) {
		st, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("drill directory: %w", err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("the drill directory %s cannot be reached by the database servers' users: %s is mode %04o; let others through it (chmod o+x) or choose another drill directory (-drill-dir)",
				base, dir, st.Mode().Perm())
		}
		if dir == filepath.Dir(dir) {
			return nil
		}
	}
}
