// Package app is the composition root: it opens the store, builds the plugin
// registries and the runner, and offers the operations that the CLI and the
// HTTP API share. It is the only package that imports everything.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/config"
	"github.com/dbackup/dbackup/internal/dest"
	destall "github.com/dbackup/dbackup/internal/dest/all"
	"github.com/dbackup/dbackup/internal/notify"
	notifyall "github.com/dbackup/dbackup/internal/notify/all"
	"github.com/dbackup/dbackup/internal/plugin"
	"github.com/dbackup/dbackup/internal/runner"
	"github.com/dbackup/dbackup/internal/secret"
	"github.com/dbackup/dbackup/internal/source"
	sourceall "github.com/dbackup/dbackup/internal/source/all"
	"github.com/dbackup/dbackup/internal/store"
	"github.com/dbackup/dbackup/internal/store/sqlstore"
	"github.com/dbackup/dbackup/internal/version"
)

// App holds the services of one dbackup process.
type App struct {
	Cfg      config.Config
	Store    store.Store
	Sources  *plugin.Registry[source.Source]
	Dests    *plugin.Registry[dest.Destination]
	Channels *plugin.Registry[notify.Notifier]
	Runner   *runner.Runner
	Log      *slog.Logger
	Location *time.Location
	KeyInfo  string // what Open did about the server key, for the start banner

	base     context.Context
	stop     context.CancelCauseFunc
	mu       sync.Mutex
	running  map[string]context.CancelCauseFunc
	slots    chan struct{}
	wg       sync.WaitGroup
	notifyWG sync.WaitGroup
}

// ErrShutdown is the cause given to runs interrupted by shutdown.
var ErrShutdown = errors.New("dbackup is shutting down")

// Open prepares the data directory, the server key and the store.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return nil, err
	}
	box, keyInfo, err := serverKey(cfg)
	if err != nil {
		return nil, err
	}
	if !sqlstore.IsPostgres(cfg.DatabaseURL) {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
	}
	st, err := sqlstore.Open(ctx, cfg.DatabaseURL, box)
	if err != nil {
		return nil, err
	}
	a := &App{Cfg: cfg, Store: st, Sources: sourceall.Registry(), Dests: destall.Registry(), Channels: notifyall.Registry(), Log: log, Location: loc,
		KeyInfo: keyInfo, running: map[string]context.CancelCauseFunc{}}
	if strings.HasPrefix(keyInfo, "created") {
		// Whatever command created it, the user must learn of the key now.
		log.Warn(keyInfo)
	}
	a.Runner = &runner.Runner{Store: st, Sources: a.Sources, Dests: a.Dests, Log: log, Location: loc,
		OnStart: a.onStart, OnFinish: a.onFinish, OnDestinationFailed: a.onDestinationFailed}
	a.base, a.stop = context.WithCancelCause(context.Background())
	a.slots = make(chan struct{}, a.maxConcurrent(ctx))
	return a, nil
}

func serverKey(cfg config.Config) (*secret.Box, string, error) {
	if cfg.SecretKey != "" {
		k, err := secret.ParseKey(cfg.SecretKey)
		if err != nil {
			return nil, "", fmt.Errorf("DBACKUP_SECRET_KEY: %w", err)
		}
		b, err := secret.NewBox(k)
		return b, "server key from DBACKUP_SECRET_KEY", err
	}
	k, created, err := secret.LoadOrCreateKeyFile(cfg.SecretKeyFile)
	if err != nil {
		return nil, "", err
	}
	b, err := secret.NewBox(k)
	info := "server key read from " + cfg.SecretKeyFile
	if created {
		info = "created a new server key in " + cfg.SecretKeyFile + " (mode 0600): back it up; without it stored credentials and encryption keys cannot be read"
	}
	return b, info, err
}

// SettingMaxConcurrent is the setting for the number of runs at once.
const SettingMaxConcurrent = "max_concurrent_jobs"

func (a *App) maxConcurrent(ctx context.Context) int {
	v, ok, err := a.Store.GetSetting(ctx, SettingMaxConcurrent)
	if err != nil || !ok {
		return 1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// Close cancels what still runs, waits for it and for notifications in
// flight (each bounded by its timeout and attempts), and closes the store.
func (a *App) Close() error {
	a.stop(ErrShutdown)
	a.wg.Wait()
	a.notifyWG.Wait()
	return a.Store.Close()
}

// Version reports the build version.
func (a *App) Version() string { return version.Version }

// Recover is called once at server start: runs left "running" by a process
// that died are failed as interrupted, queued backups are started again.
func (a *App) Recover(ctx context.Context) error {
	running, err := a.Store.ListExecutions(ctx, store.ExecutionFilter{Status: backup.StatusRunning, Limit: 10000})
	if err != nil {
		return err
	}
	for _, e := range running {
		if ok, err := a.Store.Transition(ctx, e.ID, backup.StatusRunning, backup.StatusFailed, time.Now().UTC(),
			"interrupted: dbackup stopped while this execution was running; nothing from it was committed"); err != nil {
			return err
		} else if ok {
			a.Log.Warn("marked interrupted execution as failed", "execution", e.ID, "job", e.JobName)
		}
	}
	queued, err := a.Store.ListExecutions(ctx, store.ExecutionFilter{Status: backup.StatusQueued, Limit: 10000})
	if err != nil {
		return err
	}
	for i := len(queued) - 1; i >= 0; i-- { // oldest first
		e := queued[i]
		if e.Kind == backup.KindRestore {
			// A restore's request lives in memory only; it cannot resume.
			a.Store.Transition(ctx, e.ID, backup.StatusQueued, backup.StatusFailed, time.Now().UTC(), "interrupted before it started: start the restore again")
			continue
		}
		a.Log.Info("resuming queued execution", "execution", e.ID, "job", e.JobName)
		a.dispatch(e.ID, func(ctx context.Context) (*backup.Execution, error) { return a.Runner.Run(ctx, e.ID) })
	}
	return nil
}

// dispatch runs fn in the background within the concurrency limit.
func (a *App) dispatch(id string, fn func(context.Context) (*backup.Execution, error)) {
	ctx, cancel := context.WithCancelCause(a.base)
	a.mu.Lock()
	a.running[id] = cancel
	a.mu.Unlock()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer func() {
			a.mu.Lock()
			delete(a.running, id)
			a.mu.Unlock()
			cancel(nil)
		}()
		select {
		case a.slots <- struct{}{}:
			defer func() { <-a.slots }()
		case <-ctx.Done():
			// Cancelled while queued: Cancel already recorded it. Shutdown:
			// it stays queued and the next start resumes it.
			return
		}
		if _, err := fn(ctx); err != nil {
			a.Log.Error("execution", "execution", id, "err", err)
		}
	}()
}

// Cancel cancels a queued or running execution of this process.
func (a *App) Cancel(ctx context.Context, id string) (*backup.Execution, error) {
	e, err := a.Store.GetExecution(ctx, id)
	if err != nil {
		return nil, err
	}
	switch e.Status {
	case backup.StatusQueued:
		ok, err := a.Store.Transition(ctx, id, backup.StatusQueued, backup.StatusCancelled, time.Now().UTC(), "cancelled by user before it started")
		if err != nil {
			return nil, err
		}
		if ok {
			a.cancelRunning(id)
			return a.Store.GetExecution(ctx, id)
		}
		return a.Cancel(ctx, id) // it started meanwhile
	case backup.StatusRunning:
		if !a.cancelRunning(id) {
			return nil, fmt.Errorf("%w: execution %s runs in another dbackup process", backup.ErrInvalid, id)
		}
		return e, nil
	}
	return nil, fmt.Errorf("%w: execution %s is already %s", backup.ErrInvalid, id, e.Status)
}

func (a *App) cancelRunning(id string) bool {
	a.mu.Lock()
	cancel, ok := a.running[id]
	a.mu.Unlock()
	if ok {
		cancel(backup.ErrCancelled)
	}
	return ok
}
