package app

import (
	"context"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/metrics"
)

// metricsState reads what a scrape reports of the whole installation, in
// a fixed number of queries whatever the number of jobs.
func (a *App) metricsState(ctx context.Context) (metrics.State, error) {
	var st metrics.State
	var err error
	if st.Queued, st.Running, err = a.Store.CountActive(ctx); err != nil {
		return st, err
	}
	jobs, err := a.Store.ListJobs(ctx)
	if err != nil {
		return st, err
	}
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	last, err := a.Store.LatestExecutions(ctx, backup.KindBackup, ids)
	if err != nil {
		return st, err
	}
	drills, err := a.Store.LatestExecutions(ctx, backup.KindDrill, ids)
	if err != nil {
		return st, err
	}
	ok, err := a.Store.LastSuccesses(ctx, backup.KindBackup)
	if err != nil {
		return st, err
	}
	drillOK, err := a.Store.LastSuccesses(ctx, backup.KindDrill)
	if err != nil {
		return st, err
	}
	final := func(e *backup.Execution) backup.Status {
		if e == nil || !e.Status.Terminal() {
			return ""
		}
		return e.Status
	}
	for _, j := range jobs {
		st.Jobs = append(st.Jobs, metrics.JobState{Name: j.Name, LastStatus: final(last[j.ID]), LastSuccess: ok[j.ID],
			LastDrillStatus: final(drills[j.ID]), LastDrillSuccess: drillOK[j.ID]})
	}
	dests, err := a.Store.Destinations().List(ctx)
	if err != nil {
		return st, err
	}
	usage, err := a.StorageUsage(ctx, dests)
	if err != nil {
		return st, err
	}
	for _, d := range dests {
		ds := metrics.DestState{Name: d.Name}
		if u := usage[d.ID]; u != nil {
			ds.Checked, ds.Up, ds.UsedBytes, ds.Backups = u.At, u.Error == "", u.Bytes, u.Backups
		}
		st.Destinations = append(st.Destinations, ds)
	}
	return st, nil
}
