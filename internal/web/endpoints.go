package web

import (
	"encoding/hex"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
)

// kinds maps the URL segment of an endpoint page to its kind and title.
var kinds = map[string]struct {
	kind  app.Kind
	title string
}{
	"sources":      {app.KindSource, "Sources"},
	"destinations": {app.KindDestination, "Destinations"},
	"channels":     {app.KindChannel, "Notifications"},
}

func kindOf(r *http.Request) (app.Kind, string, bool) {
	k, ok := kinds[r.PathValue("kind")]
	return k.kind, k.title, ok
}

// endpoints lists the sources, destinations or channels, with test and
// delete buttons and the choice of a type for a new one.
func (h *Handler) endpoints(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	k, title, ok := kindOf(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	list, err := h.app.ListEndpoints(r.Context(), k)
	if err != nil {
		h.fail(w, err)
		return
	}
	var views []app.EndpointView
	for _, e := range list {
		views = append(views, app.View(e))
	}
	h.page2(w, r, p, "endpoints.html", title, map[string]any{"Kind": r.PathValue("kind"), "List": views,
		"Types": h.app.PluginTypes(k), "Msg": h.takeFlash(w, r)})
}

// endpointAction tests or deletes an endpoint and goes back to the list.
func (h *Handler) endpointAction(action string) func(http.ResponseWriter, *http.Request, *app.Principal) {
	return func(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
		k, _, ok := kindOf(r)
		if !ok {
			http.NotFound(w, r)
			return
		}
		page := "/" + r.PathValue("kind")
		ep, err := h.app.GetEndpoint(r.Context(), k, r.PathValue("ref"))
		if err != nil {
			h.flashFailure(w, r, page, err.Error())
			return
		}
		name := ep.Name // messages name things, never by id
		switch action {
		case "test":
			res, err := h.app.TestEndpoint(r.Context(), k, ep.ID, false)
			switch {
			case err != nil:
				h.flashFailure(w, r, page, name+": "+explained(err.Error()))
			case !res.OK:
				h.flashFailure(w, r, page, name+": "+explained(res.Error))
			case k == app.KindChannel:
				h.flashTo(w, r, page, name+": a test message was sent; check that it arrived")
			default:
				msg := name + ": connection ok"
				if res.Version != "" {
					msg += ", version " + res.Version
				}
				h.flashTo(w, r, page, msg)
			}
		case "delete":
			if err := h.app.DeleteEndpoint(r.Context(), k, ep.ID); err != nil {
				h.flashFailure(w, r, page, name+" was not deleted: "+err.Error())
			} else {
				h.flashTo(w, r, page, name+" deleted")
			}
		}
	}
}

// explained is an error's sentence first, then its raw text.
func explained(raw string) string {
	if s := backup.Explain(raw); s != "" {
		return s + ". Details: " + raw
	}
	return raw
}

// profiles lists encryption profiles with their forms: create (a fresh
// key, or an imported one), reveal or download a key after the password
// is typed again (admins), delete.
func (h *Handler) profiles(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	h.renderProfiles(w, r, p, http.StatusOK, map[string]any{"Msg": h.takeFlash(w, r)})
}

func (h *Handler) renderProfiles(w http.ResponseWriter, r *http.Request, p *app.Principal, status int, data map[string]any) {
	list, err := h.app.Store.ListProfiles(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	data["List"] = list
	h.page2Status(w, r, p, status, "profiles.html", "Encryption", data)
}

func (h *Handler) profileCreate(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	name, key := strings.TrimSpace(r.PostFormValue("name")), strings.TrimSpace(r.PostFormValue("key"))
	_, err := h.app.CreateProfile(r.Context(), name, key)
	action := "profile.create"
	if key != "" {
		action = "profile.import"
	}
	h.app.Audit(r.Context(), action, name, err == nil, errText(err))
	if err != nil {
		h.renderProfiles(w, r, p, http.StatusBadRequest, map[string]any{"Error": err.Error(), "Name": name})
		return
	}
	msg := name + ": created; download its key file and keep it apart from the backups"
	h.flashTo(w, r, "/profiles", msg)
}

func (h *Handler) profileDelete(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
	ref := r.PathValue("ref")
	err := h.app.DeleteProfile(r.Context(), ref)
	h.app.Audit(r.Context(), "profile.delete", ref, err == nil, errText(err))
	h.back(w, r, "/profiles", "profile deleted", "profile not deleted", err)
}

// profileKey reveals a key on the page, or sends it as a key file for
// `dbackup decrypt -key-file`, once the user's password is typed again.
func (h *Handler) profileKey(file bool) func(http.ResponseWriter, *http.Request, *app.Principal) {
	return func(w http.ResponseWriter, r *http.Request, p *app.Principal) {
		prof, err := h.app.RevealProfileKey(r.Context(), p, r.PathValue("ref"), r.PostFormValue("password"))
		if err != nil {
			status, _ := app.LoginStatus(err)
			if isErr(err, backup.ErrNotFound) {
				status = http.StatusNotFound
			}
			h.renderProfiles(w, r, p, status, map[string]any{"Msg": err.Error()})
			return
		}
		keyHex := hex.EncodeToString(prof.Key)
		if file {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": backup.SafeName(prof.Name) + ".key"}))
			fmt.Fprintln(w, keyHex)
			return
		}
		h.renderProfiles(w, r, p, http.StatusOK, map[string]any{"Revealed": prof.Name, "Key": keyHex})
	}
}
