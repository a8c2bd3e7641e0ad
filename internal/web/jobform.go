package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/schedule"
)

// jobFormData is what the job form shows: the choices, what was entered
// and the errors next to the fields.
func (h *Handler) jobFormData(r *http.Request) (map[string]any, error) {
	ctx := r.Context()
	sources, err := h.app.Store.Sources().List(ctx)
	if err != nil {
		return nil, err
	}
	dests, err := h.app.Store.Destinations().List(ctx)
	if err != nil {
		return nil, err
	}
	profiles, err := h.app.Store.ListProfiles(ctx)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Sources": sources, "Destinations": dests, "Profiles": profiles,
		"Compressions": []string{"zstd", "gzip", "brotli", "none"}, "In": map[string]string{"compression": "zstd"}, "Errors": map[string]string{}}, nil
}

func (h *Handler) jobNew(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	data, err := h.jobFormData(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.page2(w, r, p, "jobform.html", "Jobs", data)
}

// jobCreate checks the form field by field, shows errors next to their
// fields, and creates the job when all is well.
func (h *Handler) jobCreate(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	data, err := h.jobFormData(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	in := map[string]string{}
	for _, f := range []string{"name", "source", "databases", "compression", "level", "profile", "schedule"} {
		in[f] = strings.TrimSpace(r.PostFormValue(f))
	}
	errs := map[string]string{}
	if in["name"] == "" {
		errs["name"] = "a name is required"
	}
	if in["source"] == "" {
		errs["source"] = "choose a source"
	}
	destNames := r.PostForm["destination"]
	if len(destNames) == 0 {
		errs["destination"] = "choose at least one destination"
	}
	if in["schedule"] != "" {
		if _, err := schedule.Parse(in["schedule"]); err != nil {
			errs["schedule"] = err.Error()
		}
	}
	level := 0
	if in["level"] != "" {
		if level, err = strconv.Atoi(in["level"]); err != nil {
			errs["level"] = "a whole number"
		}
	}
	job := app.JobInput{Name: in["name"], Source: in["source"], Compression: in["compression"], CompressionLevel: level,
		Profile: in["profile"], Schedule: in["schedule"]}
	for _, d := range strings.Split(in["databases"], ",") {
		if d = strings.TrimSpace(d); d != "" {
			job.Databases = append(job.Databases, d)
		}
	}
	for _, d := range destNames {
		job.Destinations = append(job.Destinations, app.JobDestInput{Destination: d})
	}
	if len(errs) == 0 {
		if _, err := h.app.CreateJob(r.Context(), job); err != nil {
			if !isErr(err, backup.ErrInvalid) && !isErr(err, backup.ErrConflict) && !isErr(err, backup.ErrNotFound) {
				h.fail(w, err)
				return
			}
			errs["form"] = err.Error()
		} else {
			h.app.Audit(r.Context(), "job.create", job.Name, true, "web form")
			http.Redirect(w, r, "/jobs?created="+url.QueryEscape(job.Name), http.StatusSeeOther)
			return
		}
	}
	data["In"], data["Errors"], data["Chosen"] = in, errs, destNames
	h.page2Status(w, r, p, http.StatusBadRequest, "jobform.html", "Jobs", data)
}
