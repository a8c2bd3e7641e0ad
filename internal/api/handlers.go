package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/httpsec"
	"github.com/dbackup/dbackup/internal/runner"
	"github.com/dbackup/dbackup/internal/secret"
	"github.com/dbackup/dbackup/internal/store"
)

func (h *Handler) health(w http.ResponseWriter, r *http.Request) {
	if _, _, err := h.app.Store.GetSetting(r.Context(), "health"); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": h.app.Version()})
}

func (h *Handler) types(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string][]string{"sources": h.app.Sources.Types(), "destinations": h.app.Dests.Types(), "channels": h.app.Channels.Types()})
}

func (h *Handler) endpointList(k app.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		list, err := h.app.ListEndpoints(r.Context(), k)
		if err != nil {
			fail(w, err)
			return
		}
		out := make([]app.EndpointView, 0, len(list))
		for _, e := range list {
			out = append(out, app.View(e))
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func (h *Handler) endpointCreate(k app.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in app.EndpointInput
		if !decode(w, r, &in) {
			return
		}
		e, err := h.app.CreateEndpoint(r.Context(), k, in)
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, app.View(e))
	}
}

func (h *Handler) endpointGet(k app.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		e, err := h.app.GetEndpoint(r.Context(), k, r.PathValue("ref"))
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, app.View(e))
	}
}

func (h *Handler) endpointUpdate(k app.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in app.EndpointInput
		if !decode(w, r, &in) {
			return
		}
		e, err := h.app.UpdateEndpoint(r.Context(), k, r.PathValue("ref"), in)
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, app.View(e))
	}
}

func (h *Handler) endpointDelete(k app.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h.app.DeleteEndpoint(r.Context(), k, r.PathValue("ref")); err != nil {
			fail(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (h *Handler) endpointTest(k app.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		res, err := h.app.TestEndpoint(r.Context(), k, r.PathValue("ref"), r.URL.Query().Get("write") == "true")
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

func (h *Handler) backupList(w http.ResponseWriter, r *http.Request) {
	list, err := h.app.ListBackups(r.Context(), r.PathValue("ref"), r.URL.Query().Get("job"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (h *Handler) backupVerify(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Key string `json:"key"`
	}
	if !decode(w, r, &in) {
		return
	}
	m, err := h.app.VerifyBackup(r.Context(), r.PathValue("ref"), in.Key)
	if err != nil {
		if m == nil {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"key": in.Key, "passed": false, "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"key": in.Key, "passed": true, "authenticated": m.Encryption != nil})
}

func (h *Handler) profileList(w http.ResponseWriter, r *http.Request) {
	list, err := h.app.Store.ListProfiles(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	out := make([]app.ProfileView, 0, len(list))
	for _, p := range list {
		out = append(out, app.ViewProfile(p))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) profileCreate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
		// Key imports an existing 64-hex-digit key; empty generates one.
		Key string `json:"key"`
	}
	if !decode(w, r, &in) {
		return
	}
	p, err := h.app.CreateProfile(r.Context(), in.Name, in.Key)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, app.ViewProfile(p))
}

func (h *Handler) profileGet(w http.ResponseWriter, r *http.Request) {
	p, err := h.app.Store.GetProfile(r.Context(), r.PathValue("ref"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, app.ViewProfile(p))
}

func (h *Handler) profileDelete(w http.ResponseWriter, r *http.Request) {
	if err := h.app.DeleteProfile(r.Context(), r.PathValue("ref")); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) jobList(w http.ResponseWriter, r *http.Request) {
	jobs, err := h.app.Store.ListJobs(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	list, err := h.app.SummarizeJobs(r.Context(), jobs)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (h *Handler) jobPatch(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid body: "+err.Error())
		return
	}
	j, err := h.app.PatchJob(r.Context(), r.PathValue("ref"), body)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

func (h *Handler) jobClone(w http.ResponseWriter, r *http.Request) {
	j, err := h.app.DuplicateJob(r.Context(), r.PathValue("ref"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, j)
}

func (h *Handler) jobBulk(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Action string   `json:"action"`
		Jobs   []string `json:"jobs"`
	}
	if !decode(w, r, &in) {
		return
	}
	res, err := h.app.BulkJobs(r.Context(), in.Action, in.Jobs)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (h *Handler) jobCreate(w http.ResponseWriter, r *http.Request) {
	var in app.JobInput
	if !decode(w, r, &in) {
		return
	}
	j, err := h.app.CreateJob(r.Context(), in)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, j)
}

func (h *Handler) jobGet(w http.ResponseWriter, r *http.Request) {
	j, err := h.app.Store.GetJob(r.Context(), r.PathValue("ref"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

func (h *Handler) jobUpdate(w http.ResponseWriter, r *http.Request) {
	var in app.JobInput
	if !decode(w, r, &in) {
		return
	}
	j, err := h.app.UpdateJob(r.Context(), r.PathValue("ref"), in)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

func (h *Handler) jobDelete(w http.ResponseWriter, r *http.Request) {
	if err := h.app.DeleteJob(r.Context(), r.PathValue("ref")); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) jobRun(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Lock bool `json:"lock"`
	}
	if r.ContentLength != 0 && !decode(w, r, &in) {
		return
	}
	e, err := h.app.StartJob(r.Context(), r.PathValue("ref"), backup.TriggerAPI, in.Lock)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, e)
}

func (h *Handler) executionList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	offset, _ := strconv.Atoi(q.Get("offset"))
	sort, err := store.ParseExecutionSort(q.Get("sort"))
	if err != nil {
		fail(w, err)
		return
	}
	list, err := h.app.ListExecutions(r.Context(), store.ExecutionFilter{JobID: q.Get("job"), Status: backup.Status(q.Get("status")),
		Kind: backup.Kind(q.Get("kind")), Trigger: backup.Trigger(q.Get("trigger")), Sort: sort, Limit: min(max(limit, 0), 1000), Offset: max(offset, 0)})
	if err != nil {
		fail(w, err)
		return
	}
	if list == nil {
		list = []*backup.Execution{}
	}
	writeJSON(w, http.StatusOK, list)
}

func (h *Handler) executionGet(w http.ResponseWriter, r *http.Request) {
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	e, err := h.app.GetExecution(r.Context(), r.PathValue("id"), after)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

func (h *Handler) executionCancel(w http.ResponseWriter, r *http.Request) {
	e, err := h.app.Cancel(r.Context(), r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, e)
}

// restoreRequest reads a restore request, with a key given by hand.
func restoreRequest(w http.ResponseWriter, r *http.Request) (runner.RestoreRequest, bool) {
	var in struct {
		runner.RestoreRequest
		// Key given by hand (64 hex digits) when no profile holds it.
		EncryptionKey string `json:"encryption_key"`
	}
	if !decode(w, r, &in) {
		return in.RestoreRequest, false
	}
	req := in.RestoreRequest
	if in.EncryptionKey != "" {
		k, err := secret.ParseKey(in.EncryptionKey)
		if err != nil {
			writeError(w, http.StatusBadRequest, "encryption_key: "+err.Error())
			return req, false
		}
		req.MasterKey = k
	}
	req.Trigger = backup.TriggerAPI
	return req, true
}

func (h *Handler) restoreStart(w http.ResponseWriter, r *http.Request) {
	req, ok := restoreRequest(w, r)
	if !ok {
		return
	}
	e, err := h.app.StartRestore(r.Context(), req)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, e)
}

// restorePreflight runs a restore's checks, including the full read
// against the checksum, and writes nothing.
func (h *Handler) restorePreflight(w http.ResponseWriter, r *http.Request) {
	req, ok := restoreRequest(w, r)
	if !ok {
		return
	}
	lines, err := h.app.PreflightRestore(r.Context(), req)
	out := struct {
		OK     bool     `json:"ok"`
		Checks []string `json:"checks"`
		Error  string   `json:"error,omitempty"`
	}{OK: err == nil, Checks: append([]string{}, lines...)}
	if err != nil {
		out.Error = err.Error()
	}
	writeJSON(w, http.StatusOK, out)
}

// backupDownload streams a backup: the stored bytes, or with plain=1 the
// decrypted, decompressed dump.
func (h *Handler) backupDownload(w http.ResponseWriter, r *http.Request) {
	dl, err := h.app.OpenDownload(r.Context(), r.PathValue("ref"), r.URL.Query().Get("key"), r.URL.Query().Get("plain") == "1")
	if err != nil {
		fail(w, err)
		return
	}
	httpsec.ServeDownload(w, dl.Name, dl, h.app.Log)
}

func (h *Handler) backupLink(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Key   string          `json:"key"`
		Plain bool            `json:"plain"`
		TTL   backup.Duration `json:"ttl"`
	}
	if !decode(w, r, &in) {
		return
	}
	l, err := h.app.CreateDownloadLink(r.Context(), r.PathValue("ref"), in.Key, in.Plain, time.Duration(in.TTL))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, l)
}

// downloadByLink serves a backup to whoever holds a link's token, once.
func (h *Handler) downloadByLink(w http.ResponseWriter, r *http.Request) {
	dl, err := h.app.OpenDownloadLink(r.Context(), r.PathValue("token"), httpsec.ClientIP(r, h.app.Cfg.TrustedProxies))
	if err != nil {
		fail(w, err)
		return
	}
	httpsec.ServeDownload(w, dl.Name, dl, h.app.Log)
}

func (h *Handler) jobNext(w http.ResponseWriter, r *http.Request) {
	n, err := h.app.JobNextRuns(r.Context(), r.PathValue("ref"), 5)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}

func (h *Handler) jobEnable(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		j, err := h.app.SetEnabled(r.Context(), r.PathValue("ref"), enabled)
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, j)
	}
}

// executionEvents streams an execution as Server-Sent Events: each event
// is the execution with the log entries written since the last one, until
// it ends (or the client goes away). Last-Event-ID (or after) resumes.
func (h *Handler) executionEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	after, _ := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64)
	if after == 0 {
		after, _ = strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	}
	ex, err := h.app.GetExecution(r.Context(), r.PathValue("id"), after)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		if n := len(ex.Logs); n > 0 {
			after = ex.Logs[n-1].Seq
		}
		b, _ := json.Marshal(ex)
		fmt.Fprintf(w, "id: %d\ndata: %s\n\n", after, b)
		flusher.Flush()
		if ex.Status.Terminal() {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
		if ex, err = h.app.GetExecution(r.Context(), r.PathValue("id"), after); err != nil {
			return
		}
	}
}
