package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/catalog"
	"github.com/dbackup/dbackup/internal/runner"
)

// restoreChoice is a database of the backup in the wizard: restore it or
// not, under which name.
type restoreChoice struct {
	Name string
	Use  bool
	To   string
}

// restoreForm is the restore wizard: the backup, a target server of the
// same engine, which databases under which names, overwrite and force;
// Check runs the pre-flight and shows it before anything starts.
func (h *Handler) restoreForm(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	q := r.URL.Query()
	h.renderRestore(w, r, p, http.StatusOK, runner.RestoreRequest{Destination: q.Get("dest"), Key: q.Get("key")}, nil, map[string]any{})
}

func (h *Handler) renderRestore(w http.ResponseWriter, r *http.Request, p *app.Principal, status int, req runner.RestoreRequest, chosen []restoreChoice, data map[string]any) {
	meta, err := h.app.BackupMeta(r.Context(), req.Destination, req.Key)
	if err != nil {
		h.fail(w, err)
		return
	}
	all, err := h.app.Store.Sources().List(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	var sources []*backup.Endpoint
	for _, s := range all {
		if s.Type == meta.SourceType {
			sources = append(sources, s)
		}
	}
	if req.Source == "" && len(sources) > 0 {
		req.Source = sources[0].Name
		for _, s := range sources {
			if s.Name == meta.SourceName {
				req.Source = s.Name
			}
		}
	}
	if chosen == nil {
		for _, db := range meta.Databases {
			chosen = append(chosen, restoreChoice{Name: db, Use: true, To: h.app.SuggestTarget(r.Context(), req.Source, db)})
		}
	}
	data["Dest"], data["B"], data["Sources"], data["Req"], data["Chosen"] = req.Destination, catalog.Backup{Key: req.Key, Meta: meta}, sources, req, chosen
	h.page2Status(w, r, p, status, "restore.html", "Storage", data)
}

func (h *Handler) restorePost(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	req := runner.RestoreRequest{Destination: r.PostFormValue("dest"), Key: r.PostFormValue("key"), Source: r.PostFormValue("source"),
		Overwrite: r.PostFormValue("overwrite") == "on", Force: r.PostFormValue("force") == "on", DropReplaced: r.PostFormValue("drop_replaced") == "on",
		Targets: map[string]string{}}
	var chosen []restoreChoice
	for i := 0; r.PostForm.Has("to" + strconv.Itoa(i)); i++ {
		c := restoreChoice{Name: r.PostFormValue("name" + strconv.Itoa(i)), Use: r.PostFormValue("db"+strconv.Itoa(i)) != "", To: r.PostFormValue("to" + strconv.Itoa(i))}
		if c.Use {
			req.Targets[c.Name] = c.To
		}
		chosen = append(chosen, c)
	}
	if len(req.Targets) == 0 {
		h.renderRestore(w, r, p, http.StatusBadRequest, req, chosen, map[string]any{"Error": "choose at least one database to restore"})
		return
	}
	if r.PostFormValue("action") == "check" {
		lines, err := h.app.PreflightRestore(r.Context(), req)
		data, status := map[string]any{"Checked": true, "Lines": lines}, http.StatusOK
		if err != nil {
			data["Error"], status = "refused: "+err.Error(), http.StatusBadRequest
		}
		h.renderRestore(w, r, p, status, req, chosen, data)
		return
	}
	e, err := h.app.StartRestore(r.Context(), req)
	if err != nil {
		// The wizard stays open with the problem; nothing started.
		h.renderRestore(w, r, p, http.StatusBadRequest, req, chosen, map[string]any{"Error": "nothing was started: " + err.Error()})
		return
	}
	http.Redirect(w, r, "/executions/"+url.PathEscape(e.ID), http.StatusSeeOther)
}
