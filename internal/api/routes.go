// Package api is dbackup's JSON API under /api/v1. Every route is listed in
// Routes; handlers only translate HTTP to the app's operations and back.
package api

import (
	"net/http"

	"github.com/dbackup/dbackup/internal/app"
)

// Handler serves the API.
type Handler struct {
	app *app.App
	mux *http.ServeMux
}

// New returns the API handler for a.
func New(a *app.App) *Handler {
	h := &Handler{app: a, mux: http.NewServeMux()}
	h.routes()
	return h
}

func (h *Handler) routes() {
	m := h.mux
	m.HandleFunc("GET /api/v1/health", h.health)
	m.HandleFunc("GET /api/v1/types", h.types)

	for _, k := range []app.Kind{app.KindSource, app.KindDestination, app.KindChannel} {
		base := "/api/v1/" + string(k) + "s"
		m.HandleFunc("GET "+base, h.endpointList(k))
		m.HandleFunc("POST "+base, h.endpointCreate(k))
		m.HandleFunc("GET "+base+"/{ref}", h.endpointGet(k))
		m.HandleFunc("PUT "+base+"/{ref}", h.endpointUpdate(k))
		m.HandleFunc("DELETE "+base+"/{ref}", h.endpointDelete(k))
		m.HandleFunc("POST "+base+"/{ref}/test", h.endpointTest(k))
	}
	m.HandleFunc("GET /api/v1/destinations/{ref}/backups", h.backupList)
	m.HandleFunc("POST /api/v1/destinations/{ref}/verify", h.backupVerify)
	m.HandleFunc("POST /api/v1/destinations/{ref}/backups/lock", h.backupLock)
	m.HandleFunc("POST /api/v1/destinations/{ref}/backups/delete", h.backupDelete)

	m.HandleFunc("GET /api/v1/policies", h.policyList)
	m.HandleFunc("POST /api/v1/policies", h.policyCreate)
	m.HandleFunc("GET /api/v1/policies/{ref}", h.policyGet)
	m.HandleFunc("PUT /api/v1/policies/{ref}", h.policyUpdate)
	m.HandleFunc("DELETE /api/v1/policies/{ref}", h.policyDelete)

	m.HandleFunc("GET /api/v1/profiles", h.profileList)
	m.HandleFunc("POST /api/v1/profiles", h.profileCreate)
	m.HandleFunc("GET /api/v1/profiles/{ref}", h.profileGet)
	m.HandleFunc("DELETE /api/v1/profiles/{ref}", h.profileDelete)

	m.HandleFunc("GET /api/v1/jobs", h.jobList)
	m.HandleFunc("POST /api/v1/jobs", h.jobCreate)
	m.HandleFunc("GET /api/v1/jobs/{ref}", h.jobGet)
	m.HandleFunc("PUT /api/v1/jobs/{ref}", h.jobUpdate)
	m.HandleFunc("DELETE /api/v1/jobs/{ref}", h.jobDelete)
	m.HandleFunc("POST /api/v1/jobs/{ref}/run", h.jobRun)
	m.HandleFunc("GET /api/v1/jobs/{ref}/next", h.jobNext)
	m.HandleFunc("POST /api/v1/jobs/{ref}/enable", h.jobEnable(true))
	m.HandleFunc("POST /api/v1/jobs/{ref}/disable", h.jobEnable(false))
	m.HandleFunc("GET /api/v1/jobs/{ref}/retention", h.retentionPlan)
	m.HandleFunc("POST /api/v1/jobs/{ref}/retention/preview", h.retentionPreview)
	m.HandleFunc("POST /api/v1/jobs/{ref}/retention/apply", h.retentionApply)

	m.HandleFunc("GET /api/v1/executions", h.executionList)
	m.HandleFunc("GET /api/v1/executions/{id}", h.executionGet)
	m.HandleFunc("POST /api/v1/executions/{id}/cancel", h.executionCancel)

	m.HandleFunc("POST /api/v1/restores", h.restoreStart)

	m.HandleFunc("PUT /api/v1/channels/{ref}/system-events", h.channelSystemEvents)
	m.HandleFunc("GET /api/v1/notifications", h.notificationLog)

	m.HandleFunc("GET /api/v1/settings", h.settingList)
	m.HandleFunc("PUT /api/v1/settings/{name}", h.settingSet)

	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API endpoint: "+r.Method+" "+r.URL.Path)
	})
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }
