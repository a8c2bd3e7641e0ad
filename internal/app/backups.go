package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/catalog"
	"github.com/dbackup/dbackup/internal/runner"
	"github.com/dbackup/dbackup/internal/source"
)

// BackupList is the content of a destination: complete backups, and what
// looks like a backup but is not one.
type BackupList struct {
	Backups  []BackupEntry     `json:"backups"`
	Problems []catalog.Problem `json:"problems"`
}

// BackupEntry is one backup with its newest drill, if it had one.
type BackupEntry struct {
	catalog.Backup
	Drill *DrillResult `json:"drill,omitempty"`
}

// DrillResult is a finished drill of a backup: what it found.
type DrillResult struct {
	ExecutionID string        `json:"execution_id"`
	Status      backup.Status `json:"status"`
	EndedAt     *time.Time    `json:"ended_at,omitempty"`
	Error       string        `json:"error,omitempty"`
	*backup.Drill
}

func drillResult(e *backup.Execution) *DrillResult {
	if e == nil {
		return nil
	}
	d := e.Drill
	if d == nil {
		d = &backup.Drill{}
	}
	return &DrillResult{ExecutionID: e.ID, Status: e.Status, EndedAt: e.EndedAt, Error: e.Error, Drill: d}
}

// ListBackups lists the backups at a destination, of one job if jobRef is set.
func (a *App) ListBackups(ctx context.Context, destRef, jobRef string) (BackupList, error) {
	ep, err := a.Store.Destinations().Get(ctx, destRef)
	if err != nil {
		return BackupList{}, err
	}
	d, err := a.Dests.New(ep)
	if err != nil {
		return BackupList{}, err
	}
	defer d.Close()
	prefix := ""
	jobID := ""
	if jobRef != "" {
		j, err := a.Store.GetJob(ctx, jobRef)
		if err != nil {
			return BackupList{}, err
		}
		prefix, jobID = backup.SafeName(j.Name)+"/", j.ID
	}
	bs, problems, err := catalog.List(ctx, d, prefix, a.Runner.Keyring())
	if err != nil {
		return BackupList{}, err
	}
	out := BackupList{Backups: []BackupEntry{}, Problems: problems}
	u := Usage{At: time.Now().UTC()}
	var keys []string
	for _, b := range bs {
		u.Backups, u.Bytes = u.Backups+1, u.Bytes+b.Meta.Size
		if jobID == "" || b.Meta.JobID == jobID {
			out.Backups = append(out.Backups, BackupEntry{Backup: b})
			keys = append(keys, b.Key)
		}
	}
	drills, err := a.Store.LatestDrills(ctx, keys)
	if err != nil {
		return BackupList{}, err
	}
	for i := range out.Backups {
		out.Backups[i].Drill = drillResult(drills[out.Backups[i].Key])
	}
	if prefix == "" {
		a.recordUsage(ctx, ep.ID, u)
	}
	if out.Problems == nil {
		out.Problems = []catalog.Problem{}
	}
	return out, nil
}

// BackupMeta reads one backup's authenticated sidecar (not the whole
// listing).
func (a *App) BackupMeta(ctx context.Context, destRef, key string) (*backup.Meta, error) {
	d, err := a.openDest(ctx, destRef)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return catalog.ReadTrusted(ctx, d, key, a.Runner.Keyring())
}

// TrustBackup vouches for a backup whose sidecar is not authenticated (one
// written by an older dbackup, another instance or by hand): after a full
// read proves the data is what the sidecar describes (and, when encrypted,
// that every chunk authenticates under masterKey or a profile's key), the
// sidecar is rewritten with a MAC and a record of who trusted it. Audited.
func (a *App) TrustBackup(ctx context.Context, destRef, key string, masterKey []byte) (m *backup.Meta, err error) {
	defer func() { a.Audit(ctx, "backup.trust", destRef+":"+key, err == nil, errText(err)) }()
	d, err := a.openDest(ctx, destRef)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	if m, err = catalog.ReadMeta(ctx, d, key); err != nil {
		return nil, err
	}
	keys := a.Runner.KeyringWith(masterKey)
	if m.Encryption != nil {
		if masterKey, err = a.Runner.ProfileKey(ctx, m.Encryption, masterKey); err != nil {
			return nil, fmt.Errorf("%w: %v: import its key as an encryption profile, or give the key", backup.ErrInvalid, err)
		}
	}
	if err := catalog.Verify(ctx, d, catalog.DataKey(key), m, masterKey); err != nil {
		return nil, fmt.Errorf("the backup does not match its sidecar, nothing was trusted: %w", err)
	}
	actor := "cli"
	if p := PrincipalFrom(ctx); p != nil {
		actor = p.Actor
	}
	m.Trusted = &backup.MetaTrust{By: actor, At: time.Now().UTC()}
	if err := catalog.Rewrite(ctx, d, key, m, keys); err != nil {
		return nil, err
	}
	return m, nil
}

// VerifyBackup reads a backup whole and checks it against its sidecar,
// authenticating every chunk when its profile's key is available.
func (a *App) VerifyBackup(ctx context.Context, destRef, key string) (*backup.Meta, error) {
	ep, err := a.Store.Destinations().Get(ctx, destRef)
	if err != nil {
		return nil, err
	}
	d, err := a.Dests.New(ep)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	m, err := catalog.ReadTrusted(ctx, d, key, a.Runner.Keyring())
	if err != nil {
		return nil, err
	}
	var masterKey []byte
	if m.Encryption != nil {
		masterKey, _ = a.Runner.ProfileKey(ctx, m.Encryption, nil)
	}
	if m.Encryption != nil && masterKey == nil {
		// Without the key, the stored bytes can still be checked against the
		// sidecar's size and SHA-256.
		stored := *m
		stored.Encryption, stored.Compression = nil, backup.MetaCompression{Algorithm: backup.CompressionNone}
		return m, catalog.Verify(ctx, d, catalog.DataKey(key), &stored, nil)
	}
	return m, catalog.Verify(ctx, d, catalog.DataKey(key), m, masterKey)
}

// newRestore records a restore as running in this process.
func (a *App) newRestore(ctx context.Context, req runner.RestoreRequest) (e *backup.Execution, err error) {
	if req.Destination == "" || req.Key == "" || req.Source == "" {
		return nil, fmt.Errorf("%w: a restore needs destination, key (the backup) and source (the server to restore into)", backup.ErrInvalid)
	}
	defer func() {
		a.Audit(ctx, "restore.start", req.Destination+":"+req.Key, err == nil, fmt.Sprintf("into source %s %v", req.Source, req.Targets))
	}()
	now := time.Now().UTC()
	trigger := req.Trigger
	if trigger == "" {
		trigger = backup.TriggerManual
	}
	e = &backup.Execution{Kind: backup.KindRestore, Status: backup.StatusRunning, Trigger: trigger, Stage: backup.StageInitialize,
		CreatedAt: now, StartedAt: &now, BackupName: catalog.DataKey(req.Key), Node: a.foregroundNode(), HeartbeatAt: &now}
	return e, a.Store.CreateExecution(ctx, e)
}

// StartRestore starts a restore in the background and returns at once,
// unless its checks refuse it now (a target that holds data, a key that
// is missing, a server too old): then nothing starts and the caller
// learns why.
func (a *App) StartRestore(ctx context.Context, req runner.RestoreRequest) (*backup.Execution, error) {
	if err := a.Runner.CheckRestore(ctx, req); err != nil {
		if !errors.Is(err, backup.ErrNotFound) && !errors.Is(err, backup.ErrUntrusted) && !errors.Is(err, backup.ErrInvalid) {
			err = fmt.Errorf("%w: %v", backup.ErrInvalid, err)
		}
		return nil, err
	}
	e, err := a.newRestore(ctx, req)
	if err != nil {
		return nil, err
	}
	view := *e // the restore goroutine owns e from here on
	a.dispatch(e.ID, func(ctx context.Context) (*backup.Execution, error) {
		return a.RunForeground(ctx, e, func(ctx context.Context) (*backup.Execution, error) { return a.Runner.RestoreClaimed(ctx, e, req) })
	})
	return &view, nil
}

// Restore runs a restore in the caller's goroutine.
func (a *App) Restore(ctx context.Context, req runner.RestoreRequest) (*backup.Execution, error) {
	e, err := a.newRestore(ctx, req)
	if err != nil {
		return nil, err
	}
	return a.RunForeground(ctx, e, func(ctx context.Context) (*backup.Execution, error) { return a.Runner.RestoreClaimed(ctx, e, req) })
}

// NewRestore records a restore that the caller then runs with RunRestore.
func (a *App) NewRestore(ctx context.Context, req runner.RestoreRequest) (*backup.Execution, error) {
	return a.newRestore(ctx, req)
}

// RunRestore runs a restore recorded by NewRestore.
func (a *App) RunRestore(ctx context.Context, e *backup.Execution, req runner.RestoreRequest) (*backup.Execution, error) {
	return a.RunForeground(ctx, e, func(ctx context.Context) (*backup.Execution, error) { return a.Runner.RestoreClaimed(ctx, e, req) })
}

// Download is a backup being read for a download: read it to the end,
// which fails if the backup is damaged (see OpenDownload), then close it.
type Download struct {
	Name string // file name to offer
	Meta *backup.Meta
	body io.ReadCloser
	dest io.Closer
}

func (dl *Download) Read(p []byte) (int, error) { return dl.body.Read(p) }

// Close closes the body, then the destination it is read from.
func (dl *Download) Close() error {
	err := dl.body.Close()
	if derr := dl.dest.Close(); err == nil {
		err = derr
	}
	return err
}

// OpenDownload opens a backup for download: the stored bytes as they are,
// or (plain) decrypted with its profile's key and decompressed. Its body
// fails on its last read unless the stored bytes match the sidecar
// (catalog.Open), so a caller can abort instead of handing over a damaged
// file.
func (a *App) OpenDownload(ctx context.Context, destRef, key string, plain bool) (dl *Download, err error) {
	defer func() { a.Audit(ctx, "backup.download", destRef+":"+key, err == nil, fmt.Sprintf("plain=%t", plain)) }()
	d, err := a.openDest(ctx, destRef)
	if err != nil {
		return nil, err
	}
	m, err := catalog.ReadTrusted(ctx, d, key, a.Runner.Keyring())
	if err != nil {
		d.Close()
		return nil, err
	}
	var masterKey []byte
	if plain && m.Encryption != nil {
		if masterKey, err = a.Runner.ProfileKey(ctx, m.Encryption, nil); err != nil {
			d.Close()
			return nil, fmt.Errorf("%w: the backup's encryption profile is not on this server; download the stored bytes and use `dbackup decrypt` with its key", backup.ErrInvalid)
		}
	}
	body, err := catalog.Open(ctx, d, catalog.DataKey(key), m, masterKey, plain)
	if err != nil {
		d.Close()
		return nil, err
	}
	name := path.Base(catalog.DataKey(key))
	if plain {
		name = strings.TrimSuffix(strings.TrimSuffix(name, ".enc"), m.Compression.Algorithm.Ext())
	}
	return &Download{Name: name, Meta: m, body: body, dest: d}, nil
}

// SuggestTarget is the name to restore db into on a source: its own name,
// or <name>_restored when that database already holds something.
func (a *App) SuggestTarget(ctx context.Context, sourceRef, db string) string {
	ep, err := a.Store.Sources().Get(ctx, sourceRef)
	if err != nil {
		return db
	}
	src, err := a.Sources.New(ep)
	if err != nil {
		return db
	}
	defer src.Close()
	if in, ok := src.(source.Inspector); ok {
		if t, err := in.Inspect(ctx, db); err == nil && t.Holds != "" && !t.Fixed {
			return db + "_restored"
		}
	}
	return db
}

// PreflightRestore runs a restore's checks (target, version, key,
// databases, the whole backup against its checksum) and writes nothing.
func (a *App) PreflightRestore(ctx context.Context, req runner.RestoreRequest) ([]string, error) {
	return a.Runner.PreflightRestore(ctx, req)
}
