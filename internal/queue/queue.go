// Package queue runs executions from the executions table, on one node or
// several sharing a PostgreSQL store: every node claims work within the
// cluster-wide "max concurrent jobs", one leader (by lease) fires schedules
// and fails the runs of nodes that stopped responding, and every trigger of
// a job that is already queued or running is recorded as skipped.
//
// River (DESIGN.md's choice) is not used: its open-source edition limits
// concurrency per client and per queue, fixed at start; a cluster-wide limit
// that changes at runtime is a River Pro feature.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/runner"
	"github.com/dbackup/dbackup/internal/schedule"
	"github.com/dbackup/dbackup/internal/store"
)

// Settings read at every claim and tick, so they change without restart.
const (
	SettingMaxConcurrent = "max_concurrent_jobs"
	SettingTimezone      = "scheduler_timezone"
)

// Queue is one node's share of the work.
type Queue struct {
	Store  store.Store
	Runner *runner.Runner
	Log    *slog.Logger
	Node   string
	// Location is the scheduler time zone when the setting is not set.
	Location *time.Location
	Now      func() time.Time

	Poll       time.Duration // claim loop (default 500ms)
	Beat       time.Duration // heartbeat (default 2s)
	StaleAfter time.Duration // a running execution without heartbeat this long is lost (default 30s)
	LeaseTTL   time.Duration // scheduler lease (default 10s)
	// MissedAfter: a scheduled time later than this is "missed while down" (default 2m).
	MissedAfter time.Duration
	// OnInterrupted cleans up after a run whose node was lost.
	OnInterrupted func(e *backup.Execution)
	// DrillFor makes the drill a job's drill schedule fires (of its newest
	// backup), for the leader to queue with the schedule's mark.
	DrillFor func(ctx context.Context, job *backup.Job) (*backup.Execution, error)

	mu      sync.Mutex
	running map[string]context.CancelCauseFunc
	wake    chan struct{}
	stop    context.CancelFunc
	base    context.Context
	loops   sync.WaitGroup
	runs    sync.WaitGroup
	leader  atomic.Bool
	started bool
}

func (q *Queue) now() time.Time {
	if q.Now != nil {
		return q.Now()
	}
	return time.Now()
}

func def(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// Start begins claiming, heartbeating and (when leader) scheduling.
func (q *Queue) Start(ctx context.Context) {
	def(&q.Poll, 500*time.Millisecond)
	def(&q.Beat, 2*time.Second)
	def(&q.StaleAfter, 30*time.Second)
	def(&q.LeaseTTL, 10*time.Second)
	def(&q.MissedAfter, 2*time.Minute)
	q.running = map[string]context.CancelCauseFunc{}
	q.wake = make(chan struct{}, 1)
	var loopCtx context.Context
	loopCtx, q.stop = context.WithCancel(ctx)
	q.base = context.WithoutCancel(ctx)
	q.started = true
	for _, loop := range []func(context.Context){q.claimLoop, q.beatLoop, q.leaderLoop} {
		q.loops.Add(1)
		go func() { defer q.loops.Done(); loop(loopCtx) }()
	}
}

// Stop stops taking work, lets running executions finish within grace,
// then cancels them (they end failed, "interrupted") and waits. Queued
// executions stay queued for the next start.
func (q *Queue) Stop(grace time.Duration) {
	if !q.started {
		return
	}
	q.stop()
	q.loops.Wait()
	done := make(chan struct{})
	go func() { q.runs.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		q.mu.Lock()
		for _, cancel := range q.running {
			cancel(backup.ErrShutdown)
		}
		q.mu.Unlock()
		<-done
	}
	if q.leader.Load() {
		q.Store.ReleaseLease(context.Background(), "scheduler", q.Node)
	}
	q.started = false
}

// Wake makes the claim loop look for work now.
func (q *Queue) Wake() {
	if q.wake == nil {
		return
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Running reports how many executions this node runs now.
func (q *Queue) Running() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.running)
}

// CancelLocal cancels an execution if this node runs it.
func (q *Queue) CancelLocal(id string, cause error) bool {
	q.mu.Lock()
	cancel, ok := q.running[id]
	q.mu.Unlock()
	if ok {
		cancel(cause)
	}
	return ok
}

// MaxConcurrent is the cluster-wide limit now in force.
func (q *Queue) MaxConcurrent(ctx context.Context) int { return q.maxConcurrent(ctx) }

func (q *Queue) maxConcurrent(ctx context.Context) int {
	if v, ok, err := q.Store.GetSetting(ctx, SettingMaxConcurrent); err == nil && ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 1 {
			return n
		}
	}
	return 1
}

func (q *Queue) claimLoop(ctx context.Context) {
	t := time.NewTicker(q.Poll)
	defer t.Stop()
	for {
		for q.claimOne(ctx) {
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-q.wake:
		}
	}
}

// claimOne claims and starts one execution; false when there is none.
func (q *Queue) claimOne(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	e, err := q.Store.Claim(ctx, q.Node, q.maxConcurrent(ctx), q.now().UTC())
	if err != nil {
		if ctx.Err() == nil {
			q.Log.Error("claim", "err", err)
		}
		return false
	}
	if e == nil {
		return false
	}
	runCtx, cancel := context.WithCancelCause(q.base)
	q.mu.Lock()
	q.running[e.ID] = cancel
	q.mu.Unlock()
	q.runs.Add(1)
	go func() {
		defer q.runs.Done()
		defer func() {
			q.mu.Lock()
			delete(q.running, e.ID)
			q.mu.Unlock()
			cancel(nil)
			q.Wake()
		}()
		final, err := q.Runner.RunClaimed(runCtx, e)
		if err != nil {
			q.Log.Error("run", "execution", e.ID, "err", err)
			return
		}
		if errors.Is(context.Cause(runCtx), backup.ErrShutdown) {
			q.requeue(context.Background(), final)
			return
		}
		q.maybeRetry(context.Background(), final)
	}()
	return true
}

// requeue queues again a backup that this node's graceful stop cut short,
// exactly as after a crash: what it left is removed and another node (or
// this one, restarted) runs it.
func (q *Queue) requeue(ctx context.Context, e *backup.Execution) {
	if e.Status != backup.StatusFailed || e.Kind != backup.KindBackup || e.JobID == "" {
		return
	}
	if q.OnInterrupted != nil {
		q.OnInterrupted(e)
	}
	if job, err := q.Store.GetJob(ctx, e.JobID); err == nil {
		q.Log.Warn("backup interrupted by the shutdown: queued again", "execution", e.ID, "job", e.JobName)
		q.retry(ctx, job, e, 0)
	}
}

// maybeRetry queues another attempt of a failed backup when the job asks
// for retries, RetryBackoff × 2^(attempt-1) later (default backoff 1m).
func (q *Queue) maybeRetry(ctx context.Context, e *backup.Execution) {
	if e.Status != backup.StatusFailed || e.Kind != backup.KindBackup || e.JobID == "" {
		return
	}
	job, err := q.Store.GetJob(ctx, e.JobID)
	if err != nil || e.Attempt > job.Retries {
		return
	}
	backoff := time.Duration(job.RetryBackoff)
	if backoff <= 0 {
		backoff = time.Minute
	}
	q.retry(ctx, job, e, backoff<<(e.Attempt-1))
}

func (q *Queue) retry(ctx context.Context, job *backup.Job, e *backup.Execution, after time.Duration) {
	at := q.now().UTC().Add(after)
	next := &backup.Execution{JobID: job.ID, JobName: job.Name, Kind: backup.KindBackup, Trigger: backup.TriggerRetry,
		Stage: backup.StageQueued, CreatedAt: q.now().UTC(), Attempt: e.Attempt + 1, NotBefore: &at, Lock: e.Lock}
	if err := q.Store.Enqueue(ctx, next); err != nil {
		q.Log.Error("queue retry", "job", job.Name, "err", err)
		return
	}
	q.Log.Info("retry queued", "job", job.Name, "attempt", next.Attempt, "at", at)
}

// Foreground keeps an execution that this process runs outside the queue
// (the CLI's job run, a restore) alive: it sends heartbeats as node and
// cancels run when a cancellation is requested. Call the returned stop
// when the run ends.
func (q *Queue) Foreground(node, id string, cancel context.CancelCauseFunc) (stop func()) {
	beat := q.Beat
	if beat <= 0 {
		beat = 2 * time.Second
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(beat)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if ids, err := q.Store.Heartbeat(context.Background(), node, []string{id}, q.now().UTC()); err == nil && len(ids) > 0 {
					cancel(backup.ErrCancelled)
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// Trigger queues a run of a job, or records it as skipped if the job is
// already queued or running.
func (q *Queue) Trigger(ctx context.Context, job *backup.Job, trigger backup.Trigger, lock bool, scheduledFor *time.Time) (*backup.Execution, error) {
	e := &backup.Execution{JobID: job.ID, JobName: job.Name, Kind: backup.KindBackup, Trigger: trigger, Stage: backup.StageQueued,
		CreatedAt: q.now().UTC(), Lock: lock, ScheduledFor: scheduledFor}
	if err := q.Store.Enqueue(ctx, e); err != nil {
		return nil, err
	}
	if e.Status == backup.StatusSkipped {
		q.Log.Warn("trigger skipped", "job", job.Name, "trigger", trigger, "reason", e.Error)
	}
	q.Wake()
	return e, nil
}

func (q *Queue) beatLoop(ctx context.Context) {
	t := time.NewTicker(q.Beat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		q.mu.Lock()
		ids := make([]string, 0, len(q.running))
		for id := range q.running {
			ids = append(ids, id)
		}
		q.mu.Unlock()
		cancels, err := q.Store.Heartbeat(ctx, q.Node, ids, q.now().UTC())
		if err != nil {
			continue
		}
		for _, id := range cancels {
			q.CancelLocal(id, backup.ErrCancelled) // asked on another node: who is in its audit log
		}
	}
}

func (q *Queue) leaderLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		ok, err := q.Store.AcquireLease(ctx, "scheduler", q.Node, q.LeaseTTL, q.now().UTC())
		if err == nil && ok != q.leader.Load() {
			q.leader.Store(ok)
			if ok {
				q.Log.Info("this node now schedules", "node", q.Node)
			}
		}
		if q.leader.Load() {
			q.sweep(ctx)
			q.tick(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweep fails the runs of nodes that stopped beating and queues them again.
func (q *Queue) sweep(ctx context.Context) {
	stale, err := q.Store.StaleRunning(ctx, q.now().UTC().Add(-q.StaleAfter))
	if err != nil {
		return
	}
	for _, e := range stale {
		q.mu.Lock()
		_, mine := q.running[e.ID]
		q.mu.Unlock()
		if mine {
			continue
		}
		msg := fmt.Sprintf("interrupted: %v (node %s); nothing from this run was committed", backup.ErrNodeLost, e.Node)
		ok, err := q.Store.Transition(ctx, e.ID, backup.StatusRunning, backup.StatusFailed, q.now().UTC(), msg)
		if err != nil || !ok {
			continue
		}
		q.Log.Warn("run of a lost node failed", "execution", e.ID, "job", e.JobName, "node", e.Node)
		if q.OnInterrupted != nil {
			q.OnInterrupted(e)
		}
		if e.Kind == backup.KindBackup && e.JobID != "" {
			if job, err := q.Store.GetJob(ctx, e.JobID); err == nil {
				q.retry(ctx, job, e, 0)
			}
		}
	}
}

// location is the time zone of a job's schedule.
func (q *Queue) location(ctx context.Context, job *backup.Job) *time.Location {
	return JobZone(job, q.Zone(ctx))
}

// Zone is the scheduler time zone: the setting, else the -timezone flag,
// else UTC.
func (q *Queue) Zone(ctx context.Context) *time.Location {
	if v, ok, err := q.Store.GetSetting(ctx, SettingTimezone); err == nil && ok && v != "" {
		if loc, err := time.LoadLocation(v); err == nil {
			return loc
		}
	}
	if q.Location == nil {
		return time.UTC
	}
	return q.Location
}

// JobZone is the zone a job's schedule runs in: its own, else def.
func JobZone(job *backup.Job, def *time.Location) *time.Location {
	if job.Timezone != "" {
		if loc, err := time.LoadLocation(job.Timezone); err == nil {
			return loc
		}
	}
	return def
}

// tick fires every due schedule (of backups and of drills) once.
func (q *Queue) tick(ctx context.Context) {
	jobs, err := q.Store.ListJobs(ctx)
	if err != nil {
		return
	}
	now := q.now().UTC()
	for _, job := range jobs {
		if !job.Enabled {
			continue
		}
		q.fire(ctx, job, backup.KindBackup, job.Schedule, job.LastScheduledAt, now, func() (*backup.Execution, error) {
			return &backup.Execution{JobID: job.ID, JobName: job.Name, Kind: backup.KindBackup, Stage: backup.StageQueued, CreatedAt: now}, nil
		})
		if q.DrillFor != nil {
			q.fire(ctx, job, backup.KindDrill, job.DrillSchedule, job.DrillScheduledAt, now, func() (*backup.Execution, error) { return q.DrillFor(ctx, job) })
		}
	}
}

// fire runs one schedule of a job (its backups' or its drills') if it is
// due: the run make returns is queued and the schedule's mark moved in one
// transaction, so a leader killed in between neither loses nor doubles it.
// A time missed while down is caught up only when the job asks for it.
func (q *Queue) fire(ctx context.Context, job *backup.Job, kind backup.Kind, expr string, last *time.Time, now time.Time, make func() (*backup.Execution, error)) {
	if expr == "" {
		return
	}
	s, err := schedule.Parse(expr)
	if err != nil {
		return // refused on save; an old invalid one never fires
	}
	if last == nil {
		q.Store.MarkScheduled(ctx, job.ID, kind, nil, now) // start counting from now
		return
	}
	loc := q.location(ctx, job)
	due := s.Next(*last, loc)
	if due.IsZero() || due.After(now) {
		return
	}
	latest := due
	for n := s.Next(latest, loc); !n.IsZero() && !n.After(now); n = s.Next(n, loc) {
		latest = n
	}
	trigger := backup.TriggerSchedule
	if now.Sub(latest) > q.MissedAfter {
		if !job.CatchUp {
			if ok, _ := q.Store.MarkScheduled(ctx, job.ID, kind, last, now); ok {
				q.Log.Warn("scheduled "+string(kind)+" missed while dbackup was down; not caught up", "job", job.Name, "at", latest)
			}
			return
		}
		trigger = backup.TriggerCatchUp
	}
	e, err := make()
	if err != nil {
		if ok, _ := q.Store.MarkScheduled(ctx, job.ID, kind, last, now); ok {
			q.Log.Warn("scheduled "+string(kind)+" not queued", "job", job.Name, "err", err)
		}
		return
	}
	e.Trigger, e.ScheduledFor = trigger, &latest
	ok, err := q.Store.EnqueueScheduled(ctx, e, last, now)
	switch {
	case err != nil:
		q.Log.Error("trigger", "job", job.Name, "kind", kind, "err", err)
	case !ok: // another leader fired it
	case e.Status == backup.StatusSkipped:
		q.Log.Warn("trigger skipped", "job", job.Name, "kind", kind, "trigger", trigger, "reason", e.Error)
	default:
		q.Wake()
	}
}

// NextRuns returns the next n runs of a job's schedule in its time zone.
func (q *Queue) NextRuns(ctx context.Context, job *backup.Job, n int) ([]time.Time, *time.Location, error) {
	s, err := schedule.Parse(job.Schedule)
	if err != nil {
		return nil, nil, err
	}
	loc := q.location(ctx, job)
	return s.NextN(q.now(), loc, n), loc, nil
}
