package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/auth"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/retention"
)

// settings shows every setting and the retention policy templates.
func (h *Handler) settings(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	h.renderSettings(w, r, p, http.StatusOK, map[string]string{}, nil)
}

func (h *Handler) renderSettings(w http.ResponseWriter, r *http.Request, p *app.Principal, status int, errs map[string]string, in map[string]string) {
	ctx := r.Context()
	list, err := h.app.Settings(ctx)
	if err != nil {
		h.fail(w, err)
		return
	}
	for i := range list {
		if v, ok := in[list[i].Name]; ok {
			list[i].Value = v // what was entered, next to its error
		}
	}
	policies, err := h.app.Store.ListPolicies(ctx)
	if err != nil {
		h.fail(w, err)
		return
	}
	type policyRow struct {
		T      *backup.PolicyTemplate
		Policy retention.Policy
	}
	var rows []policyRow
	for _, t := range policies {
		pol, _ := retention.Parse(t.Policy)
		rows = append(rows, policyRow{t, pol})
	}
	h.page2Status(w, r, p, status, "settings.html", "Settings", map[string]any{"Settings": list, "Errors": errs, "Policies": rows,
		"CanAdmin": p.Role.Allows(auth.Administer), "Msg": h.takeFlash(w, r)})
}

// settingsPost saves the settings that changed; a wrong value is shown
// next to its field and nothing is saved.
func (h *Handler) settingsPost(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	ctx := r.Context()
	list, err := h.app.Settings(ctx)
	if err != nil {
		h.fail(w, err)
		return
	}
	errs, in, changed := map[string]string{}, map[string]string{}, map[string]string{}
	for _, s := range list {
		v, ok := r.PostForm["s."+s.Name]
		if !ok || strings.TrimSpace(v[0]) == s.Value {
			continue
		}
		in[s.Name] = strings.TrimSpace(v[0])
		if err := h.app.CheckSetting(s.Name, in[s.Name]); err != nil {
			errs[s.Name] = strings.TrimPrefix(err.Error(), backup.ErrInvalid.Error()+": ")
			continue
		}
		changed[s.Name] = in[s.Name]
	}
	if len(errs) > 0 {
		h.renderSettings(w, r, p, http.StatusBadRequest, errs, in)
		return
	}
	for name, v := range changed {
		err := h.app.SetSetting(ctx, name, v)
		h.app.Audit(ctx, "setting.set", name, err == nil, v)
		if err != nil {
			h.fail(w, err)
			return
		}
	}
	h.flashTo(w, r, "/settings", strconv.Itoa(len(changed))+" setting(s) saved")
}

// policyCreate adds a retention policy template from the settings page.
func (h *Handler) policyCreate(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
	pol := retention.Policy{Mode: retention.Mode(r.PostFormValue("mode"))}
	for k, dst := range map[string]*int{"keep": &pol.Keep, "hourly": &pol.Hourly, "daily": &pol.Daily, "weekly": &pol.Weekly, "monthly": &pol.Monthly, "yearly": &pol.Yearly} {
		*dst, _ = strconv.Atoi(r.PostFormValue(k))
	}
	raw, _ := json.Marshal(pol)
	name := strings.TrimSpace(r.PostFormValue("name"))
	_, err := h.app.CreatePolicy(r.Context(), app.PolicyInput{Name: name, Policy: raw, Default: r.PostFormValue("default") == "on"})
	h.app.Audit(r.Context(), "policy.create", name, err == nil, errText(err))
	h.back(w, r, "/settings", "policy "+name+" created", "policy not created", err)
}

func (h *Handler) policyDelete(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
	ref := r.PathValue("ref")
	err := h.app.DeletePolicy(r.Context(), ref)
	h.app.Audit(r.Context(), "policy.delete", ref, err == nil, errText(err))
	h.back(w, r, "/settings", "policy deleted", "policy not deleted", err)
}

// users lists users and API keys, with their forms; a new key is shown
// once, right after it is made.
func (h *Handler) users(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	h.renderUsers(w, r, p, http.StatusOK, map[string]any{"Msg": h.takeFlash(w, r)})
}

func (h *Handler) renderUsers(w http.ResponseWriter, r *http.Request, p *app.Principal, status int, data map[string]any) {
	ctx := r.Context()
	users, err := h.app.ListUsers(ctx)
	if err != nil {
		h.fail(w, err)
		return
	}
	keys, err := h.app.ListAPIKeys(ctx)
	if err != nil {
		h.fail(w, err)
		return
	}
	data["Users"], data["Keys"], data["Roles"], data["Now"] = users, keys, []string{"viewer", "operator", "admin"}, time.Now()
	h.page2Status(w, r, p, status, "users.html", "Users", data)
}

func (h *Handler) userCreate(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	if r.PostFormValue("password") != r.PostFormValue("password2") {
		h.renderUsers(w, r, p, http.StatusBadRequest, map[string]any{"UserError": "the two passwords differ", "UserName": name})
		return
	}
	if _, err := h.app.CreateUser(r.Context(), name, r.PostFormValue("role"), r.PostFormValue("password")); err != nil {
		h.renderUsers(w, r, p, http.StatusBadRequest, map[string]any{"UserError": err.Error(), "UserName": name})
		return
	}
	h.flashTo(w, r, "/users", "user "+name+" created")
}

func (h *Handler) userPassword(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	ref := r.PathValue("ref")
	if err := h.app.SetPassword(r.Context(), ref, r.PostFormValue("password")); err != nil {
		h.renderUsers(w, r, p, http.StatusBadRequest, map[string]any{"Msg": "password not changed: " + err.Error()})
		return
	}
	h.flashTo(w, r, "/users", "password changed; that user's sessions have ended")
}

func (h *Handler) userDelete(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	h.back(w, r, "/users", "user deleted", "user not deleted", h.app.DeleteUser(r.Context(), r.PathValue("ref")))
}

func (h *Handler) keyCreate(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	days, err := strconv.Atoi(r.PostFormValue("days"))
	if err != nil || days < 0 {
		h.renderUsers(w, r, p, http.StatusBadRequest, map[string]any{"KeyError": "days: a whole number (0: never expires)", "KeyName": name})
		return
	}
	key, _, err := h.app.CreateAPIKey(r.Context(), name, r.PostFormValue("role"), time.Duration(days)*24*time.Hour)
	if err != nil {
		h.renderUsers(w, r, p, http.StatusBadRequest, map[string]any{"KeyError": err.Error(), "KeyName": name})
		return
	}
	// Shown once, in this answer only (no redirect that would put it in a URL).
	h.renderUsers(w, r, p, http.StatusOK, map[string]any{"NewKey": key, "Msg": "API key " + name + " created: copy it now, it is not shown again"})
}

func (h *Handler) keyRevoke(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
	h.back(w, r, "/users", "API key revoked", "API key not revoked", h.app.RevokeAPIKey(r.Context(), r.PathValue("ref")))
}

const auditPage = 100

// audit lists the audit log, newest first, a page at a time.
func (h *Handler) audit(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	offset = max(offset, 0)
	list, err := h.app.ListAudit(r.Context(), auditPage+1, offset)
	if err != nil {
		h.fail(w, err)
		return
	}
	more := len(list) > auditPage
	if more {
		list = list[:auditPage]
	}
	h.page2(w, r, p, "audit.html", "Audit", map[string]any{"Entries": list, "More": more, "Next": offset + auditPage,
		"HasPrev": offset > 0, "Prev": max(offset-auditPage, 0)})
}

// back goes back to a page with what happened: ok, or failed and why.
func (h *Handler) back(w http.ResponseWriter, r *http.Request, page, ok, failedMsg string, err error) {
	msg := ok
	if err != nil {
		msg = failedMsg + ": " + err.Error()
		failed(w)
	}
	h.flashTo(w, r, page, msg)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
