package api

import (
	"net/http"
	"strconv"

	"github.com/dbackup/dbackup/internal/store"
)

func (h *Handler) channelSystemEvents(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Events []string `json:"events"`
	}
	if !decode(w, r, &in) {
		return
	}
	if err := h.app.SetSystemEvents(r.Context(), r.PathValue("ref"), in.Events); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"channel": r.PathValue("ref"), "events": in.Events})
}

func (h *Handler) notificationLog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	list, err := h.app.Store.ListNotificationLog(r.Context(), store.NotificationFilter{JobName: q.Get("job"), ExecutionID: q.Get("execution"), Limit: min(max(limit, 0), 1000)})
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}
