package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/pipeline"
	"github.com/dbackup/dbackup/internal/pipeline/crypt"
	"github.com/dbackup/dbackup/internal/source"
)

// backupRun is one backup execution: its stages in order, each a method
// that reads what the previous ones left in the struct.
type backupRun struct {
	r    *Runner
	l    *execLog
	e    backup.Execution
	ctx  context.Context
	stop context.CancelCauseFunc

	// Initialize
	job      *backup.Job
	srcEp    *backup.Endpoint
	src      source.Source
	profile  *backup.Profile
	targets  []*target // every destination of the job
	usable   []*target // those reachable, in this run's fan-out
	plan     source.Plan
	key      string // the data object's key at every destination
	started  time.Time
	stall    time.Duration
	cleanups []func()

	// Dump
	res        pipeline.Result
	validation source.Validation
	putErrs    []error
}

// backup runs the stages of a backup; the first that fails ends the run.
func (r *Runner) backup(parent context.Context, l *execLog) (backup.Status, string) {
	b := &backupRun{r: r, l: l, e: l.snapshot()}
	b.ctx, b.stop = context.WithCancelCause(parent)
	defer b.close()
	stages := []struct {
		stage backup.Stage
		run   func() error
	}{
		{backup.StageInitialize, b.initialize},
		{backup.StageDump, b.dump},
		{backup.StageUpload, b.upload},
		{backup.StageVerify, b.verify},
		{backup.StageRetention, b.retention},
	}
	for _, s := range stages {
		l.stage(s.stage)
		if err := s.run(); err != nil {
			if b.ctx.Err() != nil {
				return interrupted(b.ctx, err)
			}
			return backup.StatusFailed, err.Error()
		}
	}
	l.stage(backup.StageComplete)
	return b.outcome()
}

func (b *backupRun) close() {
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
	b.stop(nil)
}

// initialize loads the job, checks the source, opens the destinations,
// plans the dump and picks the backup's name.
func (b *backupRun) initialize() error {
	r, l := b.r, b.l
	job, err := r.Store.GetJob(b.ctx, b.e.JobID)
	if err != nil {
		return fmt.Errorf("load job: %v", err)
	}
	b.job = job
	if d := time.Duration(job.MaxDuration); d > 0 {
		ctx, cancel := context.WithTimeoutCause(b.ctx, d, fmt.Errorf("%w (%s)", backup.ErrTooLong, d))
		b.ctx = ctx
		b.cleanups = append(b.cleanups, cancel)
	}
	b.stall = r.stallTimeout(b.ctx, job)
	if b.srcEp, err = r.Store.Sources().Get(b.ctx, job.SourceID); err != nil {
		return fmt.Errorf("load source: %v", err)
	}
	if b.src, err = r.Sources.New(b.srcEp); err != nil {
		return fmt.Errorf("source %s: %v", b.srcEp.Name, err)
	}
	b.cleanups = append(b.cleanups, func() { b.src.Close() })
	if err := b.src.Check(b.ctx); err != nil {
		return fmt.Errorf("source %s: %v", b.srcEp.Name, err)
	}
	l.info("source %s (%s) is reachable", b.srcEp.Name, b.srcEp.Type)
	if job.ProfileID != "" {
		if b.profile, err = r.Store.GetProfile(b.ctx, job.ProfileID); err != nil {
			return fmt.Errorf("encryption profile: %v", err)
		}
	}

	b.targets, err = r.openTargets(b.ctx, job, l)
	b.cleanups = append(b.cleanups, func() {
		for _, t := range b.targets {
			if t.d != nil {
				t.d.Close()
			}
		}
	})
	if err != nil {
		return err
	}
	for _, t := range b.targets {
		if t.d != nil {
			b.usable = append(b.usable, t)
		}
	}
	if len(b.usable) == 0 {
		return errors.New("no destination is reachable: " + destErrors(b.targets))
	}

	if b.plan, err = b.src.Plan(b.ctx, job.Databases); err != nil {
		return err
	}
	b.plan.Concurrency = r.dumpConcurrency(b.ctx)
	for _, w := range b.plan.Warnings {
		l.warn("%s", w)
	}
	l.info("databases: %s; engine version %s", strings.Join(b.plan.Databases, ", "), b.plan.EngineVersion)
	b.started = r.now()
	var nameDBs []string
	if len(job.Databases) > 0 {
		nameDBs = b.plan.Databases
	}
	ext := "." + b.plan.Ext + job.Compression.Ext()
	if b.profile != nil {
		ext += ".enc"
	}
	tmpl := job.NamingTemplate
	if tmpl == "" {
		tmpl, _, _ = r.Store.GetSetting(b.ctx, SettingNamingTemplate)
	}
	base := backup.BackupName(tmpl, job.Name, nameDBs, b.started, r.zone(b.ctx))
	if b.key, b.usable, err = uniqueKey(b.ctx, backup.SafeName(job.Name), base, ext, b.usable, l); err != nil {
		l.update(func(e *backup.Execution) { e.Destinations = results(b.targets) })
		return fmt.Errorf("%v: %s", err, destErrors(b.targets))
	}
	// The key is in the store before any byte is written under it, so that
	// the recovery sweep finds what a crash leaves.
	l.update(func(e *backup.Execution) { e.BackupName = b.key })
	l.flush()
	l.info("backup %s: compression %s %s, encryption %s", b.key, job.Compression, job.Compression.LevelName(job.CompressionLevel), profileName(b.profile))
	return nil
}

// dump streams the dump to every usable destination at once, proving it
// whole with the engine's validator as it passes.
func (b *backupRun) dump() error {
	r, l, job := b.r, b.l, b.job
	var prog pipeline.Progress
	stopProgress := r.reportProgress(l, &prog, b.stall, b.stop)
	consumers := make([]pipeline.Consumer, len(b.usable))
	for i, t := range b.usable {
		consumers[i] = func(rd io.Reader) error {
			// The upload's own time: its whole time less the time it
			// waited for the stream.
			start, in := time.Now(), &waitingReader{r: rd}
			info, err := t.d.Put(b.ctx, b.key, in)
			if err == nil {
				t.result.Size = info.Size
				t.upload = backup.StageTiming{Stage: "upload", Destination: t.ep.Name, Bytes: info.Size, Seconds: max(time.Since(start)-in.waited, 0).Seconds()}
			}
			return err
		}
	}
	opts := pipeline.Options{Compression: job.Compression, Level: job.CompressionLevel, Validate: b.validate}
	if b.profile != nil {
		opts.Key = b.profile.Key
	}
	dumpLog := l.slogger()
	var err error
	b.res, b.putErrs, err = pipeline.Run(b.ctx, func(ctx context.Context, w io.Writer) error {
		return b.src.Dump(ctx, b.plan, w, dumpLog)
	}, opts, &prog, consumers...)
	stopProgress()
	if err != nil {
		for _, t := range b.usable {
			t.result.Status, t.result.Error = backup.StatusFailed, "aborted: "+err.Error()
		}
		l.update(func(e *backup.Execution) { e.Destinations = results(b.targets) })
		var invalid *pipeline.InvalidDumpError
		if errors.As(err, &invalid) {
			return err
		}
		return fmt.Errorf("dump failed: %w", err)
	}
	took := r.now().Sub(b.started)
	res := b.res
	l.update(func(e *backup.Execution) {
		e.BytesDumped, e.BytesStored, e.SHA256 = res.DumpBytes, res.StoredBytes, res.SHA256
	})
	l.info("dump complete: %s dumped, %s stored (%.1f%%), %s/s, sha256 %s", backup.HumanBytes(res.DumpBytes), backup.HumanBytes(res.StoredBytes),
		100*float64(res.StoredBytes)/float64(max(res.DumpBytes, 1)), backup.HumanBytes(int64(float64(res.DumpBytes)/max(took.Seconds(), 0.001))), res.SHA256)
	if res.Compression != "" {
		l.info("compression: %s", res.Compression)
	}
	l.info("dump validated: %s", b.validation.Summary)
	return nil
}

// validate is the pipeline's validator: the engine's, for this plan.
func (b *backupRun) validate(rd io.Reader) error {
	v, err := b.r.Validators.Validate(b.plan, rd)
	b.validation = v
	return err
}

// waitingReader adds up the time its reader blocks.
type waitingReader struct {
	r      io.Reader
	waited time.Duration
}

func (w *waitingReader) Read(p []byte) (int, error) {
	start := time.Now()
	n, err := w.r.Read(p)
	w.waited += time.Since(start)
	return n, err
}

// upload records what each destination's upload did. The uploads ran
// during the dump; each one's own time says which one held it back.
func (b *backupRun) upload() error {
	timings := slices.Clone(b.res.Timings)
	for i, t := range b.usable {
		if b.putErrs[i] != nil {
			t.result.Status, t.result.Error = backup.StatusFailed, b.putErrs[i].Error()
			b.l.error("destination %s: upload failed: %v", t.ep.Name, b.putErrs[i])
			continue
		}
		t.result.Key = b.key
		timings = append(timings, t.upload)
	}
	for _, t := range timings {
		b.l.info("%s", t)
	}
	b.l.update(func(e *backup.Execution) { e.Timings = timings })
	return nil
}

// verify reads back each destination's copy, all at once, and commits it
// with its authenticated sidecar.
func (b *backupRun) verify() error {
	meta, macKey, err := b.meta()
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for i, t := range b.usable {
		if b.putErrs[i] != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			method, err := b.r.verifyAndCommit(b.ctx, t, b.key, meta, macKey, b.l)
			t.verify = backup.StageTiming{Stage: "verify", Destination: t.ep.Name, Bytes: meta.Size, Seconds: time.Since(start).Seconds()}
			if err != nil {
				t.result.Status, t.result.Error = backup.StatusFailed, err.Error()
				b.l.error("destination %s: %v", t.ep.Name, err)
				return
			}
			t.result.Status, t.result.Verified, t.result.VerifyMethod = backup.StatusSuccess, true, method
		}()
	}
	wg.Wait()
	var timings []backup.StageTiming
	for i, t := range b.usable {
		if b.putErrs[i] == nil && t.result.Verified {
			b.l.info("%s (%s)", t.verify, t.result.VerifyMethod)
			timings = append(timings, t.verify)
		}
	}
	b.l.update(func(e *backup.Execution) {
		e.Destinations = results(b.targets)
		e.Timings = append(e.Timings, timings...)
	})
	return b.ctx.Err()
}

// meta is the sidecar of this run's backup and the key of its MAC.
func (b *backupRun) meta() (backup.Meta, []byte, error) {
	job, res := b.job, b.res
	m := backup.Meta{
		FormatVersion: backup.MetaVersion, JobID: job.ID, JobName: job.Name, ExecutionID: b.e.ID,
		SourceType: b.srcEp.Type, SourceName: b.srcEp.Name, EngineVersion: b.plan.EngineVersion, Databases: b.plan.Databases,
		DataFormat: b.plan.Format, DataFile: b.key[strings.LastIndex(b.key, "/")+1:], CreatedAt: b.started.UTC(),
		Compression: backup.MetaCompression{Algorithm: job.Compression, Level: job.Compression.Level(job.CompressionLevel)},
		Size:        res.StoredBytes, SHA256: res.SHA256, DumpSize: res.DumpBytes, Trigger: b.e.Trigger, Locked: b.e.Lock,
		Contents:   b.validation.Contents,
		Validation: &backup.MetaValidation{Format: b.plan.Format, Summary: b.validation.Summary},
	}
	if b.profile != nil {
		m.Encryption = &backup.MetaEncryption{ProfileID: b.profile.ID, KeyID: crypt.KeyID(b.profile.Key), ContainerVersion: 1}
	}
	k, err := b.r.SidecarKey(b.ctx, &m)
	if err != nil {
		return m, nil, fmt.Errorf("sidecar key: %w", err)
	}
	return m, k, nil
}

// retention applies each destination's policy where this run succeeded.
func (b *backupRun) retention() error {
	return b.r.retentionStage(b.ctx, b.job, b.targets, b.key, b.l)
}

// outcome is the run's status from its destinations' results.
func (b *backupRun) outcome() (backup.Status, string) {
	ok := 0
	for _, t := range b.targets {
		if t.result.Status == backup.StatusSuccess {
			ok++
		}
	}
	switch {
	case ok == len(b.targets):
		return backup.StatusSuccess, ""
	case ok > 0:
		return backup.StatusPartial, fmt.Sprintf("%d of %d destinations failed: %s", len(b.targets)-ok, len(b.targets), destErrors(b.targets))
	}
	return backup.StatusFailed, "every destination failed: " + destErrors(b.targets)
}

// verifyAndCommit proves the stored copy is the dump: by the provider's
// checksum where the destination has one (no download), otherwise by
// reading it back and comparing size and SHA-256. Then it writes the
// sidecar that makes it a backup. On failure it removes the data.
func (r *Runner) verifyAndCommit(ctx context.Context, t *target, key string, meta backup.Meta, macKey []byte, l *execLog) (string, error) {
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
	b, err := meta.Marshal(macKey)
	if err != nil {
		return fail(err)
	}
	if _, err := t.d.Put(ctx, key+backup.MetaSuffix, strings.NewReader(string(b))); err != nil {
		return fail(fmt.Errorf("write sidecar: %w", err))
	}
	l.info("destination %s: verified (%s) and committed", t.ep.Name, method)
	return method, nil
}
