// Package runner executes one execution: a backup through the stages
// Initialize → Dump → Upload → Verify → Complete, or a restore.
package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/pipeline"
	"github.com/dbackup/dbackup/internal/pipeline/crypt"
	"github.com/dbackup/dbackup/internal/plugin"
	"github.com/dbackup/dbackup/internal/source"
	"github.com/dbackup/dbackup/internal/store"
)

// Runner runs executions. It is safe for concurrent use.
type Runner struct {
	Store    store.Store
	Sources  *plugin.Registry[source.Source]
	Dests    *plugin.Registry[dest.Destination]
	Log      *slog.Logger
	Location *time.Location // for backup names
	Now      func() time.Time
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

// RunClaimed runs a backup execution that is already marked running (by
// the queue's claim).
func (r *Runner) RunClaimed(ctx context.Context, e *backup.Execution) (*backup.Execution, error) {
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
	case errors.Is(cause, backup.ErrCancelled):
		return backup.StatusCancelled, "cancelled by user"
	case errors.Is(cause, backup.ErrStalled), errors.Is(cause, backup.ErrTooLong):
		return backup.StatusFailed, cause.Error()
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
}

func (r *Runner) backup(parent context.Context, l *execLog) (backup.Status, string) {
	e := l.snapshot()
	l.stage(backup.StageInitialize)
	job, err := r.Store.GetJob(parent, e.JobID)
	if err != nil {
		return backup.StatusFailed, fmt.Sprintf("load job: %v", err)
	}
	ctx, stop := context.WithCancelCause(parent)
	defer stop(nil)
	if d := time.Duration(job.MaxDuration); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, d, fmt.Errorf("%w (%s)", backup.ErrTooLong, d))
		defer cancel()
	}
	stall := r.stallTimeout(ctx, job)
	srcEp, err := r.Store.Sources().Get(ctx, job.SourceID)
	if err != nil {
		return backup.StatusFailed, fmt.Sprintf("load source: %v", err)
	}
	src, err := r.Sources.New(srcEp)
	if err != nil {
		return backup.StatusFailed, fmt.Sprintf("source %s: %v", srcEp.Name, err)
	}
	defer src.Close()
	if err := src.Check(ctx); err != nil {
		if ctx.Err() != nil {
			return interrupted(ctx, err)
		}
		return backup.StatusFailed, fmt.Sprintf("source %s: %v", srcEp.Name, err)
	}
	l.info("source %s (%s) is reachable", srcEp.Name, srcEp.Type)

	var key []byte
	var profile *backup.Profile
	if job.ProfileID != "" {
		if profile, err = r.Store.GetProfile(ctx, job.ProfileID); err != nil {
			return backup.StatusFailed, fmt.Sprintf("encryption profile: %v", err)
		}
		key = profile.Key
	}

	targets, err := r.openTargets(ctx, job, l)
	defer func() {
		for _, t := range targets {
			if t.d != nil {
				t.d.Close()
			}
		}
	}()
	if err != nil {
		return backup.StatusFailed, err.Error()
	}
	var usable []*target
	for _, t := range targets {
		if t.d != nil {
			usable = append(usable, t)
		}
	}
	if len(usable) == 0 {
		return backup.StatusFailed, "no destination is reachable: " + destErrors(targets)
	}

	plan, err := src.Plan(ctx, job.Databases)
	if err != nil {
		if ctx.Err() != nil {
			return interrupted(ctx, err)
		}
		return backup.StatusFailed, err.Error()
	}
	l.info("databases: %s; engine version %s", strings.Join(plan.Databases, ", "), plan.EngineVersion)
	startedAt := r.now()
	var nameDBs []string
	if len(job.Databases) > 0 {
		nameDBs = plan.Databases
	}
	ext := "." + plan.Ext + job.Compression.Ext()
	if key != nil {
		ext += ".enc"
	}
	tmpl := job.NamingTemplate
	if tmpl == "" {
		tmpl, _, _ = r.Store.GetSetting(ctx, SettingNamingTemplate)
	}
	base := backup.BackupName(tmpl, job.Name, nameDBs, startedAt, r.Location)
	objKey, usable, err := uniqueKey(ctx, backup.SafeName(job.Name), base, ext, usable, l)
	if err != nil {
		l.update(func(e *backup.Execution) { e.Destinations = results(targets) })
		return backup.StatusFailed, err.Error() + ": " + destErrors(targets)
	}
	l.update(func(e *backup.Execution) { e.BackupName = objKey })
	l.info("backup %s: compression %s level %d, encryption %s", objKey, job.Compression, job.Compression.Level(job.CompressionLevel), profileName(profile))

	// Dump: one streaming pass to every destination at once.
	l.stage(backup.StageDump)
	var prog pipeline.Progress
	stopProgress := r.reportProgress(l, &prog, stall, stop)
	consumers := make([]pipeline.Consumer, len(usable))
	for i, t := range usable {
		consumers[i] = func(rd io.Reader) error {
			info, err := t.d.Put(ctx, objKey, rd)
			if err == nil {
				t.result.Size = info.Size
			}
			return err
		}
	}
	dumpLog := l.slogger()
	res, errs, err := pipeline.Run(ctx, func(ctx context.Context, w io.Writer) error {
		return src.Dump(ctx, plan, w, dumpLog)
	}, pipeline.Options{Compression: job.Compression, Level: job.CompressionLevel, Key: key}, &prog, consumers...)
	stopProgress()
	if err != nil {
		for _, t := range usable {
			t.result.Status, t.result.Error = backup.StatusFailed, "aborted: "+err.Error()
		}
		l.update(func(e *backup.Execution) { e.Destinations = results(targets) })
		if ctx.Err() != nil {
			return interrupted(ctx, err)
		}
		return backup.StatusFailed, "dump failed: " + err.Error()
	}
	took := r.now().Sub(startedAt)
	l.update(func(e *backup.Execution) {
		e.BytesDumped, e.BytesStored, e.SHA256 = res.DumpBytes, res.StoredBytes, res.SHA256
	})
	l.info("dump complete: %s dumped, %s stored (%.1f%%), %s/s, sha256 %s", backup.HumanBytes(res.DumpBytes), backup.HumanBytes(res.StoredBytes),
		100*float64(res.StoredBytes)/float64(max(res.DumpBytes, 1)), backup.HumanBytes(int64(float64(res.DumpBytes)/max(took.Seconds(), 0.001))), res.SHA256)

	l.stage(backup.StageUpload)
	for i, t := range usable {
		if errs[i] != nil {
			t.result.Status, t.result.Error = backup.StatusFailed, errs[i].Error()
			l.error("destination %s: upload failed: %v", t.ep.Name, errs[i])
			continue
		}
		t.result.Key = objKey
		l.info("destination %s: %s uploaded", t.ep.Name, backup.HumanBytes(t.result.Size))
	}

	l.stage(backup.StageVerify)
	meta := backup.Meta{
		FormatVersion: backup.MetaVersion, JobID: job.ID, JobName: job.Name, ExecutionID: e.ID,
		SourceType: srcEp.Type, SourceName: srcEp.Name, EngineVersion: plan.EngineVersion, Databases: plan.Databases,
		DataFormat: plan.Format, DataFile: objKey[strings.LastIndex(objKey, "/")+1:], CreatedAt: startedAt.UTC(),
		Compression: backup.MetaCompression{Algorithm: job.Compression, Level: job.Compression.Level(job.CompressionLevel)},
		Size:        res.StoredBytes, SHA256: res.SHA256, Trigger: e.Trigger, Locked: e.Lock,
	}
	if profile != nil {
		meta.Encryption = &backup.MetaEncryption{ProfileID: profile.ID, KeyID: crypt.KeyID(profile.Key), ContainerVersion: 1}
	}
	// Each destination reads back its own copy, all at once.
	var wg sync.WaitGroup
	for i, t := range usable {
		if errs[i] != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			method, err := r.verifyAndCommit(ctx, t, objKey, meta, l)
			if err != nil {
				t.result.Status, t.result.Error = backup.StatusFailed, err.Error()
				l.error("destination %s: %v", t.ep.Name, err)
				return
			}
			t.result.Status, t.result.Verified, t.result.VerifyMethod = backup.StatusSuccess, true, method
		}()
	}
	wg.Wait()
	l.update(func(e *backup.Execution) { e.Destinations = results(targets) })
	if ctx.Err() != nil {
		return interrupted(ctx, ctx.Err())
	}

	l.stage(backup.StageRetention)
	r.retentionStage(ctx, job, targets, objKey, l)

	l.stage(backup.StageComplete)
	ok := 0
	for _, t := range targets {
		if t.result.Status == backup.StatusSuccess {
			ok++
		}
	}
	switch {
	case ok == len(targets):
		return backup.StatusSuccess, ""
	case ok > 0:
		return backup.StatusPartial, fmt.Sprintf("%d of %d destinations failed: %s", len(targets)-ok, len(targets), destErrors(targets))
	}
	return backup.StatusFailed, "every destination failed: " + destErrors(targets)
}

// verifyAndCommit proves the stored copy is the dump: by the provider's
// checksum where the destination has one (no download), otherwise by
// reading it back and comparing size and SHA-256. Then it writes the
// sidecar that makes it a backup. On failure it removes the data.
func (r *Runner) verifyAndCommit(ctx context.Context, t *target, key string, meta backup.Meta, l *execLog) (string, error) {
	fail := func(err error) (string, error) {
		if derr := t.d.Delete(context.WithoutCancel(ctx), key); derr != nil && !errors.Is(derr, dest.ErrNotFound) {
			l.warn("destination %s: could not remove unverified %s: %v", t.ep.Name, key, derr)
		}
		return "", err
	}
	method := ""
	if cv, ok := dest.As[dest.ChecksumVerifier](t.d); ok {
		m, err := cv.VerifyUpload(ctx, key, meta.Size, meta.SHA256)
		switch {
		case err == nil:
			method = m
		case errors.Is(err, dest.ErrNoChecksum):
			l.info("destination %s: %v; reading the copy back instead", t.ep.Name, err)
		default:
			return fail(fmt.Errorf("verification failed: %w", err))
		}
	}
	if method == "" {
		rc, err := t.d.Open(ctx, key)
		if err != nil {
			return fail(fmt.Errorf("read back: %w", err))
		}
		h := sha256.New()
		n, err := io.Copy(h, dest.WithContext(ctx, rc))
		rc.Close()
		if err != nil {
			return fail(fmt.Errorf("read back: %w", err))
		}
		if sum := hex.EncodeToString(h.Sum(nil)); n != meta.Size || sum != meta.SHA256 {
			return fail(fmt.Errorf("verification failed: stored %d bytes with SHA-256 %s, expected %d bytes with %s", n, sum, meta.Size, meta.SHA256))
		}
		method = "read-back-sha256"
	}
	meta.Verification = &backup.MetaVerification{VerifiedAt: r.now().UTC(), Method: method, Passed: true}
	b, err := meta.Marshal()
	if err != nil {
		return fail(err)
	}
	if _, err := t.d.Put(ctx, key+backup.MetaSuffix, strings.NewReader(string(b))); err != nil {
		return fail(fmt.Errorf("write sidecar: %w", err))
	}
	l.info("destination %s: verified (%s) and committed", t.ep.Name, method)
	return method, nil
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
				l.update(func(e *backup.Execution) { e.BytesDumped, e.BytesStored = d, s })
				if now := r.now(); now.Sub(lastLog) >= 10*time.Second {
					lastLog = now
					l.info("%s dumped, %s stored, %s/s", backup.HumanBytes(d), backup.HumanBytes(s), backup.HumanBytes(int64(float64(d)/now.Sub(start).Seconds())))
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
