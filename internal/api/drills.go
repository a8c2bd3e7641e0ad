package api

import (
	"net/http"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
)

// backupDrill queues a restore drill of one backup: 202 with the queued
// execution (skipped, with the reason, when one of that backup is already
// queued or running).
func (h *Handler) backupDrill(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Key    string `json:"key"`
		Target string `json:"target,omitempty"`
	}
	if !decode(w, r, &in) {
		return
	}
	e, err := h.app.QueueDrill(r.Context(), app.DrillRequest{Destination: r.PathValue("ref"), Key: in.Key, Target: in.Target, Trigger: backup.TriggerAPI})
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, e)
}

// recovery is what drills proved, per job.
func (h *Handler) recovery(w http.ResponseWriter, r *http.Request) {
	list, err := h.app.Recovery(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}
