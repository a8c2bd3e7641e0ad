package runner

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/store"
)

// execLog collects an execution's log entries and progress and writes them
// to the store at most once per interval, plus at every stage change. After
// close nothing more is written, so the final status write is authoritative.
type execLog struct {
	store    store.Store
	mu       sync.Mutex
	exec     *backup.Execution // guarded by mu
	seq      int64
	pending  []backup.LogEntry
	stageAt  time.Time
	closed   bool
	stop     chan struct{}
	done     chan struct{}
	now      func() time.Time
	fallback *slog.Logger
}

func newExecLog(s store.Store, e *backup.Execution, interval time.Duration, now func() time.Time, fallback *slog.Logger) *execLog {
	l := &execLog{store: s, exec: e, stageAt: now(), stop: make(chan struct{}), done: make(chan struct{}), now: now, fallback: fallback}
	go func() {
		defer close(l.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				l.flush()
			}
		}
	}()
	return l
}

func (l *execLog) add(level backup.Level, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.seq++
	l.pending = append(l.pending, backup.LogEntry{Seq: l.seq, Time: l.now().UTC(), Level: level, Stage: l.exec.Stage, Message: msg})
}

func (l *execLog) info(format string, args ...any) {
	l.add(backup.LevelInfo, fmt.Sprintf(format, args...))
}
func (l *execLog) warn(format string, args ...any) {
	l.add(backup.LevelWarn, fmt.Sprintf(format, args...))
}
func (l *execLog) error(format string, args ...any) {
	l.add(backup.LevelError, fmt.Sprintf(format, args...))
}

// stage ends the current stage (logging its duration) and starts the next.
func (l *execLog) stage(s backup.Stage) {
	l.mu.Lock()
	prev, took := l.exec.Stage, l.now().Sub(l.stageAt)
	l.mu.Unlock()
	// The upload happens during the dump (one pass): its stage only
	// records the results, and the stage timings say what each took.
	if prev != "" && prev != backup.StageQueued && prev != backup.StageUpload {
		l.info("stage %s finished in %s", prev, took.Round(time.Millisecond))
	}
	l.update(func(e *backup.Execution) { e.Stage = s })
	l.mu.Lock()
	l.stageAt = l.now()
	l.mu.Unlock()
	l.info("stage %s started", s)
	l.flush()
}

// update changes the execution under the lock; the next flush writes it.
func (l *execLog) update(fn func(e *backup.Execution)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fn(l.exec)
}

// snapshot returns a copy of the execution.
func (l *execLog) snapshot() backup.Execution {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := *l.exec
	e.Destinations = append([]backup.DestResult(nil), l.exec.Destinations...)
	return e
}

func (l *execLog) flush() {
	l.mu.Lock()
	entries := l.pending
	l.pending = nil
	e := *l.exec
	e.Destinations = append([]backup.DestResult(nil), l.exec.Destinations...)
	l.mu.Unlock()
	// The run's context may be cancelled; its log must still be written.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.store.AppendLogs(ctx, e.ID, entries); err != nil {
		l.fallback.Error("write execution log", "execution", e.ID, "err", err)
	}
	if err := l.store.UpdateExecution(ctx, &e); err != nil {
		l.fallback.Error("write execution progress", "execution", e.ID, "err", err)
	}
}

// close stops the flusher and writes what is left; later adds are dropped.
func (l *execLog) close() {
	close(l.stop)
	<-l.done
	l.flush()
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}

// slogger returns a logger whose records land in this execution's log, for
// the sources and destinations that log through slog.
func (l *execLog) slogger() *slog.Logger { return slog.New(&logHandler{l: l}) }

type logHandler struct {
	l     *execLog
	attrs []slog.Attr
}

func (h *logHandler) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelInfo }

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	level := backup.LevelInfo
	switch {
	case r.Level >= slog.LevelError:
		level = backup.LevelError
	case r.Level >= slog.LevelWarn:
		level = backup.LevelWarn
	}
	h.l.add(level, b.String())
	return nil
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &logHandler{l: h.l, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *logHandler) WithGroup(string) slog.Handler { return h }
