package api

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/secret"
)

func (h *Handler) policyList(w http.ResponseWriter, r *http.Request) {
	list, err := h.app.Store.ListPolicies(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	if list == nil {
		list = []*backup.PolicyTemplate{}
	}
	writeJSON(w, http.StatusOK, list)
}

func (h *Handler) policyCreate(w http.ResponseWriter, r *http.Request) {
	var in app.PolicyInput
	if !decode(w, r, &in) {
		return
	}
	p, err := h.app.CreatePolicy(r.Context(), in)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, p)
}

func (h *Handler) policyGet(w http.ResponseWriter, r *http.Request) {
	p, err := h.app.Store.GetPolicy(r.Context(), r.PathValue("ref"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (h *Handler) policyUpdate(w http.ResponseWriter, r *http.Request) {
	var in app.PolicyInput
	if !decode(w, r, &in) {
		return
	}
	p, err := h.app.UpdatePolicy(r.Context(), r.PathValue("ref"), in)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (h *Handler) policyDelete(w http.ResponseWriter, r *http.Request) {
	if err := h.app.DeletePolicy(r.Context(), r.PathValue("ref")); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) retentionPlan(w http.ResponseWriter, r *http.Request) {
	plans, err := h.app.PlanRetention(r.Context(), r.PathValue("ref"), r.URL.Query().Get("destination"), nil)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, plans)
}

func (h *Handler) retentionPreview(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Destination string          `json:"destination"`
		Policy      json.RawMessage `json:"policy"`
	}
	if !decode(w, r, &in) {
		return
	}
	plans, err := h.app.PlanRetention(r.Context(), r.PathValue("ref"), in.Destination, in.Policy)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, plans)
}

func (h *Handler) retentionApply(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Destination string `json:"destination"`
		Force       bool   `json:"force"`
	}
	if r.ContentLength != 0 && !decode(w, r, &in) {
		return
	}
	res, err := h.app.ApplyRetention(r.Context(), r.PathValue("ref"), in.Destination, in.Force, func(backup.Level, string) {})
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (h *Handler) backupLock(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Key    string `json:"key"`
		Locked bool   `json:"locked"`
	}
	if !decode(w, r, &in) {
		return
	}
	m, err := h.app.SetLock(r.Context(), r.PathValue("ref"), in.Key, in.Locked)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"key": in.Key, "locked": m.Locked})
}

// backupTrust vouches for a backup whose sidecar is not authenticated
// (app.TrustBackup audits it). An encrypted one needs a profile holding its
// key, or the key as 64 hex digits.
func (h *Handler) backupTrust(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Key       string `json:"key"`
		MasterKey string `json:"master_key,omitempty"`
	}
	if !decode(w, r, &in) {
		return
	}
	var key []byte
	if in.MasterKey != "" {
		var err error
		if key, err = secret.ParseKey(in.MasterKey); err != nil {
			fail(w, fmt.Errorf("%w: master_key: %v", backup.ErrInvalid, err))
			return
		}
	}
	m, err := h.app.TrustBackup(r.Context(), r.PathValue("ref"), in.Key, key)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"key": in.Key, "meta": m})
}

func (h *Handler) backupDelete(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Key string `json:"key"`
	}
	if !decode(w, r, &in) {
		return
	}
	if err := h.app.DeleteBackup(r.Context(), r.PathValue("ref"), in.Key); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) settingList(w http.ResponseWriter, r *http.Request) {
	list, err := h.app.Settings(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (h *Handler) settingSet(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Value string `json:"value"`
	}
	if !decode(w, r, &in) {
		return
	}
	if err := h.app.SetSetting(r.Context(), r.PathValue("name"), in.Value); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"name": r.PathValue("name"), "value": in.Value})
}
