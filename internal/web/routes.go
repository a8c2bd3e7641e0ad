// Package web serves the server-rendered user interface.
package web

import (
	"embed"
	"html/template"
	"net/http"

	"github.com/dbackup/dbackup/internal/app"
)

//go:embed templates/*.html
var templateFS embed.FS

// Handler serves the UI pages.
type Handler struct {
	app  *app.App
	mux  *http.ServeMux
	tmpl *template.Template
}

// New parses the embedded templates (failing at start, not at request time)
// and registers every UI route.
func New(a *app.App) (*Handler, error) {
	t, err := template.ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	h := &Handler{app: a, mux: http.NewServeMux(), tmpl: t}
	h.mux.HandleFunc("GET /{$}", h.index)
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) index(w http.ResponseWriter, r *http.Request) {
	jobs, err := h.app.Store.ListJobs(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	h.tmpl.ExecuteTemplate(w, "index.html", map[string]any{"Version": h.app.Version(), "Jobs": len(jobs)})
}
