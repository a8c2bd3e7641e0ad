package web

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/auth"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/httpsec"
)

// storage lists the destinations; storageDest one destination's backups.
func (h *Handler) storage(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	list, err := h.app.Store.Destinations().List(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	h.page2(w, r, p, "storage.html", "Storage", map[string]any{"Destinations": list})
}

const backupsPage = 100

// storageDest lists one destination's backups, newest first, a page at a
// time, of one job or all.
func (h *Handler) storageDest(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	dest, q := r.PathValue("dest"), r.URL.Query()
	list, err := h.app.ListBackups(r.Context(), dest, q.Get("job"))
	if err != nil {
		h.fail(w, err)
		return
	}
	all := list.Backups
	slices.SortStableFunc(all, func(a, b app.BackupEntry) int { return b.Meta.CreatedAt.Compare(a.Meta.CreatedAt) })
	var jobs []string
	for _, b := range all {
		if !slices.Contains(jobs, b.Meta.JobName) {
			jobs = append(jobs, b.Meta.JobName)
		}
	}
	slices.Sort(jobs)
	offset, _ := strconv.Atoi(q.Get("offset"))
	offset = min(max(offset, 0), len(all))
	list.Backups = all[offset:min(offset+backupsPage, len(all))]
	keep := url.Values{"job": {q.Get("job")}}
	at := func(off int) template.URL { return pageAt(keep, off) }
	h.page2(w, r, p, "backups.html", "Storage", map[string]any{"Dest": dest, "List": list, "Msg": h.takeFlash(w, r), "Job": q.Get("job"), "Jobs": jobs,
		"Total": len(all), "From": offset + 1, "To": offset + len(list.Backups), "HasPrev": offset > 0, "Prev": at(max(offset-backupsPage, 0)),
		"More": offset+backupsPage < len(all), "Next": at(offset + backupsPage),
		"CanManage": p.Role.Allows(auth.ManageBackup), "CanRestore": p.Role.Allows(auth.Restore), "CanAdmin": p.Role.Allows(auth.Administer),
		"CanRun": p.Role.Allows(auth.Run)})
}

// backupAction verifies, locks, unlocks or deletes one backup and goes
// back to the list with what happened.
func (h *Handler) backupAction(action string) func(http.ResponseWriter, *http.Request, *app.Principal) {
	return func(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
		dest, key := r.PathValue("dest"), r.PostFormValue("key")
		var err error
		msg := ""
		switch action {
		case "verify":
			if _, err = h.app.VerifyBackup(r.Context(), dest, key); err == nil {
				msg = key + ": verified, intact"
			}
		case "lock", "unlock":
			if _, err = h.app.SetLock(r.Context(), dest, key, action == "lock"); err == nil {
				msg = key + ": " + action + "ed"
			}
		case "delete":
			if err = h.app.DeleteBackup(r.Context(), dest, key); err == nil {
				msg = key + ": deleted"
			}
		case "trust":
			if _, err = h.app.TrustBackup(r.Context(), dest, key, nil); err == nil {
				msg = key + ": trusted: checked whole and its sidecar authenticated"
			}
		}
		if err != nil {
			msg = key + ": " + action + " failed: " + err.Error()
			failed(w)
		}
		h.flashTo(w, r, "/storage/"+url.PathEscape(dest), msg)
	}
}

// backupDrill queues a restore drill of one backup and shows it running.
func (h *Handler) backupDrill(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
	dest, key := r.PathValue("dest"), r.PostFormValue("key")
	e, err := h.app.QueueDrill(r.Context(), app.DrillRequest{Destination: dest, Key: key})
	switch {
	case err != nil:
		failed(w)
		h.flashTo(w, r, "/storage/"+url.PathEscape(dest), key+": drill failed to start: "+err.Error())
	case e.Status == backup.StatusSkipped:
		h.flashTo(w, r, "/storage/"+url.PathEscape(dest), key+": "+e.Error)
	default:
		http.Redirect(w, r, "/executions/"+url.PathEscape(e.ID), http.StatusSeeOther)
	}
}

// download sends a backup: the stored bytes, or (plain=1) the decrypted,
// decompressed dump; a backup found damaged breaks the download.
func (h *Handler) download(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
	dl, err := h.app.OpenDownload(r.Context(), r.PathValue("dest"), r.URL.Query().Get("key"), r.URL.Query().Get("plain") == "1")
	if err != nil {
		h.fail(w, err)
		return
	}
	httpsec.ServeDownload(w, dl.Name, dl, h.app.Log)
}
