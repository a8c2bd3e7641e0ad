package runner

import (
	"context"
	"fmt"
	"io"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/catalog"
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

func (r *Runner) restore(ctx context.Context, req RestoreRequest, l *execLog) (backup.Status, string) {
	fail := func(format string, args ...any) (backup.Status, string) {
		return backup.StatusFailed, fmt.Sprintf(format, args...)
	}
	l.stage(backup.StageInitialize)
	dEp, err := r.Store.Destinations().Get(ctx, req.Destination)
	if err != nil {
		return fail("destination: %v", err)
	}
	d, err := r.Dests.New(dEp)
	if err != nil {
		return fail("destination %s: %v", dEp.Name, err)
	}
	defer d.Close()
	key := catalog.DataKey(req.Key)
	meta, err := catalog.ReadMeta(ctx, d, key)
	if err != nil {
		return fail("%v", err)
	}
	l.info("backup %s of job %s: %s %s, databases %v, created %s", key, meta.JobName, meta.SourceType, meta.EngineVersion,
		meta.Databases, meta.CreatedAt.Format("2006-01-02 15:04:05 MST"))
	sEp, err := r.Store.Sources().Get(ctx, req.Source)
	if err != nil {
		return fail("target source: %v", err)
	}
	if sEp.Type != meta.SourceType {
		return fail("the backup is a %s backup; source %s is %s", meta.SourceType, sEp.Name, sEp.Type)
	}
	src, err := r.Sources.New(sEp)
	if err != nil {
		return fail("target source %s: %v", sEp.Name, err)
	}
	defer src.Close()
	if err := src.Check(ctx); err != nil {
		return fail("target source %s: %v", sEp.Name, err)
	}
	targetVersion, err := src.Version(ctx)
	if err != nil {
		return fail("target source %s: %v", sEp.Name, err)
	}
	if err := source.CheckRestoreVersion(meta.EngineVersion, targetVersion, req.Force); err != nil {
		return fail("%v", err)
	}
	l.info("pre-flight: %s backup from version %s onto %s version %s", meta.SourceType, meta.EngineVersion, sEp.Name, targetVersion)
	masterKey := req.MasterKey
	if masterKey == nil && meta.Encryption != nil {
		ref := req.Profile
		if ref == "" {
			ref = meta.Encryption.ProfileID
		}
		p, err := r.Store.GetProfile(ctx, ref)
		if err != nil {
			return fail("the backup is encrypted and its key cannot be found: %v", err)
		}
		masterKey = p.Key
	}
	if err := catalog.CheckKey(meta, masterKey); err != nil {
		return fail("%v", err)
	}
	opts := source.RestoreOptions{Targets: req.Targets, Overwrite: req.Overwrite}
	if len(opts.Targets) == 0 && meta.DataFormat != "tar" && len(meta.Databases) == 1 {
		opts.Targets = map[string]string{meta.Databases[0]: meta.Databases[0]}
	}
	for name := range opts.Targets {
		if !contains(meta.Databases, name) {
			return fail("database %q is not in this backup (it holds %v)", name, meta.Databases)
		}
	}

	l.stage(backup.StageVerify)
	if err := catalog.Verify(ctx, d, key, meta, masterKey); err != nil {
		return fail("%v; nothing was restored", err)
	}
	l.info("backup verified: %d bytes, SHA-256 %s%s", meta.Size, meta.SHA256, map[bool]string{true: ", every chunk authenticated", false: ""}[meta.Encryption != nil])

	l.stage(backup.StageRestore)
	rc, err := d.Open(ctx, key)
	if err != nil {
		return fail("open backup: %v", err)
	}
	defer rc.Close()
	plain, err := pipeline.Open(rc, catalog.OpenOptions(meta, masterKey))
	if err != nil {
		return fail("%v", err)
	}
	defer plain.Close()
	var n pipeline.Counter
	n.W = io.Discard
	if err := src.Restore(ctx, meta.DataFormat, io.TeeReader(plain, &n), opts, l.slogger()); err != nil {
		return fail("%v", err)
	}
	l.update(func(e *backup.Execution) { e.BytesDumped, e.BytesStored = n.N(), meta.Size })
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
