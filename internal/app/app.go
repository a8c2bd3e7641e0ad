// Package app is the composition root: it opens the store, builds the plugin
// registries and the runner, and offers the operations that the CLI and the
// HTTP API share. It is the only package that imports everything.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dbackup/dbackup/internal/auth"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/config"
	"github.com/dbackup/dbackup/internal/dest"
	destall "github.com/dbackup/dbackup/internal/dest/all"
	"github.com/dbackup/dbackup/internal/metrics"
	"github.com/dbackup/dbackup/internal/notify"
	notifyall "github.com/dbackup/dbackup/internal/notify/all"
	"github.com/dbackup/dbackup/internal/plugin"
	"github.com/dbackup/dbackup/internal/queue"
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
	Queue    *queue.Queue
	Log      *slog.Logger
	Location *time.Location
	KeyInfo  string // what Open did about the server key, for the start banner
	Metrics  *metrics.Metrics

	base      context.Context
	stop      context.CancelCauseFunc
	mu        sync.Mutex
	running   map[string]context.CancelCauseFunc
	wg        sync.WaitGroup
	notifying inFlight
	lim       limiters
	// hashSlots bound the password checks running at once.
	hashSlots chan struct{}
	// managesMemory: the soft memory limit follows the setting (ManageMemory).
	managesMemory atomic.Bool
}

// Open prepares the data directory, the server key and the store.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return nil, err
	}
	box, keyInfo, newKey, err := serverKey(cfg)
	if err != nil {
		return nil, err
	}
	if !sqlstore.IsPostgres(cfg.DatabaseURL) {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
	}
	db, err := sqlstore.Open(ctx, cfg.DatabaseURL, box)
	if err != nil {
		return nil, err
	}
	if newKey != nil {
		// The key file is missing. A store that already holds secrets was
		// sealed with another key: a new one would only hide that.
		if id, ok, err := db.GetSetting(ctx, sqlstore.SettingServerKeyID); err != nil || ok {
			db.Close()
			if err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("the server key file %s is missing, and the metadata store holds secrets sealed with server key %s: put that key file back (or set DBACKUP_SECRET_KEY); no new key was written", cfg.SecretKeyFile, id)
		}
		if err := secret.CreateKeyFile(cfg.SecretKeyFile, newKey); err != nil {
			db.Close()
			return nil, fmt.Errorf("server key file: %w", err)
		}
	}
	st, err := checkServerKey(ctx, cfg, db, log)
	if err != nil {
		if st != nil {
			st.Close()
		}
		return nil, err
	}
	a := &App{Cfg: cfg, Store: st, Sources: sourceall.Registry(), Dests: destall.Registry(log), Channels: notifyall.Registry(), Log: log, Location: loc,
		KeyInfo: keyInfo, running: map[string]context.CancelCauseFunc{}, hashSlots: make(chan struct{}, max(2, runtime.NumCPU()))}
	a.Sources.Allow = a.allowHostPaths
	if strings.HasPrefix(keyInfo, "created") {
		// Whatever command created it, the user must learn of the key now.
		log.Warn(keyInfo)
	}
	a.Runner = &runner.Runner{Store: st, Sources: a.Sources, Dests: a.Dests, Validators: sourceall.Validators(), Log: log, Location: loc,
		Throwaways: sourceall.Throwaways(), DrillDir: cfg.DrillDir, ToolDirs: cfg.ToolDirs,
		OnStart: a.onStart, OnFinish: a.onFinish, OnDestinationFailed: a.onDestinationFailed}
	a.base, a.stop = context.WithCancelCause(context.Background())
	a.Queue = &queue.Queue{Store: st, Runner: a.Runner, Log: log, Node: cfg.NodeID, Location: loc, StaleAfter: cfg.StaleAfter,
		OnInterrupted: a.cleanupInterrupted, DrillFor: a.DrillNewest}
	a.Runner.Zone = a.Queue.Zone
	a.Metrics = metrics.New(a.metricsState, log)
	return a, nil
}

// serverKey is the server key: from DBACKUP_SECRET_KEY, or its file; with
// no file, a new key that Open writes only once it knows the store holds
// no secrets sealed with another (newKey).
func serverKey(cfg config.Config) (b *secret.Box, info string, newKey []byte, err error) {
	if cfg.SecretKey != "" {
		k, err := secret.ParseKey(cfg.SecretKey)
		if err != nil {
			return nil, "", nil, fmt.Errorf("DBACKUP_SECRET_KEY: %w", err)
		}
		b, err := secret.NewBox(k)
		return b, "server key from DBACKUP_SECRET_KEY", nil, err
	}
	k, exists, err := secret.LoadKeyFile(cfg.SecretKeyFile)
	if err != nil {
		return nil, "", nil, err
	}
	info = "server key read from " + cfg.SecretKeyFile
	if !exists {
		k = secret.NewKey()
		newKey = k
		info = "created a new server key in " + cfg.SecretKeyFile + " (mode 0600): back it up; without it stored credentials and encryption keys cannot be read"
	}
	b, err = secret.NewBox(k)
	return b, info, newKey, err
}

// Settings of the queue and the service.
const (
	SettingMaxConcurrent = queue.SettingMaxConcurrent
	SettingShutdownGrace = "shutdown_grace_seconds"
)

// Serve starts this node's queue: claiming, heartbeats and, when it is the
// leader, schedules. Stop it with StopServing.
func (a *App) Serve(ctx context.Context) {
	go auth.Prepare() // so that the first login with an unknown name is not faster
	a.Queue.Start(ctx)
}

// StopServing stops taking work and lets running backups finish within the
// shutdown grace period before they are cancelled.
func (a *App) StopServing() {
	grace := time.Duration(a.intSetting(context.Background(), SettingShutdownGrace)) * time.Second
	a.Log.Info("stopping: running backups may finish", "grace", grace, "running", a.Queue.Running())
	a.Queue.Stop(grace)
}

// Close cancels what still runs, waits for it and for notifications in
// flight (each bounded by its timeout and attempts), and closes the store.
func (a *App) Close() error {
	a.Queue.Stop(0)
	a.stop(backup.ErrShutdown)
	a.wg.Wait()
	a.notifying.wait()
	return a.Store.Close()
}

// Version reports the build version.
func (a *App) Version() string { return version.Version }

// Recover is called once at server start. Runs this node's queue left
// "running" when it died are failed as interrupted and what they left is
// removed, and so are those of this node's processes that are gone (a
// restore of the previous server process, a killed CLI run); queued backups
// stay queued and the queue resumes them. Runs of other nodes and of live
// processes are the scheduling node's to judge, by their heartbeats.
func (a *App) Recover(ctx context.Context) error {
	running, err := a.Store.ListExecutions(ctx, store.ExecutionFilter{Status: backup.StatusRunning, Limit: 10000})
	if err != nil {
		return err
	}
	for _, e := range running {
		if e.Node != a.Cfg.NodeID && e.Node != "" && !a.deadProcessOfThisNode(e.Node) {
			continue
		}
		ok, err := a.Store.Transition(ctx, e.ID, backup.StatusRunning, backup.StatusFailed, time.Now().UTC(),
			"interrupted: dbackup stopped while this execution was running; nothing from it was committed")
		if err != nil {
			return err
		}
		if ok {
			a.Log.Warn("marked interrupted execution as failed", "execution", e.ID, "job", e.JobName)
			a.cleanupInterrupted(e)
		}
	}
	a.sweepDrills()
	if n, _ := a.Store.ListExecutions(ctx, store.ExecutionFilter{Status: backup.StatusQueued, Limit: 10000}); len(n) > 0 {
		a.Log.Info("queued executions will resume", "count", len(n))
	}
	return nil
}

// dispatch runs a restore in the background (restores do not queue: their
// request is held in memory).
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
		if _, err := fn(ctx); err != nil {
			a.Log.Error("execution", "execution", id, "err", err)
		}
	}()
}

// Cancel cancels a queued or running execution of this process.
func (a *App) Cancel(ctx context.Context, id string) (e *backup.Execution, err error) {
	defer func() { a.Audit(ctx, "execution.cancel", id, err == nil, errText(err)) }()
	e, err = a.Store.GetExecution(ctx, id)
	if err != nil {
		return nil, err
	}
	by := "cancelled by " + who(ctx)
	switch e.Status {
	case backup.StatusQueued:
		ok, err := a.Store.Transition(ctx, id, backup.StatusQueued, backup.StatusCancelled, time.Now().UTC(), by+" before it started")
		if err != nil {
			return nil, err
		}
		if ok {
			return a.Store.GetExecution(ctx, id)
		}
		return a.Cancel(ctx, id) // it started meanwhile
	case backup.StatusRunning:
		cause := fmt.Errorf("%w by %s", backup.ErrCancelled, who(ctx))
		if a.cancelRunning(id, cause) || a.Queue.CancelLocal(id, cause) {
			return e, nil
		}
		// Another process or node runs it: it sees the request at its next heartbeat.
		if _, err := a.Store.RequestCancel(ctx, id); err != nil {
			return nil, err
		}
		return a.Store.GetExecution(ctx, id)
	}
	return nil, fmt.Errorf("%w: execution %s is already %s", backup.ErrInvalid, id, e.Status)
}

func (a *App) cancelRunning(id string, cause error) bool {
	a.mu.Lock()
	cancel, ok := a.running[id]
	a.mu.Unlock()
	if ok {
		cancel(cause)
	}
	return ok
}

// who names the person (or key) behind ctx for messages: "admin",
// "key ci", or "the command line".
func who(ctx context.Context) string {
	p := PrincipalFrom(ctx)
	switch {
	case p == nil:
		return "the command line"
	case strings.HasPrefix(p.Actor, "user:"):
		return strings.TrimPrefix(p.Actor, "user:")
	case strings.HasPrefix(p.Actor, "key:"):
		return "API key " + strings.TrimPrefix(p.Actor, "key:")
	}
	return p.Actor
}
