package app

import (
	"context"
	"fmt"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/catalog"
	"github.com/dbackup/dbackup/internal/notify"
	"github.com/dbackup/dbackup/internal/store"
)

// DrillRequest names a backup to drill and, optionally, where.
type DrillRequest struct {
	Destination string `json:"destination"` // id or name where the backup is
	Key         string `json:"key"`         // the backup's data (or sidecar) key
	// Target is a scratch source (id or name) to restore into; empty: the
	// job's drill target, else a throwaway server dbackup starts.
	Target  string         `json:"target,omitempty"`
	Trigger backup.Trigger `json:"-"`
}

// QueueDrill queues a drill of one backup; it runs like a backup, under
// the same concurrency limit. A backup whose drill is already queued or
// running gets a skipped record instead. Audited.
func (a *App) QueueDrill(ctx context.Context, req DrillRequest) (e *backup.Execution, err error) {
	defer func() { a.Audit(ctx, "backup.drill", req.Destination+":"+req.Key, err == nil, errText(err)) }()
	if req.Destination == "" || req.Key == "" {
		return nil, fmt.Errorf("%w: a drill needs destination and key (the backup)", backup.ErrInvalid)
	}
	ep, err := a.Store.Destinations().Get(ctx, req.Destination)
	if err != nil {
		return nil, err
	}
	m, err := a.BackupMeta(ctx, ep.ID, req.Key)
	if err != nil {
		return nil, err
	}
	drill := &backup.Drill{BackupCreatedAt: m.CreatedAt}
	job, _ := a.Store.GetJob(ctx, m.JobID)
	target := req.Target
	if target == "" && job != nil {
		target = job.DrillTargetID
	}
	if target != "" {
		t, err := a.Store.Sources().Get(ctx, target)
		if err != nil {
			return nil, fmt.Errorf("%w: drill target %q does not exist", backup.ErrInvalid, target)
		}
		if !t.Scratch {
			return nil, fmt.Errorf("%w: drill target %s is not marked as scratch: drills create and drop databases there", backup.ErrInvalid, t.Name)
		}
		drill.TargetID = t.ID
	}
	trigger := req.Trigger
	if trigger == "" {
		trigger = backup.TriggerManual
	}
	key := catalog.DataKey(req.Key)
	e = &backup.Execution{Kind: backup.KindDrill, Trigger: trigger, Stage: backup.StageQueued, CreatedAt: time.Now().UTC(),
		BackupName: key, Destinations: []backup.DestResult{{DestinationID: ep.ID, Name: ep.Name, Key: key}}, Drill: drill}
	if job != nil {
		e.JobID, e.JobName = job.ID, job.Name
	} else {
		e.JobName = m.JobName
	}
	if err := a.Store.Enqueue(ctx, e); err != nil {
		return nil, err
	}
	a.Queue.Wake()
	return e, nil
}

// Drill runs a drill in this process (the CLI's), as soon as the
// cluster-wide limit lets it start.
func (a *App) Drill(ctx context.Context, req DrillRequest) (*backup.Execution, error) {
	e, err := a.QueueDrill(ctx, req)
	if err != nil || e.Status.Terminal() {
		return e, err
	}
	return a.RunQueued(ctx, e)
}

// DrillNewest makes, without queuing it, the drill of a job's newest
// backup (a scheduled drill, queued by the leader with its schedule's
// mark).
func (a *App) DrillNewest(ctx context.Context, job *backup.Job) (*backup.Execution, error) {
	list, err := a.Store.ListExecutions(ctx, store.ExecutionFilter{JobID: job.ID, Kind: backup.KindBackup, Status: backup.StatusSuccess, Limit: 1})
	if err != nil {
		return nil, err
	}
	for _, e := range list {
		if d := drillOfBackup(job, e); d != nil {
			return d, nil
		}
	}
	return nil, fmt.Errorf("job %s has no successful backup to drill yet", job.Name)
}

// drillOfBackup is the drill of what backup execution e stored, at its
// first destination that has it, into the job's drill target; nil when it
// stored nothing. It reads nothing: the backup's sidecar is read when the
// drill runs.
func drillOfBackup(job *backup.Job, e *backup.Execution) *backup.Execution {
	for _, d := range e.Destinations {
		if d.Status == backup.StatusSuccess && d.Key != "" {
			return &backup.Execution{Kind: backup.KindDrill, JobID: job.ID, JobName: job.Name, Stage: backup.StageQueued, CreatedAt: time.Now().UTC(),
				BackupName: d.Key, Destinations: []backup.DestResult{{DestinationID: d.DestinationID, Name: d.Name, Key: d.Key}},
				Drill: &backup.Drill{TargetID: job.DrillTargetID}}
		}
	}
	return nil
}

// drillAfterBackup queues a drill of the backup e made when it is its
// job's DrillEvery-th successful backup since the job's last drill.
func (a *App) drillAfterBackup(ctx context.Context, job *backup.Job, e *backup.Execution) {
	if job.DrillEvery <= 0 || e.Status != backup.StatusSuccess {
		return
	}
	f := store.ExecutionFilter{JobID: job.ID, Kind: backup.KindBackup, Status: backup.StatusSuccess, Limit: job.DrillEvery}
	last, err := a.Store.LatestExecutions(ctx, backup.KindDrill, []string{job.ID})
	if err != nil {
		return
	}
	if d := last[job.ID]; d != nil {
		f.Since = d.CreatedAt
	}
	since, err := a.Store.ListExecutions(ctx, f)
	if err != nil || len(since) < job.DrillEvery {
		return
	}
	if d := drillOfBackup(job, e); d != nil {
		d.Trigger = backup.TriggerAfterBackup
		if err := a.Store.Enqueue(ctx, d); err != nil {
			a.Log.Warn("could not queue the drill after the backup", "job", job.Name, "err", err)
		}
		a.Queue.Wake()
	}
}

// drillEvent is the message for a finished drill.
func drillEvent(e *backup.Execution) notify.Event {
	title := map[backup.Status]string{backup.StatusSuccess: "Restore drill passed", backup.StatusSkipped: "Restore drill skipped",
		backup.StatusCancelled: "Restore drill cancelled"}[e.Status]
	if title == "" {
		title = "Restore drill failed"
	}
	ev := notify.Event{Kind: notify.KindDrill, Outcome: notify.Outcome(e.Status), Title: title + ": " + e.JobName, Message: e.Error,
		JobName: e.JobName, ExecutionID: e.ID, Time: time.Now().UTC(), Fields: []notify.Field{{Name: "Backup", Value: e.BackupName}}}
	if d := e.Drill; d != nil {
		if e.Status == backup.StatusSuccess {
			ev.Message = "Restored and counted: " + d.Summary() + "."
		}
		target := d.Target
		if d.ServerVersion != "" {
			target += " (" + d.ServerVersion + ")"
		}
		ev.Fields = append(ev.Fields, notify.Field{Name: "Restored into", Value: target, Inline: true},
			notify.Field{Name: "Backup made", Value: d.BackupCreatedAt.UTC().Format("2006-01-02 15:04 UTC"), Inline: true})
		for _, t := range d.Tables {
			if t.Found != t.Expected {
				ev.Fields = append(ev.Fields, notify.Field{Name: "Differs", Value: fmt.Sprintf("%s.%s: %s expected, %s found",
					t.Database, t.Table, backup.Thousands(t.Expected), backup.Thousands(t.Found))})
			}
		}
	}
	if e.Status == backup.StatusSkipped {
		ev.Outcome = notify.OutcomeCancelled
	}
	return ev
}

// CheckUnproven raises the recovery point alarm for every enabled job
// with an objective whose newest backup proven by a drill is older than
// it: once, then again each reminder interval, until a drill passes on a
// backup recent enough. It returns how many alarms it sent.
func (a *App) CheckUnproven(ctx context.Context, now time.Time) (int, error) {
	jobs, err := a.Store.ListJobs(ctx)
	if err != nil {
		return 0, err
	}
	var ids []string
	for _, j := range jobs {
		if j.ProvenWithin > 0 && j.Enabled {
			ids = append(ids, j.ID)
		}
	}
	points, err := a.Store.ProvenPoints(ctx, ids)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, job := range jobs {
		objective := time.Duration(job.ProvenWithin)
		if objective <= 0 || !job.Enabled {
			continue
		}
		last, since := job.CreatedAt, "the job was created (no backup of it has passed a drill)"
		if p, ok := points[job.ID]; ok {
			last, since = p, "the newest backup that passed a drill was made"
		}
		if now.Sub(last) <= objective {
			continue
		}
		remind := time.Duration(job.RemindEvery)
		if remind <= 0 {
			remind = 24 * time.Hour
		}
		// The gap began when the proven point became too old; one alarm
		// per gap, then one each reminder interval.
		if gap := last.Add(objective); job.ProvenAlarmAt != nil && !job.ProvenAlarmAt.Before(gap) && now.Sub(*job.ProvenAlarmAt) < remind {
			continue
		}
		if err := a.Store.MarkAlarm(ctx, job.ID, backup.KindDrill, now); err != nil {
			return sent, err
		}
		chs := a.jobChannels(ctx, job, string(backup.StatusFailed), "")
		if len(chs) == 0 {
			continue
		}
		at := last.In(a.Location).Format("2006-01-02 15:04 MST")
		a.deliver(notify.Event{Kind: notify.KindMissed, Outcome: notify.OutcomeFailed, Title: "Recovery point objective missed: " + job.Name,
			Message: fmt.Sprintf("No backup proven by a restore drill within %s: %s %s (%s ago).", objective, since, at, now.Sub(last).Round(time.Minute)),
			JobName: job.Name, Time: now.UTC(),
			Fields: []notify.Field{{Name: "Job", Value: job.Name}, {Name: "Objective", Value: "a proven backup no older than " + objective.String()},
				{Name: "Newest proven backup", Value: at}}}, chs)
		sent++
	}
	return sent, nil
}

// JobRecovery is what drills proved of one job: the newest backup that
// passed one (a recovery point proven, not assumed), the last measured
// restore time, the last drill.
type JobRecovery struct {
	JobID   string `json:"job_id"`
	JobName string `json:"job_name"`
	// ProvenAt is when the newest backup that passed a drill was made;
	// nil: none has.
	ProvenAt *time.Time `json:"proven_at,omitempty"`
	// ProvenWithin is the job's objective (0: none); Missed says the
	// proven point is older than it.
	ProvenWithin backup.Duration `json:"proven_within,omitempty"`
	Missed       bool            `json:"missed"`
	// LastDrill is the newest drill of the job, with its restore time.
	LastDrill *DrillResult `json:"last_drill,omitempty"`
}

// Recovery lists, for every job that drills or has a recovery point
// objective or was ever drilled, what drills proved, by job name.
func (a *App) Recovery(ctx context.Context) ([]JobRecovery, error) {
	jobs, err := a.Store.DrillJobs(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	points, err := a.Store.ProvenPoints(ctx, ids)
	if err != nil {
		return nil, err
	}
	last, err := a.Store.LatestExecutions(ctx, backup.KindDrill, ids)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := []JobRecovery{}
	for _, j := range jobs {
		r := JobRecovery{JobID: j.ID, JobName: j.Name, ProvenWithin: j.ProvenWithin, LastDrill: drillResult(last[j.ID])}
		if p, ok := points[j.ID]; ok {
			r.ProvenAt = &p
		}
		r.Missed = j.ProvenWithin > 0 && (r.ProvenAt == nil || now.Sub(*r.ProvenAt) > time.Duration(j.ProvenWithin))
		out = append(out, r)
	}
	return out, nil
}
