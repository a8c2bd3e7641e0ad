package web

import (
	"net/http"
	"strings"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/plugin"
)

// endpointForm is the form of a source, destination or channel: its
// name, one input per config field of its type (from the plugin's typed
// config) and one password field per secret it takes.
type endpointForm struct {
	Kind   string // URL segment
	T      *app.PluginType
	Edit   *backup.Endpoint // nil for a new one
	Name   string
	Values map[string]string
	Errors map[string]string
	// Scratch: a source marked as a drill target.
	Scratch bool
	// Tested is what a test before saving found.
	Tested string
}

func (h *Handler) pluginType(k app.Kind, typ string) *app.PluginType {
	for _, t := range h.app.PluginTypes(k) {
		if t.Type == typ {
			return &t
		}
	}
	return nil
}

// endpointNew shows the empty form of a type.
func (h *Handler) endpointNew(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	k, _, ok := kindOf(r)
	t := h.pluginType(k, r.URL.Query().Get("type"))
	if !ok || t == nil {
		http.Error(w, "unknown type "+r.URL.Query().Get("type"), http.StatusBadRequest)
		return
	}
	h.renderEndpoint(w, r, p, http.StatusOK, &endpointForm{Kind: r.PathValue("kind"), T: t, Values: map[string]string{}, Errors: map[string]string{}})
}

// endpointEdit shows the form of a stored one; secrets stay unless typed again.
func (h *Handler) endpointEdit(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	k, _, ok := kindOf(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	e, err := h.app.GetEndpoint(r.Context(), k, r.PathValue("ref"))
	if err != nil {
		h.fail(w, err)
		return
	}
	t := h.pluginType(k, e.Type)
	if t == nil {
		http.Error(w, "unknown type "+e.Type, http.StatusBadRequest)
		return
	}
	h.renderEndpoint(w, r, p, http.StatusOK, &endpointForm{Kind: r.PathValue("kind"), T: t, Edit: e, Name: e.Name,
		Values: plugin.FormValues(t.Fields, e.Config), Errors: map[string]string{}, Scratch: e.Scratch})
}

func (h *Handler) renderEndpoint(w http.ResponseWriter, r *http.Request, p *app.Principal, status int, f *endpointForm) {
	_, title, _ := kindOf(r)
	h.page2Status(w, r, p, status, "endpointform.html", title, map[string]any{"F": f})
}

// endpointSave creates or updates one from the form; errors are shown
// next to their fields, or above the form when the plugin refuses.
func (h *Handler) endpointSave(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	k, _, ok := kindOf(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	f := &endpointForm{Kind: r.PathValue("kind"), Name: strings.TrimSpace(r.PostFormValue("name")), Values: map[string]string{}}
	typ := r.PostFormValue("type")
	if ref := r.PathValue("ref"); ref != "" {
		e, err := h.app.GetEndpoint(r.Context(), k, ref)
		if err != nil {
			h.fail(w, err)
			return
		}
		f.Edit, typ = e, e.Type
	}
	if f.T = h.pluginType(k, typ); f.T == nil {
		http.Error(w, "unknown type "+typ, http.StatusBadRequest)
		return
	}
	get := func(name string) string { return r.PostFormValue("f." + name) }
	for _, fl := range f.T.Fields {
		f.Values[fl.Name] = get(fl.Name)
	}
	config, errs := plugin.FormConfig(f.T.Fields, get)
	f.Errors = errs
	if f.Name == "" {
		f.Errors["name"] = "a name is required"
	}
	if len(f.Errors) > 0 {
		h.renderEndpoint(w, r, p, http.StatusBadRequest, f)
		return
	}
	secrets := map[string]string{}
	for _, s := range f.T.Secrets {
		if v := r.PostFormValue("secret." + s); v != "" {
			secrets[s] = v
		}
	}
	in := app.EndpointInput{Name: f.Name, Type: typ, Config: config, Secrets: secrets}
	if k == app.KindSource {
		f.Scratch = r.PostFormValue("scratch") == "on"
		in.Scratch = &f.Scratch
	}
	if r.PostFormValue("action") == "test" {
		// Test before save: what the form says, saving nothing.
		ref := ""
		if f.Edit != nil {
			ref = f.Edit.ID
		}
		res, err := h.app.TestEndpointInput(r.Context(), k, ref, in)
		switch {
		case err != nil:
			f.Errors["form"] = explained(err.Error())
		case !res.OK:
			f.Errors["form"] = "the test failed: " + explained(res.Error)
		case k == app.KindChannel:
			f.Tested = "a test message was sent through this channel; check that it arrived. Nothing is saved yet."
		default:
			f.Tested = "connection ok"
			if res.Version != "" {
				f.Tested += ", version " + res.Version
			}
			if len(res.Databases) > 0 {
				f.Tested += ", databases " + strings.Join(res.Databases, ", ")
			}
			f.Tested += ". Nothing is saved yet."
		}
		status := http.StatusOK
		if f.Errors["form"] != "" {
			status = http.StatusBadRequest
		}
		h.renderEndpoint(w, r, p, status, f)
		return
	}
	var err error
	action := string(k) + ".create"
	if f.Edit != nil {
		action = string(k) + ".update"
		_, err = h.app.UpdateEndpoint(r.Context(), k, f.Edit.ID, in)
	} else {
		_, err = h.app.CreateEndpoint(r.Context(), k, in)
	}
	h.app.Audit(r.Context(), action, f.Name, err == nil, errText(err))
	if err != nil {
		f.Errors["form"] = err.Error()
		h.renderEndpoint(w, r, p, http.StatusBadRequest, f)
		return
	}
	h.flashTo(w, r, "/"+f.Kind, f.Name+" saved")
}
