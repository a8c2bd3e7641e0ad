package runner

import (
	"context"
	"fmt"
	"io"

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
	// MasterKey is a raw key given by hand; it is never stored.
	MasterKey []byte         `json:"-"`
	Trigger   backup.Trigger `json:"-"`
}

// RestoreClaimed runs a restore execution that is already marked running.
// Nothing touches the target until the sidecar, the size, the SHA-256 and
// (if encrypted) every chunk's authentication have been checked in a full
// read of the backup.
func (r *Runner) RestoreClaimed(ctx context.Context, e *backup.Execution, req RestoreRequest) (*backup.Execution, error) {
	return r.execute(ctx, e, func(ctx context.Context, l *execLog) (backup.Status, string) {
		st, msg := r.restore(ctx, req, l)
		if st != backup.StatusSuccess && ctx.Err() != nil {
			return interrupted(ctx, ctx.Err())
		}
		return st, msg
	})
}

// restorePlan is a restore that passed its pre-flight checks: the backup's
// sidecar, a reachable target of the same engine and a version it can
// take, the key, the databases asked for.
type restorePlan struct {
	d         dest.Destination
	src       source.Source
	key       string
	meta      *backup.Meta
	masterKey []byte
	opts      source.RestoreOptions
}

func (p *restorePlan) close() {
	if p.src != nil {
		p.src.Close()
	}
	if p.d != nil {
		p.d.Close()
	}
}

// planRestore runs the checks that need no full read of the backup,
// telling each one to info. On error, nothing is left open.
func (r *Runner) planRestore(ctx context.Context, req RestoreRequest, info func(string, ...any)) (_ *restorePlan, err error) {
	p := &restorePlan{key: catalog.DataKey(req.Key)}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	dEp, err := r.Store.Destinations().Get(ctx, req.Destination)
	if err != nil {
		return nil, fmt.Errorf("destination: %v", err)
	}
	if p.d, err = r.Dests.New(dEp); err != nil {
		return nil, fmt.Errorf("destination %s: %v", dEp.Name, err)
	}
	meta, err := catalog.ReadMeta(ctx, p.d, p.key)
	if err != nil {
		return nil, err
	}
	p.meta = meta
	info("backup %s of job %s: %s %s, databases %v, created %s", p.key, meta.JobName, meta.SourceType, meta.EngineVersion,
		meta.Databases, meta.CreatedAt.Format("2006-01-02 15:04:05 MST"))
	sEp, err := r.Store.Sources().Get(ctx, req.Source)
	if err != nil {
		return nil, fmt.Errorf("target source: %v", err)
	}
	if sEp.Type != meta.SourceType {
		return nil, fmt.Errorf("the backup is a %s backup; source %s is %s", meta.SourceType, sEp.Name, sEp.Type)
	}
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
	p.masterKey = req.MasterKey
	if p.masterKey == nil && meta.Encryption != nil {
		ref := req.Profile
		if ref == "" {
			ref = meta.Encryption.ProfileID
		}
		prof, err := r.Store.GetProfile(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("the backup is encrypted and its key cannot be found: %v", err)
		}
		p.masterKey = prof.Key
	}
	if err := catalog.CheckKey(meta, p.masterKey); err != nil {
		return nil, err
	}
	if meta.Encryption != nil {
		info("pre-flight: the key opens the backup")
	}
	p.opts = source.RestoreOptions{Targets: req.Targets, Overwrite: req.Overwrite}
	if len(p.opts.Targets) == 0 && meta.DataFormat != "tar" && len(meta.Databases) == 1 {
		p.opts.Targets = map[string]string{meta.Databases[0]: meta.Databases[0]}
	}
	for name := range p.opts.Targets {
		if !contains(meta.Databases, name) {
			return nil, fmt.Errorf("database %q is not in this backup (it holds %v)", name, meta.Databases)
		}
	}
	return p, nil
}

// verify reads the whole backup against its sidecar.
func (p *restorePlan) verify(ctx context.Context, info func(string, ...any)) error {
	if err := catalog.Verify(ctx, p.d, p.key, p.meta, p.masterKey); err != nil {
		return err
	}
	info("backup verified: %d bytes, SHA-256 %s%s", p.meta.Size, p.meta.SHA256, map[bool]string{true: ", every chunk authenticated", false: ""}[p.meta.Encryption != nil])
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

	l.stage(backup.StageVerify)
	if err := p.verify(ctx, l.info); err != nil {
		return fail("%v; nothing was restored", err)
	}

	l.stage(backup.StageRestore)
	rc, err := p.d.Open(ctx, p.key)
	if err != nil {
		return fail("open backup: %v", err)
	}
	defer rc.Close()
	plain, err := pipeline.Open(rc, catalog.OpenOptions(p.meta, p.masterKey))
	if err != nil {
		return fail("%v", err)
	}
	defer plain.Close()
	var n pipeline.Counter
	n.W = io.Discard
	if err := p.src.Restore(ctx, p.meta.DataFormat, io.TeeReader(plain, &n), p.opts, l.slogger()); err != nil {
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
