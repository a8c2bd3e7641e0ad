package app

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/dbackup/dbackup/internal/auth"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/notify"
	"github.com/dbackup/dbackup/internal/pipeline/crypt"
	"github.com/dbackup/dbackup/internal/retention"
	"github.com/dbackup/dbackup/internal/schedule"
	"github.com/dbackup/dbackup/internal/secret"
	"github.com/dbackup/dbackup/internal/store"
)

// ProfileView shows a profile without its key.
type ProfileView struct {
	*backup.Profile
	KeyID string `json:"key_id"`
}

// ViewProfile hides a profile's key.
func ViewProfile(p *backup.Profile) ProfileView { return ProfileView{p, crypt.KeyID(p.Key)} }

// CreateProfile creates an encryption profile with a new random key, or
// with keyHex when importing one.
func (a *App) CreateProfile(ctx context.Context, name, keyHex string) (*backup.Profile, error) {
	if err := backup.CheckName("the profile name", strings.TrimSpace(name)); err != nil {
		return nil, err
	}
	key := make([]byte, crypt.KeySize)
	if keyHex != "" {
		k, err := secret.ParseKey(keyHex)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", backup.ErrInvalid, err)
		}
		key = k
	} else if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	p := &backup.Profile{Name: strings.TrimSpace(name), Key: key}
	return p, a.Store.CreateProfile(ctx, p)
}

// DeleteProfile deletes a profile no job uses.
func (a *App) DeleteProfile(ctx context.Context, ref string) error {
	p, err := a.Store.GetProfile(ctx, ref)
	if err != nil {
		return err
	}
	return a.Store.DeleteProfile(ctx, p.ID)
}

// JobInput creates or updates a job. References are ids or names.
type JobInput struct {
	Name             string         `json:"name"`
	Source           string         `json:"source"`
	Databases        []string       `json:"databases"`
	Destinations     []JobDestInput `json:"destinations"`
	Compression      string         `json:"compression"`
	CompressionLevel int            `json:"compression_level"`
	Profile          string         `json:"encryption_profile"`
	NamingTemplate   string         `json:"naming_template"`
	Schedule         string         `json:"schedule"`
	Enabled          *bool          `json:"enabled"`
	// Notifications route outcomes (success, partial, failed, cancelled)
	// to channels (id or name).
	Notifications []JobChannelInput `json:"notifications"`
	ExpectEvery   backup.Duration   `json:"expect_every"`
	RemindEvery   backup.Duration   `json:"remind_every"`
	// Scheduling and limits.
	Timezone     string          `json:"timezone"`
	CatchUp      bool            `json:"catch_up"`
	Retries      int             `json:"retries"`
	RetryBackoff backup.Duration `json:"retry_backoff"`
	MaxDuration  backup.Duration `json:"max_duration"`
	StallTimeout backup.Duration `json:"stall_timeout"`
	// Restore drills: after every DrillEvery-th successful backup, on
	// DrillSchedule (cron, the newest backup), into DrillTarget (a scratch
	// source, id or name; empty: a throwaway server); ProvenWithin is the
	// recovery point objective ("26h": a backup proven by a drill no older).
	DrillEvery    int             `json:"drill_every"`
	DrillSchedule string          `json:"drill_schedule"`
	DrillTarget   string          `json:"drill_target"`
	ProvenWithin  backup.Duration `json:"proven_within"`
}

// JobChannelInput routes outcomes of a job to a channel.
type JobChannelInput struct {
	Channel  string   `json:"channel"`
	Outcomes []string `json:"outcomes"`
}

// JobDestInput is one destination of a job with its retention: a policy
// template (id or name), or an inline policy, or neither (the default
// template applies, else keep all).
type JobDestInput struct {
	Destination string          `json:"destination"`
	Policy      string          `json:"policy,omitempty"`
	Retention   json.RawMessage `json:"retention,omitempty"`
}

// resolve turns the input into a job, checking every reference.
func (a *App) resolveJob(ctx context.Context, in JobInput, j *backup.Job) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{backup.ErrInvalid}, args...)...)
	}
	j.Name = strings.TrimSpace(in.Name)
	if err := backup.CheckName("the job name", j.Name); err != nil {
		return err
	}
	if err := backup.CheckNamingTemplate(in.NamingTemplate); err != nil {
		return err
	}
	src, err := a.Store.Sources().Get(ctx, in.Source)
	if err != nil {
		return bad("source %q does not exist", in.Source)
	}
	if src.Scratch {
		return bad("source %q is a drill target (scratch): drills throw its contents away, so a job cannot back it up", src.Name)
	}
	j.SourceID = src.ID
	j.Databases = nil
	for _, db := range in.Databases {
		if db = strings.TrimSpace(db); db != "" {
			j.Databases = append(j.Databases, db)
		}
	}
	if len(in.Destinations) == 0 {
		return bad("a job needs at least one destination")
	}
	j.Destinations = nil
	seen := map[string]bool{}
	for _, d := range in.Destinations {
		ep, err := a.Store.Destinations().Get(ctx, d.Destination)
		if err != nil {
			return bad("destination %q does not exist", d.Destination)
		}
		if seen[ep.ID] {
			return bad("destination %q is listed twice", ep.Name)
		}
		seen[ep.ID] = true
		jd := backup.JobDestination{DestinationID: ep.ID}
		if d.Policy != "" {
			t, err := a.Store.GetPolicy(ctx, d.Policy)
			if err != nil {
				return bad("retention policy %q does not exist", d.Policy)
			}
			jd.PolicyID = t.ID
		} else if len(d.Retention) > 0 {
			if _, err := retention.Parse(d.Retention); err != nil {
				return fmt.Errorf("destination %q: %w", ep.Name, err)
			}
			jd.Retention = d.Retention
		}
		j.Destinations = append(j.Destinations, jd)
	}
	j.Compression = backup.Compression(in.Compression)
	if j.Compression == "" {
		j.Compression = backup.CompressionZstd
	}
	if err := j.Compression.Validate(in.CompressionLevel); err != nil {
		return err
	}
	j.CompressionLevel = in.CompressionLevel
	j.ProfileID = ""
	if in.Profile != "" {
		p, err := a.Store.GetProfile(ctx, in.Profile)
		if err != nil {
			return bad("encryption profile %q does not exist", in.Profile)
		}
		j.ProfileID = p.ID
	}
	j.Notifications = []backup.JobChannel{}
	routed := map[string]bool{}
	for _, n := range in.Notifications {
		ch, err := a.Store.Channels().Get(ctx, n.Channel)
		if err != nil {
			return bad("notification channel %q does not exist", n.Channel)
		}
		if routed[ch.ID] {
			return bad("channel %q is listed twice", ch.Name)
		}
		routed[ch.ID] = true
		if len(n.Outcomes) == 0 {
			return bad("channel %q: choose outcomes among success, partial, failed, cancelled", ch.Name)
		}
		for _, o := range n.Outcomes {
			if !slices.Contains(notify.Outcomes, notify.Outcome(o)) {
				return bad("channel %q: outcome %q (want success, partial, failed or cancelled)", ch.Name, o)
			}
		}
		j.Notifications = append(j.Notifications, backup.JobChannel{ChannelID: ch.ID, Outcomes: n.Outcomes})
	}
	if in.ExpectEvery < 0 || in.RemindEvery < 0 || (in.ExpectEvery > 0 && time.Duration(in.ExpectEvery) < time.Minute) {
		return bad("expect_every must be at least 1m, and neither may be negative")
	}
	j.ExpectEvery, j.RemindEvery = in.ExpectEvery, in.RemindEvery
	j.NamingTemplate = in.NamingTemplate
	j.Schedule = strings.TrimSpace(in.Schedule)
	if j.Schedule != "" {
		if _, err := schedule.Parse(j.Schedule); err != nil {
			return fmt.Errorf("%w: schedule: %v", backup.ErrInvalid, err)
		}
	}
	if in.Timezone != "" {
		if _, err := time.LoadLocation(in.Timezone); err != nil {
			return bad("timezone %q is not an IANA time zone (like Europe/Berlin)", in.Timezone)
		}
	}
	if in.Retries < 0 || in.Retries > 10 {
		return bad("retries must be from 0 to 10")
	}
	if in.RetryBackoff < 0 || in.MaxDuration < 0 || in.StallTimeout < 0 {
		return bad("durations may not be negative")
	}
	if err := a.resolveDrills(ctx, in, j, src); err != nil {
		return err
	}
	j.Timezone, j.CatchUp, j.Retries, j.RetryBackoff = in.Timezone, in.CatchUp, in.Retries, in.RetryBackoff
	j.MaxDuration, j.StallTimeout = in.MaxDuration, in.StallTimeout
	if in.Enabled != nil {
		j.Enabled = *in.Enabled
	}
	return nil
}

// resolveDrills checks a job's drill settings: the drill target a scratch
// source of the job's engine (required for engines dbackup cannot start a
// server of), the schedule a valid cron expression.
func (a *App) resolveDrills(ctx context.Context, in JobInput, j *backup.Job, src *backup.Endpoint) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{backup.ErrInvalid}, args...)...)
	}
	if in.DrillEvery < 0 || in.DrillEvery > 1000 {
		return bad("drill_every must be from 0 (never) to 1000")
	}
	if in.ProvenWithin < 0 || (in.ProvenWithin > 0 && time.Duration(in.ProvenWithin) < time.Minute) {
		return bad("proven_within must be at least 1m")
	}
	j.DrillEvery, j.ProvenWithin = in.DrillEvery, in.ProvenWithin
	j.DrillSchedule = strings.TrimSpace(in.DrillSchedule)
	if j.DrillSchedule != "" {
		if _, err := schedule.Parse(j.DrillSchedule); err != nil {
			return fmt.Errorf("%w: drill schedule: %v", backup.ErrInvalid, err)
		}
	}
	j.DrillTargetID = ""
	if in.DrillTarget != "" {
		t, err := a.Store.Sources().Get(ctx, in.DrillTarget)
		if err != nil {
			return bad("drill target %q does not exist", in.DrillTarget)
		}
		switch {
		case !t.Scratch:
			return bad("drill target %q is not marked as scratch: drills create and drop databases there, so mark it first", t.Name)
		case t.Type != src.Type:
			return bad("drill target %q is %s; the job backs up %s", t.Name, t.Type, src.Type)
		case t.Type == "sqlite":
			return bad("SQLite drills need no drill target: they restore into a private file")
		}
		j.DrillTargetID = t.ID
	}
	drills := j.DrillEvery > 0 || j.DrillSchedule != "" || j.ProvenWithin > 0
	if _, ok := a.Runner.Throwaways[src.Type]; drills && !ok && j.DrillTargetID == "" {
		return bad("dbackup cannot start a %s server of its own for drills: choose a drill target (a source marked as scratch)", src.Type)
	}
	return nil
}

// CreateJob validates and stores a job. New jobs are enabled by default.
func (a *App) CreateJob(ctx context.Context, in JobInput) (*backup.Job, error) {
	j := &backup.Job{Enabled: true}
	if err := a.resolveJob(ctx, in, j); err != nil {
		return nil, err
	}
	return j, a.Store.CreateJob(ctx, j)
}

// UpdateJob replaces a job's settings with in.
func (a *App) UpdateJob(ctx context.Context, ref string, in JobInput) (*backup.Job, error) {
	j, err := a.Store.GetJob(ctx, ref)
	if err != nil {
		return nil, err
	}
	oldSchedule, oldDrills, oldTZ, mark, drillMark := j.Schedule, j.DrillSchedule, j.Timezone, j.LastScheduledAt, j.DrillScheduledAt
	if err := a.resolveJob(ctx, in, j); err != nil {
		return nil, err
	}
	if err := a.Store.UpdateJob(ctx, j); err != nil {
		return nil, err
	}
	// A new schedule counts from now, not from the old one's last run.
	if j.Schedule != oldSchedule || j.Timezone != oldTZ {
		a.Store.MarkScheduled(ctx, j.ID, backup.KindBackup, mark, time.Now().UTC())
	}
	if j.DrillSchedule != oldDrills || j.Timezone != oldTZ {
		a.Store.MarkScheduled(ctx, j.ID, backup.KindDrill, drillMark, time.Now().UTC())
	}
	return j, nil
}

// DeleteJob deletes a job. Its backups and history stay.
func (a *App) DeleteJob(ctx context.Context, ref string) error {
	j, err := a.Store.GetJob(ctx, ref)
	if err != nil {
		return err
	}
	return a.Store.DeleteJob(ctx, j.ID)
}

// StartJob queues a run of a job for the queue (of this node or another).
// A job that is already queued or running gets a skipped execution.
func (a *App) StartJob(ctx context.Context, ref string, trigger backup.Trigger, lock bool) (*backup.Execution, error) {
	if err := mayLock(ctx, lock); err != nil {
		return nil, err
	}
	job, err := a.Store.GetJob(ctx, ref)
	if err != nil {
		return nil, err
	}
	e, err := a.Queue.Trigger(ctx, job, trigger, lock, nil)
	a.auditRun(ctx, job.Name, e, err)
	return e, err
}

// mayLock refuses a run that would lock its backup to a caller who may
// not lock backups (an operator runs jobs, an admin locks backups).
func mayLock(ctx context.Context, lock bool) error {
	if p := PrincipalFrom(ctx); lock && p != nil && !p.Role.Allows(auth.ManageBackup) {
		return fmt.Errorf("%w: locking a backup needs the %s permission", ErrForbidden, auth.ManageBackup)
	}
	return nil
}

// auditRun records who asked for a run and what became of the request.
func (a *App) auditRun(ctx context.Context, job string, e *backup.Execution, err error) {
	detail := errText(err)
	if e != nil {
		detail = fmt.Sprintf("execution %s, %s, trigger %s", e.ID, e.Status, e.Trigger)
	}
	a.Audit(ctx, "job.run", job, err == nil, detail)
}

// EnqueueForeground queues a run that this process means to run itself
// (the CLI's job run), or records a skipped one if the job is busy.
func (a *App) EnqueueForeground(ctx context.Context, ref string, trigger backup.Trigger, lock bool) (*backup.Execution, error) {
	if err := mayLock(ctx, lock); err != nil {
		return nil, err
	}
	job, err := a.Store.GetJob(ctx, ref)
	if err != nil {
		return nil, err
	}
	e := &backup.Execution{JobID: job.ID, JobName: job.Name, Kind: backup.KindBackup, Trigger: trigger, Stage: backup.StageQueued,
		CreatedAt: time.Now().UTC(), Lock: lock}
	err = a.Store.Enqueue(ctx, e)
	a.auditRun(ctx, job.Name, e, err)
	return e, err
}

// RunQueued runs a queued execution in this process as soon as the
// cluster-wide limits let it start. If a serving node claims it first, it
// waits for that node to finish it. Ending ctx cancels it wherever it runs.
func (a *App) RunQueued(ctx context.Context, e *backup.Execution) (*backup.Execution, error) {
	node := a.foregroundNode()
	for {
		claimed, err := a.Store.ClaimID(ctx, e.ID, node, a.Queue.MaxConcurrent(ctx), time.Now().UTC())
		if err != nil && ctx.Err() == nil {
			return nil, err
		}
		if claimed != nil {
			return a.RunForeground(ctx, claimed, func(ctx context.Context) (*backup.Execution, error) { return a.Runner.RunClaimed(ctx, claimed) })
		}
		cur, err := a.Store.GetExecution(context.WithoutCancel(ctx), e.ID)
		if err != nil {
			return nil, err
		}
		if cur.Status.Terminal() {
			return cur, nil
		}
		select {
		case <-ctx.Done():
			a.Cancel(context.WithoutCancel(ctx), e.ID)
			return a.waitFinal(e.ID)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// waitFinal waits (bounded) for an execution another process runs to end.
func (a *App) waitFinal(id string) (*backup.Execution, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		cur, err := a.Store.GetExecution(context.Background(), id)
		if err != nil || cur.Status.Terminal() || time.Now().After(deadline) {
			return cur, err
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// foregroundNode names this process for the runs it starts itself.
func (a *App) foregroundNode() string {
	return fmt.Sprintf("%s/pid-%d", a.Cfg.NodeID, os.Getpid())
}

// RunForeground runs a running execution in this process with heartbeats,
// so that a cancel request from anywhere reaches it and, should this process
// die, the scheduling node fails it and queues a retry.
func (a *App) RunForeground(ctx context.Context, e *backup.Execution, run func(context.Context) (*backup.Execution, error)) (*backup.Execution, error) {
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := a.Queue.Foreground(e.Node, e.ID, cancel)
	defer stop()
	return run(rctx)
}

// RunJob runs a job now in the caller's goroutine and returns the final
// execution (or the skipped one). Cancelling ctx with cause
// backup.ErrCancelled cancels the run.
func (a *App) RunJob(ctx context.Context, ref string, trigger backup.Trigger, lock bool) (*backup.Execution, error) {
	e, err := a.EnqueueForeground(ctx, ref, trigger, lock)
	if err != nil || e.Status == backup.StatusSkipped {
		return e, err
	}
	return a.RunQueued(ctx, e)
}

// ExecutionWithLogs is an execution and its log.
type ExecutionWithLogs struct {
	*backup.Execution
	Logs []backup.LogEntry `json:"logs"`
}

// GetExecution returns an execution with its log entries after afterSeq.
func (a *App) GetExecution(ctx context.Context, id string, afterSeq int64) (ExecutionWithLogs, error) {
	e, err := a.Store.GetExecution(ctx, id)
	if err != nil {
		return ExecutionWithLogs{}, err
	}
	logs, err := a.Store.ListLogs(ctx, id, afterSeq, 0)
	if logs == nil {
		logs = []backup.LogEntry{}
	}
	return ExecutionWithLogs{e, logs}, err
}

// ListExecutions lists executions, newest first.
func (a *App) ListExecutions(ctx context.Context, f store.ExecutionFilter) ([]*backup.Execution, error) {
	if f.JobID != "" {
		j, err := a.Store.GetJob(ctx, f.JobID)
		if err != nil {
			return nil, err
		}
		f.JobID = j.ID
	}
	return a.Store.ListExecutions(ctx, f)
}

// NextRuns is a job's schedule: the next n runs in its time zone.
type NextRuns struct {
	Schedule string      `json:"schedule"`
	Timezone string      `json:"timezone"`
	Enabled  bool        `json:"enabled"`
	Runs     []time.Time `json:"runs"`
}

// JobNextRuns returns a job's next n scheduled runs.
func (a *App) JobNextRuns(ctx context.Context, ref string, n int) (NextRuns, error) {
	job, err := a.Store.GetJob(ctx, ref)
	if err != nil {
		return NextRuns{}, err
	}
	out := NextRuns{Schedule: job.Schedule, Enabled: job.Enabled, Runs: []time.Time{}}
	if job.Schedule == "" {
		return out, nil
	}
	runs, loc, err := a.Queue.NextRuns(ctx, job, n)
	if err != nil {
		return out, err
	}
	out.Timezone = loc.String()
	for _, r := range runs {
		out.Runs = append(out.Runs, r.In(loc))
	}
	return out, nil
}

// SetEnabled enables or disables a job's schedule; disabled jobs can still
// be run by hand.
func (a *App) SetEnabled(ctx context.Context, ref string, enabled bool) (*backup.Job, error) {
	j, err := a.Store.GetJob(ctx, ref)
	if err != nil {
		return nil, err
	}
	j.Enabled = enabled
	return j, a.Store.UpdateJob(ctx, j)
}

// DuplicateJob copies a job under the name "<name> (Copy)" (or "(Copy 2)"…),
// disabled, so that the copy never runs before it is edited.
func (a *App) DuplicateJob(ctx context.Context, ref string) (*backup.Job, error) {
	j, err := a.Store.GetJob(ctx, ref)
	if err != nil {
		return nil, err
	}
	c := *j
	c.ID, c.Enabled, c.LastScheduledAt, c.AlarmAt, c.DrillScheduledAt, c.ProvenAlarmAt = "", false, nil, nil, nil, nil
	c.Databases = append([]string(nil), j.Databases...)
	c.Destinations = append([]backup.JobDestination(nil), j.Destinations...)
	c.Notifications = append([]backup.JobChannel(nil), j.Notifications...)
	for i := 1; ; i++ {
		c.Name = j.Name + " (Copy)"
		if i > 1 {
			c.Name = fmt.Sprintf("%s (Copy %d)", j.Name, i)
		}
		err = a.Store.CreateJob(ctx, &c)
		if !errors.Is(err, backup.ErrConflict) || i >= 100 {
			break
		}
		c.ID = ""
	}
	a.Audit(ctx, "job.duplicate", j.Name, err == nil, c.Name)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// InputOf is the input that would recreate j as it is: references as ids.
// An update that starts from it changes only what it then sets.
func InputOf(j *backup.Job) JobInput {
	enabled := j.Enabled
	in := JobInput{
		Name: j.Name, Source: j.SourceID, Databases: slices.Clone(j.Databases),
		Compression: string(j.Compression), CompressionLevel: j.CompressionLevel, Profile: j.ProfileID,
		NamingTemplate: j.NamingTemplate, Schedule: j.Schedule, Enabled: &enabled,
		ExpectEvery: j.ExpectEvery, RemindEvery: j.RemindEvery, Timezone: j.Timezone, CatchUp: j.CatchUp,
		Retries: j.Retries, RetryBackoff: j.RetryBackoff, MaxDuration: j.MaxDuration, StallTimeout: j.StallTimeout,
		DrillEvery: j.DrillEvery, DrillSchedule: j.DrillSchedule, DrillTarget: j.DrillTargetID, ProvenWithin: j.ProvenWithin,
	}
	for _, d := range j.Destinations {
		in.Destinations = append(in.Destinations, JobDestInput{Destination: d.DestinationID, Policy: d.PolicyID, Retention: d.Retention})
	}
	for _, c := range j.Notifications {
		in.Notifications = append(in.Notifications, JobChannelInput{Channel: c.ChannelID, Outcomes: slices.Clone(c.Outcomes)})
	}
	return in
}
