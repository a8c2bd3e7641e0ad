package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/dbackup/dbackup/internal/auth"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/queue"
	"github.com/dbackup/dbackup/internal/schedule"
	"github.com/dbackup/dbackup/internal/store"
)

// JobSummary is a job as a list shows it: with the names of what it
// connects, its newest run, its next scheduled run and its state.
type JobSummary struct {
	*backup.Job
	Source    string            `json:"source_name"`
	DestNames []string          `json:"destination_names"`
	Words     string            `json:"schedule_words,omitempty"` // the schedule in words
	Last      *backup.Execution `json:"last_run"`
	Next      *time.Time        `json:"next_run"`
	State     string            `json:"state"` // Active, Disabled, Running, Failed or Partial
}

// SummarizeJobs builds the summaries of jobs in a fixed number of queries
// whatever their number: sources, destinations, the newest execution of
// each job.
func (a *App) SummarizeJobs(ctx context.Context, jobs []*backup.Job) ([]JobSummary, error) {
	names := map[string]string{}
	for _, es := range []store.Endpoints{a.Store.Sources(), a.Store.Destinations()} {
		list, err := es.List(ctx)
		if err != nil {
			return nil, err
		}
		for _, e := range list {
			names[e.ID] = e.Name
		}
	}
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	latest, err := a.Store.LatestExecutions(ctx, backup.KindBackup, ids)
	if err != nil {
		return nil, err
	}
	zone, now := a.Queue.Zone(ctx), time.Now()
	out := make([]JobSummary, 0, len(jobs))
	for _, j := range jobs {
		s := JobSummary{Job: j, Source: names[j.SourceID], DestNames: []string{}, Last: latest[j.ID], State: JobState(j, latest[j.ID])}
		for _, d := range j.Destinations {
			s.DestNames = append(s.DestNames, names[d.DestinationID])
		}
		if j.Schedule != "" {
			loc := queue.JobZone(j, zone)
			// The words are in the schedule's own zone: say which.
			s.Words = schedule.Describe(j.Schedule) + " (" + loc.String() + ")"
			if c, err := schedule.Parse(j.Schedule); err == nil && j.Enabled {
				next := c.Next(now, loc)
				s.Next = &next
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// JobState is a job's badge: running while an execution is, else disabled,
// else what its last run says.
func JobState(j *backup.Job, last *backup.Execution) string {
	switch {
	case last != nil && (last.Status == backup.StatusRunning || last.Status == backup.StatusQueued):
		return "Running"
	case !j.Enabled:
		return "Disabled"
	case last != nil && last.Status == backup.StatusFailed:
		return "Failed"
	case last != nil && last.Status == backup.StatusPartial:
		return "Partial"
	}
	return "Active"
}

// BulkResult is what a bulk action did to one job.
type BulkResult struct {
	Job       string            `json:"job"`
	OK        bool              `json:"ok"`
	Error     string            `json:"error,omitempty"`
	Execution *backup.Execution `json:"execution,omitempty"` // action run
}

// BulkJobs enables, disables, deletes or runs several jobs, each on its
// own: one that fails does not stop the others. Deleting needs the
// configure permission, the others the run permission.
func (a *App) BulkJobs(ctx context.Context, action string, refs []string) ([]BulkResult, error) {
	switch action {
	case "enable", "disable", "run":
	case "delete":
		if p := PrincipalFrom(ctx); p != nil && !p.Role.Allows(auth.Configure) {
			return nil, fmt.Errorf("%w: deleting jobs needs the %s permission", ErrForbidden, auth.Configure)
		}
	default:
		return nil, fmt.Errorf("%w: action %q (want enable, disable, delete or run)", backup.ErrInvalid, action)
	}
	if len(refs) == 0 || len(refs) > 1000 {
		return nil, fmt.Errorf("%w: name from 1 to 1000 jobs", backup.ErrInvalid)
	}
	out := make([]BulkResult, 0, len(refs))
	for _, ref := range refs {
		r := BulkResult{Job: ref}
		var err error
		switch action {
		case "enable", "disable":
			_, err = a.SetEnabled(ctx, ref, action == "enable")
		case "delete":
			err = a.DeleteJob(ctx, ref)
		case "run":
			r.Execution, err = a.StartJob(ctx, ref, backup.TriggerAPI, false)
		}
		if action != "run" {
			a.Audit(ctx, "job."+action, ref, err == nil, "bulk "+errText(err))
		}
		r.OK, r.Error = err == nil, errText(err)
		out = append(out, r)
	}
	return out, nil
}

// PatchJob changes only the settings patch names: patch is a JSON object
// of JobInput fields applied over the job as it is.
func (a *App) PatchJob(ctx context.Context, ref string, patch []byte) (*backup.Job, error) {
	j, err := a.Store.GetJob(ctx, ref)
	if err != nil {
		return nil, err
	}
	// Top-level merge: each field given replaces the job's whole value.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(patch, &fields); err != nil {
		return nil, fmt.Errorf("%w: invalid JSON body: %v", backup.ErrInvalid, err)
	}
	cur, err := json.Marshal(InputOf(j))
	if err != nil {
		return nil, err
	}
	merged := map[string]json.RawMessage{}
	json.Unmarshal(cur, &merged)
	maps.Copy(merged, fields)
	body, _ := json.Marshal(merged)
	var in JobInput
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("%w: invalid JSON body: %v", backup.ErrInvalid, err)
	}
	return a.UpdateJob(ctx, j.ID, in)
}
