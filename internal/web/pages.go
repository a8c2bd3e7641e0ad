package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"time"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/auth"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/store"
)

const jobsPage = 100

// jobs lists the jobs a page at a time, searched by name.
func (h *Handler) jobs(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	q := r.URL.Query()
	offset, _ := strconv.Atoi(q.Get("offset"))
	offset = max(offset, 0)
	jobs, total, err := h.app.Store.FindJobs(r.Context(), store.JobFilter{Name: q.Get("q"), Limit: jobsPage, Offset: offset})
	if err != nil {
		h.fail(w, err)
		return
	}
	rows, err := h.app.SummarizeJobs(r.Context(), jobs)
	if err != nil {
		h.fail(w, err)
		return
	}
	keep := url.Values{"q": {q.Get("q")}}
	at := func(off int) template.URL { return pageAt(keep, off) }
	h.page2(w, r, p, "jobs.html", "Jobs", map[string]any{"Jobs": rows, "Q": q.Get("q"), "Total": total, "From": offset + 1, "To": offset + len(rows),
		"HasPrev": offset > 0, "Prev": at(max(offset-jobsPage, 0)), "More": offset+len(rows) < total, "Next": at(offset + jobsPage),
		"Created": q.Get("created"), "Saved": q.Get("saved"), "Deleted": q.Get("deleted")})
}

// jobDelete deletes a job; its backups and history stay.
func (h *Handler) jobDelete(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
	j, err := h.app.Store.GetJob(r.Context(), r.PathValue("ref"))
	if err == nil {
		err = h.app.DeleteJob(r.Context(), j.ID)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	h.app.Audit(r.Context(), "job.delete", j.Name, true, "web")
	http.Redirect(w, r, "/jobs?deleted="+url.QueryEscape(j.Name), http.StatusSeeOther)
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

// history lists executions, filtered (job, status, kind, trigger, days),
// sorted (time either way, duration, size) and paginated.
func (h *Handler) history(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	ctx := r.Context()
	q := r.URL.Query()
	offset, _ := strconv.Atoi(q.Get("offset"))
	f := store.ExecutionFilter{Status: backup.Status(q.Get("status")), Kind: backup.Kind(q.Get("kind")), Trigger: backup.Trigger(q.Get("trigger")),
		Limit: historyPage + 1, Offset: max(offset, 0)}
	errs := map[string]string{}
	if sort, err := store.ParseExecutionSort(q.Get("sort")); err != nil {
		errs["sort"] = "newest, oldest, longest or largest"
	} else {
		f.Sort = sort
	}
	zone := h.app.Queue.Zone(ctx)
	for _, d := range []struct {
		field string
		dst   *time.Time
		add   int
	}{{"from", &f.Since, 0}, {"to", &f.Until, 1}} {
		if v := q.Get(d.field); v != "" {
			t, err := time.ParseInLocation("2006-01-02", v, zone)
			if err != nil {
				errs[d.field] = "a date like 2026-01-31"
				continue
			}
			*d.dst = t.AddDate(0, 0, d.add)
		}
	}
	if job := q.Get("job"); job != "" {
		j, err := h.app.Store.GetJob(ctx, job)
		if err != nil {
			errs["job"] = "no job " + strconv.Quote(job)
			f.JobID = "-"
		} else {
			f.JobID = j.ID
		}
	}
	var list []*backup.Execution
	if len(errs) == 0 {
		var err error
		if list, err = h.app.Store.ListExecutions(ctx, f); err != nil {
			h.fail(w, err)
			return
		}
	}
	more := len(list) > historyPage
	if more {
		list = list[:historyPage]
	}
	keep := url.Values{}
	for _, k := range []string{"job", "status", "kind", "trigger", "from", "to", "sort"} {
		keep.Set(k, q.Get(k))
	}
	at := func(off int) template.URL { return pageAt(keep, off) }
	// The sortable columns' headers: a link to the column's sort (the time
	// column's goes the other way when it is the current one).
	created, dir := store.SortNewest, "descending"
	switch f.Sort {
	case store.SortNewest:
		created = store.SortOldest
	case store.SortOldest:
		dir = "ascending"
	}
	headers := []struct {
		Label  string
		Href   template.URL
		Sorted bool
		Dir    string
	}{
		{"Created", link(keep, "sort", string(created)), f.Sort == store.SortNewest || f.Sort == store.SortOldest, dir},
		{"Duration", link(keep, "sort", string(store.SortLongest)), f.Sort == store.SortLongest, "descending"},
		{"Stored", link(keep, "sort", string(store.SortLargest)), f.Sort == store.SortLargest, "descending"},
	}
	h.page2(w, r, p, "history.html", "History", map[string]any{"Executions": list, "Q": q, "Errors": errs,
		"Headers": headers, "Sorts": []struct{ Value, Label string }{{"", "newest first"}, {"oldest", "oldest first"}, {"longest", "longest first"}, {"largest", "largest first"}},
		"More": more, "Next": at(f.Offset + historyPage), "HasPrev": f.Offset > 0, "Prev": at(max(f.Offset-historyPage, 0)),
		"From": f.Offset + 1, "To": f.Offset + len(list), "Kinds": []string{"backup", "restore", "drill"},
		"Statuses": []backup.Status{backup.StatusQueued, backup.StatusRunning, backup.StatusSuccess, backup.StatusPartial, backup.StatusFailed, backup.StatusCancelled, backup.StatusSkipped},
		"Triggers": []backup.Trigger{backup.TriggerManual, backup.TriggerSchedule, backup.TriggerAPI, backup.TriggerRetry, backup.TriggerCatchUp, backup.TriggerAfterBackup}})
}

// stages of each kind of run, in order, as the execution view draws them.
var stages = map[backup.Kind][]backup.Stage{
	backup.KindBackup:  {backup.StageInitialize, backup.StageDump, backup.StageUpload, backup.StageVerify, backup.StageRetention, backup.StageComplete},
	backup.KindRestore: {backup.StageInitialize, backup.StageVerify, backup.StageRestore, backup.StageComplete},
	backup.KindDrill:   {backup.StageInitialize, backup.StageServer, backup.StageRestore, backup.StageComplete},
}

func (h *Handler) execution(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	ex, err := h.app.GetExecution(r.Context(), r.PathValue("id"), 0)
	if err != nil {
		h.fail(w, err)
		return
	}
	data := map[string]any{"E": ex.Execution, "P": h.progress(r, ex.Execution), "Logs": ex.Logs, "Stages": stages[ex.Kind],
		"Done": ex.Status.Terminal(), "CanCancel": !ex.Status.Terminal() && p.Role.Allows("jobs.run"), "CanRestore": p.Role.Allows(auth.Restore),
		"Title": executionTitle(ex.Execution)}
	if ex.StartedAt != nil && ex.EndedAt != nil {
		data["Took"] = ex.EndedAt.Sub(*ex.StartedAt).Round(time.Second).String()
	}
	// Where the backup this run made can be found (the first good copy).
	for _, d := range ex.Destinations {
		if ex.Kind == backup.KindBackup && d.Status == backup.StatusSuccess && d.Key != "" {
			data["Copy"] = d
			break
		}
	}
	data["CanRetry"] = ex.Kind == backup.KindBackup && ex.JobID != "" && ex.Status.Terminal() && ex.Status != backup.StatusSuccess
	h.page2(w, r, p, "execution.html", "History", data)
}

// executionTitle names a run for its page: "nightly backup", "restore
// of shop_2026-12-01.dump.zst".
func executionTitle(e *backup.Execution) string {
	switch {
	case e.Kind == backup.KindRestore:
		return "Restore of " + path.Base(e.BackupName)
	case e.JobName != "":
		return e.JobName + " " + string(e.Kind)
	}
	return string(e.Kind)
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
	Dumped      int64               `json:"dumped"`
	Rate        string              `json:"rate"`
	Error       string              `json:"error,omitempty"`
	Logs        []logLine           `json:"logs"`
	Dests       []backup.DestResult `json:"destinations"`
	Done        bool                `json:"done"`
	Explain     string              `json:"explain,omitempty"`
}

// logLine is a log entry as the live view prints it: its time already
// in the scheduler time zone, like the lines the page started with.
type logLine struct {
	Seq     int64        `json:"seq"`
	At      string       `json:"at"`
	Level   backup.Level `json:"level"`
	Stage   backup.Stage `json:"stage"`
	Message string       `json:"message"`
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
			Dumped: ex.BytesDumped, Rate: rate(ex.Execution),
			Error: ex.Error, Explain: backup.Explain(ex.Error), Logs: []logLine{}, Dests: ex.Destinations, Done: ex.Status.Terminal()}
		for _, l := range ex.Logs {
			u.Logs = append(u.Logs, logLine{Seq: l.Seq, At: l.Time.In(h.zone.Load()).Format(timeLayout), Level: l.Level, Stage: l.Stage, Message: l.Message})
		}
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
	case isErr(err, backup.ErrInvalid), isErr(err, backup.ErrConflict), isErr(err, dest.ErrBadKey):
		status = http.StatusBadRequest
	case isErr(err, app.ErrForbidden):
		status = http.StatusForbidden
	case isErr(err, backup.ErrUntrusted):
		status = http.StatusUnprocessableEntity
	}
	http.Error(w, err.Error(), status)
}
