package web

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/queue"
	"github.com/dbackup/dbackup/internal/schedule"
	"github.com/dbackup/dbackup/internal/store"
)

// running is one execution under way, with its progress measured against
// the job's last successful run (the only size estimate there is).
type running struct {
	E        *backup.Execution
	Expected int64 // bytes the last successful run dumped; 0: unknown
	Rate     string
}

// nextRun is a scheduled run on the dashboard.
type nextRun struct {
	Name  string
	At    time.Time
	Words string
}

// index is the dashboard: counts by status, what runs now, next runs, last
// failures, storage used per destination and a year of runs as a heatmap.
func (h *Handler) index(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	ctx := r.Context()
	scheduled, err := h.app.Store.ListSchedules(ctx)
	if err != nil {
		h.fail(w, err)
		return
	}
	_, jobCount, err := h.app.Store.FindJobs(ctx, store.JobFilter{Limit: 1})
	if err != nil {
		h.fail(w, err)
		return
	}
	zone := h.app.Queue.Zone(ctx)
	now := time.Now()
	first, today, offset := span(zone)
	days, err := h.days(ctx, first, today, offset)
	if err != nil {
		h.fail(w, err)
		return
	}
	counts := map[string]int{}
	monthAgo := today.AddDate(0, 0, -30)
	for _, d := range days {
		if !d.Day.Before(monthAgo) {
			counts[string(d.Status)] += d.Count
		}
	}
	var live []running
	for _, st := range []backup.Status{backup.StatusRunning, backup.StatusQueued} {
		list, err := h.app.Store.ListExecutions(ctx, store.ExecutionFilter{Status: st, Limit: 20})
		if err != nil {
			h.fail(w, err)
			return
		}
		for _, e := range list {
			live = append(live, h.progress(r, e))
		}
	}
	failures, err := h.app.Store.ListExecutions(ctx, store.ExecutionFilter{Status: backup.StatusFailed, Limit: 5})
	if err != nil {
		h.fail(w, err)
		return
	}
	var next []nextRun
	for _, j := range scheduled {
		if s, err := schedule.Parse(j.Schedule); err == nil {
			next = append(next, nextRun{Name: j.Name, At: s.Next(now, queue.JobZone(&backup.Job{Timezone: j.Timezone}, zone)), Words: schedule.Describe(j.Schedule)})
		}
	}
	slices.SortFunc(next, func(a, b nextRun) int { return a.At.Compare(b.At) })
	dests, err := h.app.Store.Destinations().List(ctx)
	if err != nil {
		h.fail(w, err)
		return
	}
	usage, err := h.app.StorageUsage(ctx, dests)
	if err != nil {
		h.fail(w, err)
		return
	}
	recovery, err := h.app.Recovery(ctx)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.page2(w, r, p, "index.html", "Dashboard", map[string]any{"Jobs": jobCount, "Counts": counts, "Live": live, "Recovery": recovery,
		"Next": next[:min(len(next), 5)], "Failures": failures, "Dests": dests, "Usage": usage,
		"Heatmap": heatmap(days, first, today), "Msg": h.takeFlash(w, r)})
}

// pastDays caches the per-day counts of settled days: a year of history
// is counted once (at start, in the background), then one more day at a
// time; only the last few days are counted on every view.
type pastDays struct {
	mu     sync.Mutex
	offset int
	until  time.Time        // the days before it are counted
	days   []store.DayCount // in days order
}

// settledAfter is how long a day's counts may still change: a run queued
// before midnight can end after it.
const settledAfter = 2 // days

// span is the heatmap's days in a zone: from a Sunday 53 weeks back to
// today, with the zone's offset (seconds east of UTC).
func span(zone *time.Location) (first, today time.Time, offset int) {
	now := time.Now().In(zone)
	_, offset = now.Zone()
	today = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	return today.AddDate(0, 0, -7*52-int(today.Weekday())), today, offset
}

// days returns the per-day counts from first to today.
func (h *Handler) days(ctx context.Context, first, today time.Time, offset int) ([]store.DayCount, error) {
	shift := time.Duration(offset) * time.Second
	live := today.AddDate(0, 0, -settledAfter)
	h.past.mu.Lock()
	if h.past.offset != offset || h.past.until.IsZero() || h.past.until.Before(first) {
		h.past.days, h.past.until, h.past.offset = nil, first, offset
	}
	if h.past.until.Before(live) {
		more, err := h.app.Store.ExecutionDays(ctx, h.past.until.Add(-shift), offset)
		if err != nil {
			h.past.mu.Unlock()
			return nil, err
		}
		h.past.days = append(h.past.days, slices.DeleteFunc(more, func(d store.DayCount) bool { return !d.Day.Before(live) })...)
		h.past.until = live
	}
	h.past.days = slices.DeleteFunc(h.past.days, func(d store.DayCount) bool { return d.Day.Before(first) })
	past := slices.Clone(h.past.days)
	h.past.mu.Unlock()
	recent, err := h.app.Store.ExecutionDays(ctx, live.Add(-shift), offset)
	if err != nil {
		return nil, err
	}
	return append(past, recent...), nil
}

// progress measures a running execution against its job's last success.
func (h *Handler) progress(r *http.Request, e *backup.Execution) running {
	out := running{E: e}
	if e.JobID != "" {
		ok, _ := h.app.Store.ListExecutions(r.Context(), store.ExecutionFilter{JobID: e.JobID, Kind: e.Kind, Status: backup.StatusSuccess, Limit: 1})
		if len(ok) > 0 {
			out.Expected = ok[0].BytesDumped
		}
	}
	out.Rate = rate(e)
	return out
}

// rate is an execution's average throughput so far (or over its run).
func rate(e *backup.Execution) string {
	if e.StartedAt == nil {
		return ""
	}
	end := time.Now()
	if e.EndedAt != nil {
		end = *e.EndedAt
	}
	if secs := end.Sub(*e.StartedAt).Seconds(); secs > 0.5 {
		return backup.HumanBytes(int64(float64(e.BytesDumped)/secs)) + "/s"
	}
	return ""
}

// usagePost lists every destination again to refresh the storage figures.
func (h *Handler) usagePost(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
	h.back(w, r, "/", "storage use refreshed", "refresh failed", h.app.RefreshUsage(r.Context()))
}

// heatmap draws a year of backups as SVG, one square per day, a column
// per week (Sunday on top): grey without runs, green with successes only
// (darker for several), red with failures only, amber with both.
func heatmap(days []store.DayCount, first, last time.Time) template.HTML {
	type tally struct{ ok, bad int }
	by := map[time.Time]*tally{}
	for _, d := range days {
		t := by[d.Day]
		if t == nil {
			t = &tally{}
			by[d.Day] = t
		}
		switch d.Status {
		case backup.StatusSuccess:
			t.ok += d.Count
		case backup.StatusFailed, backup.StatusPartial:
			t.bad += d.Count
		}
	}
	const cell, gap, left, top = 10, 2, 28, 14
	weeks := int(last.Sub(first).Hours()/24)/7 + 1
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="heatmap" role="img" aria-label="backups per day over the last year" viewBox="0 0 %d %d" width="%d" height="%d">`,
		left+weeks*(cell+gap), top+7*(cell+gap), left+weeks*(cell+gap), top+7*(cell+gap))
	for i, name := range []string{"", "Mon", "", "Wed", "", "Fri", ""} {
		if name != "" {
			fmt.Fprintf(&b, `<text x="0" y="%d">%s</text>`, top+i*(cell+gap)+cell-1, name)
		}
	}
	for d, i := first, 0; !d.After(last); d, i = d.AddDate(0, 0, 1), i+1 {
		week, dow := i/7, int(d.Weekday())
		x, y := left+week*(cell+gap), top+dow*(cell+gap)
		if d.Day() == 1 {
			fmt.Fprintf(&b, `<text x="%d" y="10">%s</text>`, x, d.Format("Jan"))
		}
		t := by[d]
		class, title := "d0", d.Format("Mon 2 Jan 2006")+": no backup"
		if t != nil && t.ok+t.bad > 0 {
			title = fmt.Sprintf("%s: %d succeeded, %d failed", d.Format("Mon 2 Jan 2006"), t.ok, t.bad)
			switch {
			case t.bad > 0 && t.ok > 0:
				class = "mixed"
			case t.bad > 0:
				class = "bad"
			case t.ok > 1:
				class = "ok2"
			default:
				class = "ok1"
			}
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" rx="2" class="%s" data-day="%s"><title>%s</title></rect>`,
			x, y, cell, cell, class, d.Format("2006-01-02"), title)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // only numbers, dates and fixed words: nothing from a user
}
