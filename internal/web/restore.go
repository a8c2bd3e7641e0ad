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

// restoreForm is the restore wizard: the backup, a target server of the
// same engine, which databases under which names, overwrite and force.
func (h *Handler) restoreForm(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	dest, key := r.URL.Query().Get("dest"), r.URL.Query().Get("key")
	meta, err := h.app.BackupMeta(r.Context(), dest, key)
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
	h.page2(w, r, p, "restore.html", "Storage", map[string]any{"Dest": dest, "B": catalog.Backup{Key: key, Meta: meta}, "Sources": sources})
}

func (h *Handler) restorePost(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
	req := runner.RestoreRequest{Destination: r.PostFormValue("dest"), Key: r.PostFormValue("key"), Source: r.PostFormValue("source"),
		Overwrite: r.PostFormValue("overwrite") == "on", Force: r.PostFormValue("force") == "on", Targets: map[string]string{}}
	for i := 0; ; i++ {
		db := r.PostFormValue("db" + strconv.Itoa(i))
		if db == "" {
			if r.PostForm.Has("to" + strconv.Itoa(i)) {
				continue // not selected
			}
			break
		}
		req.Targets[db] = r.PostFormValue("to" + strconv.Itoa(i))
	}
	if len(req.Targets) == 0 {
		http.Error(w, "choose at least one database to restore", http.StatusBadRequest)
		return
	}
	e, err := h.app.StartRestore(r.Context(), req)
	if err != nil {
		h.fail(w, err)
		return
	}
	http.Redirect(w, r, "/executions/"+url.PathEscape(e.ID), http.StatusSeeOther)
}
