package web

import (
	"net/http"
	"net/url"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/auth"
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

func (h *Handler) storageDest(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	dest := r.PathValue("dest")
	list, err := h.app.ListBackups(r.Context(), dest, r.URL.Query().Get("job"))
	if err != nil {
		h.fail(w, err)
		return
	}
	h.page2(w, r, p, "backups.html", "Storage", map[string]any{"Dest": dest, "List": list, "Msg": r.URL.Query().Get("msg"),
		"CanManage": p.Role.Allows(auth.ManageBackup), "CanRestore": p.Role.Allows(auth.Restore)})
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
		}
		if err != nil {
			msg = key + ": " + action + " failed: " + err.Error()
		}
		http.Redirect(w, r, "/storage/"+url.PathEscape(dest)+"?msg="+url.QueryEscape(msg), http.StatusSeeOther)
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
	httpsec.ServeDownload(w, dl.Name, dl.Body, h.app.Log)
}
