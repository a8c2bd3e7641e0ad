// Package api is dbackup's JSON API under /api/v1. Every route is listed in
// Routes; handlers only translate HTTP to the app's operations and back.
package api

import (
	"net/http"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/auth"
	"github.com/dbackup/dbackup/internal/httpsec"
)

// Handler serves the API.
type Handler struct {
	app *app.App
	mux *http.ServeMux
	// Routes lists every route with its permission, for the route test.
	Routes []Route
}

// New returns the API handler for a.
func New(a *app.App) *Handler {
	h := &Handler{app: a, mux: http.NewServeMux()}
	h.routes()
	return h
}

// routes registers every route with the permission it needs (see
// internal/auth) and, for state changes, an audit action.
func (h *Handler) routes() {
	a := h.audited
	h.handle("GET /api/v1/health", auth.Public, h.health)
	h.handle("GET /api/v1/openapi.json", auth.Public, h.openapi)
	h.handle("POST /api/v1/auth/login", auth.Public, h.login)
	h.handle("POST /api/v1/auth/setup", auth.Public, h.setup)
	h.handle("POST /api/v1/auth/logout", auth.Read, h.logout)
	h.handle("GET /api/v1/auth/me", auth.Read, h.me)
	h.handle("GET /api/v1/types", auth.Read, h.types)

	for _, k := range []app.Kind{app.KindSource, app.KindDestination, app.KindChannel} {
		base := "/api/v1/" + string(k) + "s"
		h.handle("GET "+base, auth.Read, h.endpointList(k))
		h.handle("POST "+base, auth.Configure, a(string(k)+".create", h.endpointCreate(k)))
		h.handle("GET "+base+"/{ref}", auth.Read, h.endpointGet(k))
		h.handle("PUT "+base+"/{ref}", auth.Configure, a(string(k)+".update", h.endpointUpdate(k)))
		h.handle("DELETE "+base+"/{ref}", auth.Configure, a(string(k)+".delete", h.endpointDelete(k)))
		h.handle("POST "+base+"/{ref}/test", auth.Run, a(string(k)+".test", h.endpointTest(k)))
	}
	h.handle("GET /api/v1/destinations/{ref}/backups", auth.ReadBackups, h.backupList)
	h.handle("GET /api/v1/destinations/{ref}/backups/download", auth.Restore, h.backupDownload)
	h.handle("POST /api/v1/destinations/{ref}/backups/link", auth.Restore, h.backupLink)
	h.handle("GET /api/v1/downloads/{token}", auth.Public, h.downloadByLink)
	h.handle("POST /api/v1/destinations/{ref}/verify", auth.ReadBackups, a("backup.verify", h.backupVerify))
	h.handle("POST /api/v1/destinations/{ref}/backups/lock", auth.ManageBackup, a("backup.lock", h.backupLock))
	h.handle("POST /api/v1/destinations/{ref}/backups/delete", auth.ManageBackup, h.backupDelete)
	h.handle("POST /api/v1/destinations/{ref}/backups/trust", auth.Administer, h.backupTrust)
	h.handle("POST /api/v1/destinations/{ref}/backups/drill", auth.Run, h.backupDrill)
	h.handle("GET /api/v1/recovery", auth.Read, h.recovery)

	h.handle("GET /api/v1/policies", auth.Read, h.policyList)
	h.handle("POST /api/v1/policies", auth.Configure, a("policy.create", h.policyCreate))
	h.handle("GET /api/v1/policies/{ref}", auth.Read, h.policyGet)
	h.handle("PUT /api/v1/policies/{ref}", auth.Configure, a("policy.update", h.policyUpdate))
	h.handle("DELETE /api/v1/policies/{ref}", auth.Configure, a("policy.delete", h.policyDelete))

	h.handle("GET /api/v1/profiles", auth.Read, h.profileList)
	h.handle("POST /api/v1/profiles", auth.Configure, a("profile.create", h.profileCreate))
	h.handle("GET /api/v1/profiles/{ref}", auth.Read, h.profileGet)
	h.handle("DELETE /api/v1/profiles/{ref}", auth.Configure, a("profile.delete", h.profileDelete))

	h.handle("GET /api/v1/jobs", auth.Read, h.jobList)
	h.handle("POST /api/v1/jobs", auth.Configure, a("job.create", h.jobCreate))
	h.handle("GET /api/v1/jobs/{ref}", auth.Read, h.jobGet)
	h.handle("PUT /api/v1/jobs/{ref}", auth.Configure, a("job.update", h.jobUpdate))
	h.handle("PATCH /api/v1/jobs/{ref}", auth.Configure, a("job.update", h.jobPatch))
	h.handle("DELETE /api/v1/jobs/{ref}", auth.Configure, a("job.delete", h.jobDelete))
	h.handle("POST /api/v1/jobs/{ref}/clone", auth.Configure, h.jobClone)
	h.handle("POST /api/v1/jobs/bulk", auth.Run, a("job.bulk", h.jobBulk))
	h.handle("POST /api/v1/jobs/{ref}/run", auth.Run, h.jobRun)
	h.handle("GET /api/v1/jobs/{ref}/next", auth.Read, h.jobNext)
	h.handle("POST /api/v1/jobs/{ref}/enable", auth.Run, a("job.enable", h.jobEnable(true)))
	h.handle("POST /api/v1/jobs/{ref}/disable", auth.Run, a("job.disable", h.jobEnable(false)))
	h.handle("GET /api/v1/jobs/{ref}/retention", auth.ReadBackups, h.retentionPlan)
	h.handle("POST /api/v1/jobs/{ref}/retention/preview", auth.ReadBackups, h.retentionPreview)
	h.handle("POST /api/v1/jobs/{ref}/retention/apply", auth.ManageBackup, a("retention.apply", h.retentionApply))

	h.handle("GET /api/v1/executions", auth.Read, h.executionList)
	h.handle("GET /api/v1/executions/{id}", auth.Read, h.executionGet)
	h.handle("GET /api/v1/executions/{id}/events", auth.Read, h.executionEvents)
	h.handle("POST /api/v1/executions/{id}/cancel", auth.Run, h.executionCancel)

	h.handle("POST /api/v1/restores", auth.Restore, h.restoreStart)
	h.handle("POST /api/v1/restores/preflight", auth.Restore, h.restorePreflight)

	h.handle("PUT /api/v1/channels/{ref}/system-events", auth.Configure, a("channel.system-events", h.channelSystemEvents))
	h.handle("GET /api/v1/notifications", auth.Read, h.notificationLog)

	h.handle("GET /api/v1/settings", auth.Read, h.settingList)
	h.handle("PUT /api/v1/settings/{name}", auth.Administer, a("setting.set", h.settingSet))

	h.handle("GET /api/v1/users", auth.Administer, h.userList)
	h.handle("POST /api/v1/users", auth.Administer, h.userCreate)
	h.handle("DELETE /api/v1/users/{ref}", auth.Administer, h.userDelete)
	h.handle("GET /api/v1/apikeys", auth.Administer, h.keyList)
	h.handle("POST /api/v1/apikeys", auth.Administer, h.keyCreate)
	h.handle("POST /api/v1/apikeys/{ref}/revoke", auth.Administer, h.keyRevoke)
	h.handle("GET /api/v1/audit", auth.Administer, h.auditList)

	h.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API endpoint: "+r.Method+" "+r.URL.Path)
	})
}

// ServeHTTP implements http.Handler, with the security headers of every
// answer.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	httpsec.Headers(w.Header(), "default-src 'none'; frame-ancestors 'none'")
	h.mux.ServeHTTP(w, r)
}
