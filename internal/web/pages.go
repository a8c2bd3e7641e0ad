package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/store"
)

// jobRow is one line of the jobs list.
type jobRow struct {
	Job    *backup.Job
	Source string
	Last   *backup.Execution
	Next   *time.Time
}

func (h *Handler) jobs(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	ctx := r.Context()
	jobs, err := h.app.Store.ListJobs(ctx)
	if err != nil {
		h.fail(w, err)
		return
	}
	var rows []jobRow
	for _, j := range jobs {
		row := jobRow{Job: j}
		if s, err := h.app.Store.Sources().Get(ctx, j.SourceID); err == nil {
			row.Source = s.Name
		}
		if last, _ := h.app.Store.ListExecutions(ctx, store.ExecutionFilter{JobID: j.ID, Limit: 1}); len(last) > 0 {
			row.Last = last[0]
		}
		if j.Schedule != "" && j.Enabled {
			if n, err := h.app.JobNextRuns(ctx, j.ID, 1); err == nil && len(n.Runs) > 0 {
				row.Next = &n.Runs[0]
			}
		}
		rows = append(rows, row)
	}
	h.page2(w, r, p, "jobs.html", "Jobs", map[string]any{"Jobs": rows})
}

// jobDuplicate copies a job, disabled, and shows the list.
func (h *Handler) jobDuplicate(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
	c, err := h.app.DuplicateJob(r.Context(), r.PathValue("ref"))
	if err != nil {
		h.fail(w, err)
		return
	}
	http.Redirect(w, r, "/jobs?created="+url.QueryEscape(c.Name), http.StatusSeeOther)
}

// jobRun queues a run (optionally locking its backup) and shows it.
func (h *Handler) jobRun(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
	e, err := h.app.StartJob(r.Context(), r.PathValue("ref"), backup.TriggerManual, r.PostFormValue("lock") == "on")
	if err != nil {
		h.fail(w, err)
		return
	}
	http.Redirect(w, r, "/executions/"+url.PathEscape(e.ID), http.StatusSeeOther)
}

func (h *Handler) jobEnable(enabled bool) func(http.ResponseWriter, *http.Request, *app.Principal) {
	return func(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
		if _, err := h.app.SetEnabled(r.Context(), r.PathValue("ref"), enabled); err != nil {
			h.fail(w, err)
			return
		}
		http.Redirect(w, r, "/jobs", http.StatusSeeOther)
	}
}

const historyPage = 50

// history lists executions, newest first, filtered and paginated.
func (h *Handler) history(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	ctx := r.Context()
	q := r.URL.Query()
	offset, _ := strconv.Atoi(q.Get("offset"))
	f := store.ExecutionFilter{Status: backup.Status(q.Get("status")), Limit: historyPage + 1, Offset: max(offset, 0)}
	if job := q.Get("job"); job != "" {
		j, err := h.app.Store.GetJob(ctx, job)
		if err != nil {
			h.fail(w, err)
			return
		}
		f.JobID = j.ID
	}
	list, err := h.app.Store.ListExecutions(ctx, f)
	if err != nil {
		h.fail(w, err)
		return
	}
	more := len(list) > historyPage
	if more {
		list = list[:historyPage]
	}
	next := url.Values{"job": {q.Get("job")}, "status": {q.Get("status")}, "offset": {strconv.Itoa(f.Offset + historyPage)}}
	prev := url.Values{"job": {q.Get("job")}, "status": {q.Get("status")}, "offset": {strconv.Itoa(max(f.Offset-historyPage, 0))}}
	h.page2(w, r, p, "history.html", "History", map[string]any{"Executions": list, "Job": q.Get("job"), "Status": q.Get("status"),
		"More": more, "Next": next.Encode(), "HasPrev": f.Offset > 0, "Prev": prev.Encode(),
		"Statuses": []backup.Status{backup.StatusQueued, backup.StatusRunning, backup.StatusSuccess, backup.StatusPartial, backup.StatusFailed, backup.StatusCancelled, backup.StatusSkipped}})
}

// stages of a backup, in order, as the execution view draws them.
var stages = []backup.Stage{backup.StageInitialize, backup.StageDump, backup.StageUpload, backup.StageVerify, backup.StageRetention, backup.StageComplete}

func (h *Handler) execution(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	ex, err := h.app.GetExecution(r.Context(), r.PathValue("id"), 0)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.page2(w, r, p, "execution.html", "Execution", map[string]any{"E": ex.Execution, "Logs": ex.Logs, "Stages": stages,
		"Done": ex.Status.Terminal(), "CanCancel": !ex.Status.Terminal() && p.Role.Allows("jobs.run")})
}

func (h *Handler) executionCancel(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
	if _, err := h.app.Cancel(r.Context(), r.PathValue("id")); err != nil {
		h.fail(w, err)
		return
	}
	http.Redirect(w, r, "/executions/"+url.PathEscape(r.PathValue("id")), http.StatusSeeOther)
}

// update is one Server-Sent Event of the execution view.
type update struct {
	Status      backup.Status       `json:"status"`
	Stage       backup.Stage        `json:"stage"`
	BytesDumped string              `json:"bytes_dumped"`
	BytesStored string              `json:"bytes_stored"`
	Error       string              `json:"error,omitempty"`
	Logs        []backup.LogEntry   `json:"logs"`
	Dests       []backup.DestResult `json:"destinations"`
	Done        bool                `json:"done"`
}

// events streams an execution's progress and new log lines as
// Server-Sent Events until it ends (or the browser goes away).
func (h *Handler) events(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	after, _ := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64)
	if after == 0 {
		after, _ = strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	}
	tick := time.NewTicker(400 * time.Millisecond)
	defer tick.Stop()
	for {
		ex, err := h.app.GetExecution(r.Context(), r.PathValue("id"), after)
		if err != nil {
			return
		}
		if n := len(ex.Logs); n > 0 {
			after = ex.Logs[n-1].Seq
		}
		u := update{Status: ex.Status, Stage: ex.Stage, BytesDumped: backup.HumanBytes(ex.BytesDumped), BytesStored: backup.HumanBytes(ex.BytesStored),
			Error: ex.Error, Logs: ex.Logs, Dests: ex.Destinations, Done: ex.Status.Terminal()}
		b, _ := json.Marshal(u)
		fmt.Fprintf(w, "id: %d\ndata: %s\n\n", after, b)
		flusher.Flush()
		if u.Done {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

func (h *Handler) fail(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case isErr(err, backup.ErrNotFound):
		status = http.StatusNotFound
	case isErr(err, backup.ErrInvalid), isErr(err, backup.ErrConflict):
		status = http.StatusBadRequest
	}
	http.Error(w, err.Error(), status)
}
