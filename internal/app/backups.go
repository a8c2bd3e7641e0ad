package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"path"
	"strings"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/catalog"
	"github.com/dbackup/dbackup/internal/pipeline"
	"github.com/dbackup/dbackup/internal/runner"
)

// BackupList is the content of a destination: complete backups, and what
// looks like a backup but is not one.
type BackupList struct {
	Backups  []catalog.Backup  `json:"backups"`
	Problems []catalog.Problem `json:"problems"`
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
	bs, problems, err := catalog.List(ctx, d, prefix)
	if err != nil {
		return BackupList{}, err
	}
	out := BackupList{Backups: []catalog.Backup{}, Problems: problems}
	u := Usage{At: time.Now().UTC()}
	for _, b := range bs {
		u.Backups, u.Bytes = u.Backups+1, u.Bytes+b.Meta.Size
		if jobID == "" || b.Meta.JobID == jobID {
			out.Backups = append(out.Backups, b)
		}
	}
	if prefix == "" {
		a.recordUsage(ctx, ep.ID, u)
	}
	if out.Problems == nil {
		out.Problems = []catalog.Problem{}
	}
	return out, nil
}

// BackupMeta reads one backup's sidecar (not the whole listing).
func (a *App) BackupMeta(ctx context.Context, destRef, key string) (*backup.Meta, error) {
	d, err := a.openDest(ctx, destRef)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return catalog.ReadMeta(ctx, d, key)
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
	m, err := catalog.ReadMeta(ctx, d, key)
	if err != nil {
		return nil, err
	}
	var masterKey []byte
	if m.Encryption != nil {
		if p, err := a.Store.GetProfile(ctx, m.Encryption.ProfileID); err == nil {
			masterKey = p.Key
		}
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

// StartRestore starts a restore in the background and returns at once.
func (a *App) StartRestore(ctx context.Context, req runner.RestoreRequest) (*backup.Execution, error) {
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

// Download is a backup being read for a download.
type Download struct {
	Name string // file name to offer
	Meta *backup.Meta
	// Body is the stored bytes, or the plain dump; its Close says, after
	// everything was read, whether the bytes were the ones recorded.
	Body io.ReadCloser
}

// OpenDownload opens a backup for download: the stored bytes as they are,
// or (plain) decrypted with its profile's key and decompressed. The stored
// bytes are hashed as they stream; a body whose SHA-256 or size differs
// from the sidecar's fails on its last read, so a caller can abort.
func (a *App) OpenDownload(ctx context.Context, destRef, key string, plain bool) (dl *Download, err error) {
	defer func() { a.Audit(ctx, "backup.download", destRef+":"+key, err == nil, fmt.Sprintf("plain=%t", plain)) }()
	d, err := a.openDest(ctx, destRef)
	if err != nil {
		return nil, err
	}
	m, err := catalog.ReadMeta(ctx, d, key)
	if err != nil {
		d.Close()
		return nil, err
	}
	var masterKey []byte
	if plain && m.Encryption != nil {
		p, err := a.Store.GetProfile(ctx, m.Encryption.ProfileID)
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("%w: the backup's encryption profile is not on this server; download the stored bytes and use `dbackup decrypt` with its key", backup.ErrInvalid)
		}
		masterKey = p.Key
	}
	raw, err := d.Open(ctx, catalog.DataKey(key))
	if err != nil {
		d.Close()
		return nil, err
	}
	checked := &checkedReader{r: raw, h: sha256.New(), want: m.SHA256, size: m.Size}
	dl = &Download{Name: path.Base(catalog.DataKey(key)), Meta: m, Body: closers{checked, raw, d}}
	if !plain {
		return dl, nil
	}
	body, err := pipeline.Open(checked, pipeline.OpenOptions{Compression: m.Compression.Algorithm, Key: masterKey, Encrypted: m.Encryption != nil})
	if err != nil {
		dl.Body.Close()
		return nil, err
	}
	dl.Body = closers{body, raw, d}
	dl.Name = strings.TrimSuffix(strings.TrimSuffix(dl.Name, ".enc"), m.Compression.Algorithm.Ext())
	return dl, nil
}

// checkedReader hashes what it reads; at the end of the stream it fails
// unless the bytes are the ones the sidecar records.
type checkedReader struct {
	r    io.Reader
	h    hash.Hash
	n    int64
	want string
	size int64
}

func (c *checkedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	if err == io.EOF {
		if got := hex.EncodeToString(c.h.Sum(nil)); c.n != c.size || got != c.want {
			return n, fmt.Errorf("the stored backup does not match its sidecar (%d bytes, SHA-256 %s; recorded %d bytes, %s): it is damaged or was changed", c.n, got, c.size, c.want)
		}
	}
	return n, err
}

func (c *checkedReader) Close() error { return nil }

// closers reads from its first element and closes all of them.
type closers []io.Closer

func (c closers) Read(p []byte) (int, error) { return c[0].(io.Reader).Read(p) }

func (c closers) Close() error {
	var first error
	for _, x := range c {
		if err := x.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// PreflightRestore runs a restore's checks (target, version, key,
// databases, the whole backup against its checksum) and writes nothing.
func (a *App) PreflightRestore(ctx context.Context, req runner.RestoreRequest) ([]string, error) {
	return a.Runner.PreflightRestore(ctx, req)
}
