package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/dbackup/dbackup/internal/app"
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
		"Types": h.app.PluginTypes(k), "Msg": r.URL.Query().Get("msg")})
}

// endpointAction tests or deletes an endpoint and goes back to the list.
func (h *Handler) endpointAction(action string) func(http.ResponseWriter, *http.Request, *app.Principal) {
	return func(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
		k, _, ok := kindOf(r)
		if !ok {
			http.NotFound(w, r)
			return
		}
		ref := r.PathValue("ref")
		msg := ""
		switch action {
		case "test":
			res, err := h.app.TestEndpoint(r.Context(), k, ref, false)
			switch {
			case err != nil:
				msg = ref + ": " + err.Error()
			case res.OK:
				msg = ref + ": connection ok"
				if res.Version != "" {
					msg += ", version " + res.Version
				}
			default:
				msg = ref + ": connection failed: " + res.Error
			}
		case "delete":
			if err := h.app.DeleteEndpoint(r.Context(), k, ref); err != nil {
				msg = ref + ": " + err.Error()
			} else {
				msg = ref + " deleted"
			}
		}
		http.Redirect(w, r, "/"+r.PathValue("kind")+"?msg="+url.QueryEscape(msg), http.StatusSeeOther)
	}
}

// profiles lists encryption profiles; profileCreate adds one.
func (h *Handler) profiles(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	list, err := h.app.Store.ListProfiles(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	h.page2(w, r, p, "profiles.html", "Encryption", map[string]any{"List": list, "Msg": r.URL.Query().Get("msg")})
}

func (h *Handler) profileCreate(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	msg := name + ": created; export its key with `dbackup profile export-key` and keep it safe"
	if _, err := h.app.CreateProfile(r.Context(), name, ""); err != nil {
		msg = err.Error()
	} else {
		h.app.Audit(r.Context(), "profile.create", name, true, "web form")
	}
	http.Redirect(w, r, "/profiles?msg="+url.QueryEscape(msg), http.StatusSeeOther)
}
