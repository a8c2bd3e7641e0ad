package runner

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/catalog"
	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/pipeline"
	"github.com/dbackup/dbackup/internal/source"
)

// RestoreRequest says which backup to restore where.
type RestoreRequest struct {
	Destination string            `json:"destination"` // id or name where the backup is
	Key         string            `json:"key"`         // the backup's data (or sidecar) key
	Source      string            `json:"source"`      // id or name of the server to restore into
	Targets     map[string]string `json:"targets,omitempty"`
	Overwrite   bool              `json:"overwrite,omitempty"`
	// Profile overrides the profile named in the sidecar (id or name).
	Profile string `json:"profile,omitempty"`
	// Force restores a backup from a newer major version than the target.
	Force bool `json:"force,omitempty"`
	// DropReplaced drops what an overwrite replaces instead of keeping it
	// (for the hours of the keep_replaced_hours setting).
	DropReplaced bool `json:"drop_replaced,omitempty"`
	// MasterKey is a raw key given by hand; it is never stored.
	MasterKey []byte         `json:"-"`
	Trigger   backup.Trigger `json:"-"`
}

// RestoreClaimed runs a restore execution that is already marked running.
// Nothing touches the target until the sidecar, the size, the SHA-256 and
// (if encrypted) every chunk's authentication have been checked: as the
// backup streams into a scratch database (PostgreSQL, MySQL/MariaDB,
// MongoDB), or in a full read before (Redis, SQLite).
func (r *Runner) RestoreClaimed(ctx context.Context, e *backup.Execution, req RestoreRequest) (*backup.Execution, error) {
	return r.execute(ctx, e, func(ctx context.Context, l *execLog) (backup.Status, string) {
		st, msg := r.restore(ctx, req, l)
		if st != backup.StatusSuccess && ctx.Err() != nil {
			return interrupted(ctx, ctx.Err())
		}
		return st, msg
	})
}

// openedBackup is a backup whose sidecar is authenticated, with the key
// that opens its data (nil when it is not encrypted).
type openedBackup struct {
	d         dest.Destination
	key       string
	meta      *backup.Meta
	masterKey []byte
}

// openBackup reads and authenticates a backup's sidecar at a destination
// and finds the key of an encrypted one: masterKey given by hand, else the
// profile (id or name), else the profile the sidecar names. On error,
// nothing is left open.
func (r *Runner) openBackup(ctx context.Context, destRef, key, profile string, masterKey []byte, info func(string, ...any)) (_ *openedBackup, err error) {
	b := &openedBackup{key: catalog.DataKey(key)}
	dEp, err := r.Store.Destinations().Get(ctx, destRef)
	if err != nil {
		return nil, fmt.Errorf("destination: %v", err)
	}
	if b.d, err = r.Dests.New(dEp); err != nil {
		return nil, fmt.Errorf("destination %s: %v", dEp.Name, err)
	}
	defer func() {
		if err != nil {
			b.d.Close()
		}
	}()
	if b.meta, err = catalog.ReadTrusted(ctx, b.d, b.key, r.KeyringWith(masterKey)); err != nil {
		return nil, fmt.Errorf("%w; an admin who knows where it came from can trust it first", err)
	}
	if err := r.checkEncryptedJob(ctx, b.meta); err != nil {
		return nil, err
	}
	m := b.meta
	info("backup %s of job %s: %s %s, databases %v, created %s", b.key, m.JobName, m.SourceType, m.EngineVersion,
		m.Databases, m.CreatedAt.Format("2006-01-02 15:04:05 MST"))
	if m.Encryption != nil {
		if masterKey == nil && profile != "" {
			prof, err := r.Store.GetProfile(ctx, profile)
			if err != nil {
				return nil, fmt.Errorf("encryption profile: %v", err)
			}
			masterKey = prof.Key
		}
		if b.masterKey, err = r.ProfileKey(ctx, m.Encryption, masterKey); err != nil {
			return nil, fmt.Errorf("the backup is encrypted and its key cannot be found: %w", err)
		}
		info("pre-flight: the key opens the backup")
	}
	return b, nil
}

// verify reads the whole backup against its sidecar.
func (b *openedBackup) verify(ctx context.Context, info func(string, ...any)) error {
	if err := catalog.Verify(ctx, b.d, b.key, b.meta, b.masterKey); err != nil {
		return err
	}
	info("backup verified: %d bytes, SHA-256 %s%s", b.meta.Size, b.meta.SHA256, map[bool]string{true: ", every chunk authenticated", false: ""}[b.meta.Encryption != nil])
	return nil
}

// restoreOptions restore every database of the backup (one database
// under its own name), its counts expected.
func (b *openedBackup) restoreOptions(targets map[string]string) (source.RestoreOptions, error) {
	opts := source.RestoreOptions{Targets: targets, Expect: b.meta.Contents}
	if len(opts.Targets) == 0 && b.meta.DataFormat != "tar" && len(b.meta.Databases) == 1 {
		opts.Targets = map[string]string{b.meta.Databases[0]: b.meta.Databases[0]}
	}
	for name := range opts.Targets {
		if !contains(b.meta.Databases, name) {
			return opts, fmt.Errorf("database %q is not in this backup (it holds %v)", name, b.meta.Databases)
		}
	}
	return opts, nil
}

// restoreInto streams the backup into src, counting the bytes of dump
// read into n. With checked set, the stored bytes are checked against the
// sidecar as they stream (a drill, whose target is thrown away) instead of
// in a full read before (a restore, whose target is not).
func (b *openedBackup) restoreInto(ctx context.Context, src source.Source, opts source.RestoreOptions, checked bool, n *pipeline.Counter, log *slog.Logger) error {
	var plain io.ReadCloser
	var err error
	if checked {
		plain, err = catalog.Open(ctx, b.d, b.key, b.meta, b.masterKey, true)
	} else {
		var rc io.ReadCloser
		if rc, err = b.d.Open(ctx, b.key); err != nil {
			return fmt.Errorf("open backup: %v", err)
		}
		defer rc.Close()
		plain, err = pipeline.Open(rc, catalog.OpenOptions(b.meta, b.masterKey))
	}
	if err != nil {
		return err
	}
	defer plain.Close()
	if n.W == nil {
		n.W = io.Discard
	}
	return src.Restore(ctx, b.meta.DataFormat, io.TeeReader(plain, n), opts, log)
}

func (b *openedBackup) close() {
	if b.d != nil {
		b.d.Close()
	}
}

// restorePlan is a restore that passed its pre-flight checks: the backup's
// sidecar, a reachable target of the same engine and a version it can
// take, the key, the databases asked for.
type restorePlan struct {
	*openedBackup
	src   source.Source
	srcID string
	opts  source.RestoreOptions
}

func (p *restorePlan) close() {
	if p.src != nil {
		p.src.Close()
	}
	if p.openedBackup != nil {
		p.openedBackup.close()
	}
}

// planRestore runs the checks that need no full read of the backup,
// telling each one to info. On error, nothing is left open.
func (r *Runner) planRestore(ctx context.Context, req RestoreRequest, info func(string, ...any)) (_ *restorePlan, err error) {
	p := &restorePlan{}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if p.openedBackup, err = r.openBackup(ctx, req.Destination, req.Key, req.Profile, req.MasterKey, info); err != nil {
		return nil, err
	}
	meta := p.meta
	sEp, err := r.Store.Sources().Get(ctx, req.Source)
	if err != nil {
		return nil, fmt.Errorf("target source: %v", err)
	}
	if sEp.Type != meta.SourceType {
		return nil, fmt.Errorf("the backup is a %s backup; source %s is %s", meta.SourceType, sEp.Name, sEp.Type)
	}
	p.srcID = sEp.ID
	if p.src, err = r.Sources.New(sEp); err != nil {
		return nil, fmt.Errorf("target source %s: %v", sEp.Name, err)
	}
	if err := p.src.Check(ctx); err != nil {
		return nil, fmt.Errorf("target source %s: %v", sEp.Name, err)
	}
	targetVersion, err := p.src.Version(ctx)
	if err != nil {
		return nil, fmt.Errorf("target source %s: %v", sEp.Name, err)
	}
	if err := source.CheckRestoreVersion(meta.EngineVersion, targetVersion, req.Force); err != nil {
		return nil, err
	}
	info("pre-flight: %s backup from version %s onto %s version %s", meta.SourceType, meta.EngineVersion, sEp.Name, targetVersion)
	if p.opts, err = p.restoreOptions(req.Targets); err != nil {
		return nil, err
	}
	p.opts.Overwrite, p.opts.DropReplaced = req.Overwrite, req.DropReplaced
	p.opts.Concurrency = r.dumpConcurrency(ctx)
	if err := p.checkTargets(ctx, info); err != nil {
		return nil, err
	}
	return p, nil
}

// checkEncryptedJob refuses an unencrypted backup in the name of a job that
// encrypts, unless an admin trusted it: a job that encrypts makes no
// plain backups, so someone else put it there.
func (r *Runner) checkEncryptedJob(ctx context.Context, m *backup.Meta) error {
	if m.Encryption != nil || m.Trusted != nil {
		return nil
	}
	job, err := r.Store.GetJob(ctx, m.JobID)
	if err != nil || job.ProfileID == "" {
		return nil
	}
	return fmt.Errorf("%w: the backup is not encrypted, but job %s encrypts its backups; an admin who knows where it came from can trust it first", backup.ErrUntrusted, job.Name)
}

// checkTargets tells, for each database the restore writes, whether it
// exists and what it holds, and refuses one that holds something unless
// overwrite was chosen.
func (p *restorePlan) checkTargets(ctx context.Context, info func(string, ...any)) error {
	in, ok := p.src.(source.Inspector)
	if !ok {
		return nil
	}
	for _, db := range p.meta.Databases {
		target, selected := p.opts.Target(db)
		if !selected {
			continue
		}
		t, err := in.Inspect(ctx, target)
		if err != nil {
			return fmt.Errorf("target %s: %v", target, err)
		}
		switch {
		case t.Holds != "" && !p.opts.Overwrite:
			return source.RefuseExisting(target, t)
		case t.Holds != "" && p.opts.DropReplaced:
			info("pre-flight: target %s holds %s: it will be replaced and dropped once the restore is complete", target, t.Holds)
		case t.Holds != "":
			info("pre-flight: target %s holds %s: it will be replaced once the restore is complete, and kept under a new name", target, t.Holds)
		case t.Exists:
			info("pre-flight: target %s exists and is empty", target)
		default:
			info("pre-flight: target %s does not exist: it will be created", target)
		}
	}
	return nil
}

// CheckRestore runs the checks a restore makes before it reads the
// backup (the sidecar, the key, the target server, its version, what each
// target holds): the quick half of the pre-flight, so that a restore that
// would be refused is refused before it starts.
func (r *Runner) CheckRestore(ctx context.Context, req RestoreRequest) error {
	p, err := r.planRestore(ctx, req, func(string, ...any) {})
	if err != nil {
		return err
	}
	p.close()
	return nil
}

// PreflightRestore runs every check a restore makes before it writes,
// including the full read against the checksum, and writes nothing. It
// returns what each check found; err says which one refused.
func (r *Runner) PreflightRestore(ctx context.Context, req RestoreRequest) (lines []string, err error) {
	info := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	p, err := r.planRestore(ctx, req, info)
	if err != nil {
		return lines, err
	}
	defer p.close()
	return lines, p.verify(ctx, info)
}

func (r *Runner) restore(ctx context.Context, req RestoreRequest, l *execLog) (backup.Status, string) {
	fail := func(format string, args ...any) (backup.Status, string) {
		return backup.StatusFailed, fmt.Sprintf(format, args...)
	}
	l.stage(backup.StageInitialize)
	p, err := r.planRestore(ctx, req, l.info)
	if err != nil {
		return fail("%v", err)
	}
	defer p.close()

	// An engine that restores into a scratch database swaps it in only
	// after the whole stream checked out: the backup is checked as it
	// streams, with no read of its own before. Others read it whole first.
	_, scratch := p.src.(source.Swapper)
	if !scratch {
		l.stage(backup.StageVerify)
		if err := p.verify(ctx, l.info); err != nil {
			return fail("%v; nothing was restored", err)
		}
	}

	l.stage(backup.StageRestore)
	if scratch {
		l.info("the backup is checked as it streams (size, SHA-256%s): the scratch database is swapped in only once all of it checked out", map[bool]string{true: ", every chunk's authentication", false: ""}[p.meta.Encryption != nil])
	}
	opts := p.opts
	opts.Track = &tracker{r: r, sourceID: p.srcID, execution: l.snapshot().ID, log: l}
	var n pipeline.Counter
	if err := p.restoreInto(ctx, p.src, opts, scratch, &n, l.slogger()); err != nil {
		return fail("%v", err)
	}
	l.update(func(e *backup.Execution) { e.BytesDumped, e.BytesStored = n.N(), p.meta.Size })
	l.stage(backup.StageComplete)
	return backup.StatusSuccess, ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
