package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/dest"
)

const maxBody = 1 << 20

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// fail maps domain errors to HTTP statuses.
func fail(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, backup.ErrNotFound), errors.Is(err, dest.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, backup.ErrConflict), errors.Is(err, backup.ErrInUse):
		status = http.StatusConflict
	case errors.Is(err, backup.ErrInvalid), errors.Is(err, dest.ErrBadKey):
		status = http.StatusBadRequest
	case errors.Is(err, app.ErrForbidden):
		status = http.StatusForbidden
	case errors.Is(err, backup.ErrUntrusted):
		status = http.StatusUnprocessableEntity
	}
	writeError(w, status, err.Error())
}

// decode reads a JSON body strictly: unknown fields are an error.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid JSON body: %v", err))
		return false
	}
	return true
}
