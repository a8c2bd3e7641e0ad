package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/httpsec"
	"github.com/dbackup/dbackup/internal/notify"
	"github.com/dbackup/dbackup/internal/queue"
	"github.com/dbackup/dbackup/internal/retention"
	"github.com/dbackup/dbackup/internal/runner"
	"github.com/dbackup/dbackup/internal/schedule"
)

// jobForm is the new-job and edit-job form: what was entered, the choices,
// the results of the Check button and the errors next to the fields.
type jobForm struct {
	Edit      *backup.Job // nil for a new job
	In        map[string]string
	Databases []string // chosen
	Available []string // the source's databases, after a check
	Sources   []*backup.Endpoint
	Profiles  []*backup.Profile
	Policies  []*backup.PolicyTemplate
	Dests     []*destRow
	Channels  []*chanRow
	// Check results.
	Checked    bool
	SourceTest *app.TestResult
	Next       []time.Time
	Zone       string
	Errors     map[string]string
}

// destRow is one destination in the form: used or not, its place in the
// order, its retention and, after a check, its test and dry-run.
type destRow struct {
	Endpoint *backup.Endpoint
	Use      bool
	Order    int
	Policy   string // "" (default), "none", "tpl:NAME" or "custom"
	Custom   retention.Policy
	Test     *app.TestResult
	Plan     *runner.RetentionPlan
}

// chanRow is one notification channel and the outcomes it is told about.
type chanRow struct {
	Endpoint *backup.Endpoint
	Outcomes map[string]bool
}

var (
	// durationFields are the job's durations the form's Advanced part shows.
	durationFields = []string{"retry_backoff", "max_duration", "stall_timeout", "expect_every", "remind_every", "proven_within"}
	compressions   = []string{"zstd", "gzip", "brotli", "none"}
	everies        = []string{"hourly", "daily", "weekly", "monthly"}
	weekdays       = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}
	outcomes       = notify.Outcomes
)

// newJobForm loads the choices; a stored job fills the fields.
func (h *Handler) newJobForm(ctx context.Context, edit *backup.Job) (*jobForm, error) {
	f := &jobForm{Edit: edit, In: map[string]string{"compression": "zstd", "mode": "cron", "every": "daily", "hour": "3", "minute": "0", "day": "1", "weekday": "1"},
		Errors: map[string]string{}}
	var err error
	if f.Sources, err = h.app.Store.Sources().List(ctx); err != nil {
		return nil, err
	}
	if f.Profiles, err = h.app.Store.ListProfiles(ctx); err != nil {
		return nil, err
	}
	if f.Policies, err = h.app.Store.ListPolicies(ctx); err != nil {
		return nil, err
	}
	dests, err := h.app.Store.Destinations().List(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range dests {
		f.Dests = append(f.Dests, &destRow{Endpoint: d}) // unused: no order
	}
	chans, err := h.app.Store.Channels().List(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range chans {
		f.Channels = append(f.Channels, &chanRow{Endpoint: c, Outcomes: map[string]bool{}})
	}
	if edit != nil {
		f.fill(edit, f.names())
	}
	return f, nil
}

// names maps the ids of the form's sources, profiles and templates to their names.
func (f *jobForm) names() map[string]string {
	m := map[string]string{}
	for _, s := range f.Sources {
		m[s.ID] = s.Name
	}
	for _, p := range f.Profiles {
		m[p.ID] = p.Name
	}
	for _, p := range f.Policies {
		m[p.ID] = p.Name
	}
	return m
}

// fill sets the fields from a stored job.
func (f *jobForm) fill(j *backup.Job, names map[string]string) {
	f.In["name"], f.In["source"], f.In["profile"] = j.Name, names[j.SourceID], names[j.ProfileID]
	f.In["compression"], f.In["timezone"] = string(j.Compression), j.Timezone
	if j.CompressionLevel == backup.LevelAdaptive {
		f.In["level"] = "adaptive"
	} else if j.CompressionLevel != 0 {
		f.In["level"] = strconv.Itoa(j.CompressionLevel)
	}
	f.Databases = j.Databases
	f.In["databases"] = strings.Join(j.Databases, ", ")
	f.In["naming_template"], f.In["retries"] = j.NamingTemplate, strconv.Itoa(j.Retries)
	for k, d := range map[string]backup.Duration{"retry_backoff": j.RetryBackoff, "max_duration": j.MaxDuration, "stall_timeout": j.StallTimeout,
		"expect_every": j.ExpectEvery, "remind_every": j.RemindEvery, "proven_within": j.ProvenWithin} {
		if d != 0 {
			f.In[k] = time.Duration(d).String()
		}
	}
	if j.CatchUp {
		f.In["catch_up"] = "on"
	}
	if j.DrillEvery > 0 {
		f.In["drill_every"] = strconv.Itoa(j.DrillEvery)
	}
	f.In["drill_schedule"], f.In["drill_target"] = j.DrillSchedule, names[j.DrillTargetID]
	f.In["cron"] = j.Schedule
	switch s, ok := schedule.SimpleOf(j.Schedule); {
	case j.Schedule == "":
		f.In["mode"] = "none"
	case ok:
		f.In["mode"], f.In["every"], f.In["minute"], f.In["hour"] = "simple", s.Every, strconv.Itoa(s.Minute), strconv.Itoa(s.Hour)
		f.In["weekday"], f.In["day"] = strconv.Itoa(int(s.Weekday)), strconv.Itoa(max(s.Day, 1))
	}
	for i, jd := range j.Destinations {
		for _, d := range f.Dests {
			if d.Endpoint.ID != jd.DestinationID {
				continue
			}
			d.Use, d.Order = true, i+1
			switch p, _ := retention.Parse(jd.Retention); {
			case jd.PolicyID != "":
				d.Policy = "tpl:" + names[jd.PolicyID]
			case len(jd.Retention) == 0:
			case p.Mode == retention.ModeNone:
				d.Policy = "none"
			default:
				d.Policy, d.Custom = "custom", p
			}
		}
	}
	for _, jc := range j.Notifications {
		for _, c := range f.Channels {
			if c.Endpoint.ID == jc.ChannelID {
				for _, o := range jc.Outcomes {
					c.Outcomes[o] = true
				}
			}
		}
	}
	slices.SortStableFunc(f.Dests, func(a, b *destRow) int { return a.Order - b.Order })
}

// renumber orders the destinations as the user meant: those used, by the
// order typed (a used one without one after them, in row order), numbered
// 1..n; those not used after them, without a number.
func renumber(rows []*destRow) {
	rank := func(d *destRow) int {
		switch {
		case !d.Use:
			return 1 << 30
		case d.Order <= 0:
			return 1 << 29
		}
		return d.Order
	}
	slices.SortStableFunc(rows, func(a, b *destRow) int { return rank(a) - rank(b) })
	n := 0
	for _, d := range rows {
		d.Order = 0
		if d.Use {
			n++
			d.Order = n
		}
	}
}

// read takes the posted form into the fields and a job input, with the
// errors of each field.
func (f *jobForm) read(r *http.Request) app.JobInput {
	for _, k := range append([]string{"name", "source", "databases", "compression", "level", "profile", "mode", "every", "minute", "hour", "weekday", "day", "cron", "timezone",
		"naming_template", "retries", "catch_up", "drill_every", "drill_schedule", "drill_target"}, durationFields...) {
		f.In[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	errs := f.Errors
	in := app.JobInput{Name: f.In["name"], Source: f.In["source"], Compression: f.In["compression"], Profile: f.In["profile"], Timezone: f.In["timezone"],
		NamingTemplate: f.In["naming_template"], CatchUp: f.In["catch_up"] == "on", DrillSchedule: f.In["drill_schedule"], DrillTarget: f.In["drill_target"]}
	if f.In["drill_every"] != "" {
		n, err := strconv.Atoi(f.In["drill_every"])
		if err != nil || n < 0 {
			errs["drill_every"] = "a whole number: drill every Nth backup (0: never)"
		}
		in.DrillEvery = n
	}
	if f.In["retries"] != "" {
		n, err := strconv.Atoi(f.In["retries"])
		if err != nil || n < 0 || n > 10 {
			errs["retries"] = "a whole number from 0 to 10"
		}
		in.Retries = n
	}
	for k, dst := range map[string]*backup.Duration{"retry_backoff": &in.RetryBackoff, "max_duration": &in.MaxDuration, "stall_timeout": &in.StallTimeout,
		"expect_every": &in.ExpectEvery, "remind_every": &in.RemindEvery, "proven_within": &in.ProvenWithin} {
		if f.In[k] == "" {
			continue
		}
		d, err := time.ParseDuration(f.In[k])
		if err != nil || d < 0 {
			errs[k] = "a duration such as 90m, 26h or 1h30m"
			continue
		}
		*dst = backup.Duration(d)
	}
	if in.Name == "" {
		errs["name"] = "a name is required"
	}
	if in.Source == "" {
		errs["source"] = "choose a source"
	}
	if f.In["level"] != "" {
		n, err := strconv.Atoi(f.In["level"])
		if f.In["level"] == "adaptive" {
			n, err = backup.LevelAdaptive, nil
		}
		if err != nil {
			errs["level"] = "a whole number, or adaptive"
		} else if err := backup.Compression(in.Compression).Validate(n); err != nil {
			errs["level"] = strings.TrimPrefix(err.Error(), backup.ErrInvalid.Error()+": ")
		}
		in.CompressionLevel = n
	}
	f.Databases = nil
	for _, d := range append(r.PostForm["db"], strings.Split(f.In["databases"], ",")...) {
		if d = strings.TrimSpace(d); d != "" && !slices.Contains(f.Databases, d) {
			f.Databases = append(f.Databases, d)
		}
	}
	in.Databases = f.Databases
	f.In["databases"] = strings.Join(f.Databases, ", ")
	in.Schedule = f.schedule()
	if in.Timezone != "" {
		if _, err := time.LoadLocation(in.Timezone); err != nil {
			errs["timezone"] = "not an IANA time zone (like Europe/Berlin)"
		}
	}
	for _, d := range f.Dests {
		id := d.Endpoint.ID
		d.Use = r.PostFormValue("use."+id) == "on"
		d.Order, _ = strconv.Atoi(r.PostFormValue("order." + id))
		d.Policy = r.PostFormValue("policy." + id)
		d.Custom = retention.Policy{Mode: retention.Mode(r.PostFormValue("mode." + id))}
		for k, p := range map[string]*int{"keep": &d.Custom.Keep, "hourly": &d.Custom.Hourly, "daily": &d.Custom.Daily,
			"weekly": &d.Custom.Weekly, "monthly": &d.Custom.Monthly, "yearly": &d.Custom.Yearly} {
			*p, _ = strconv.Atoi(r.PostFormValue(k + "." + id))
		}
	}
	renumber(f.Dests)
	for _, d := range f.Dests {
		if !d.Use {
			continue
		}
		jd := app.JobDestInput{Destination: d.Endpoint.Name}
		switch {
		case strings.HasPrefix(d.Policy, "tpl:"):
			jd.Policy = strings.TrimPrefix(d.Policy, "tpl:")
		case d.Policy == "none":
			jd.Retention = json.RawMessage(`{"mode":"none"}`)
		case d.Policy == "custom":
			if err := d.Custom.Validate(); err != nil {
				errs["dest."+d.Endpoint.ID] = strings.TrimPrefix(err.Error(), backup.ErrInvalid.Error()+": ")
			}
			jd.Retention, _ = json.Marshal(d.Custom)
		}
		in.Destinations = append(in.Destinations, jd)
	}
	if len(in.Destinations) == 0 {
		errs["destination"] = "choose at least one destination"
	}
	for _, c := range f.Channels {
		c.Outcomes = map[string]bool{}
		var chosen []string
		for _, o := range r.PostForm["notify."+c.Endpoint.ID] {
			c.Outcomes[o] = true
			chosen = append(chosen, o)
		}
		if len(chosen) > 0 {
			in.Notifications = append(in.Notifications, app.JobChannelInput{Channel: c.Endpoint.Name, Outcomes: chosen})
		}
	}
	return in
}

// schedule is the cron expression of the schedule fields ("" by hand),
// with an error next to the field that is wrong.
func (f *jobForm) schedule() string {
	switch f.In["mode"] {
	case "none":
		return ""
	case "simple":
		atoi := func(k string) int { n, _ := strconv.Atoi(f.In[k]); return n }
		expr, err := schedule.Simple{Every: f.In["every"], Minute: atoi("minute"), Hour: atoi("hour"),
			Weekday: time.Weekday(atoi("weekday")), Day: atoi("day")}.Cron()
		if err != nil {
			f.Errors["schedule"] = err.Error()
		}
		f.In["cron"] = expr
		return expr
	}
	if f.In["cron"] == "" {
		f.Errors["schedule"] = "enter a cron expression, or choose “by hand”"
	} else if _, err := schedule.Parse(f.In["cron"]); err != nil {
		f.Errors["schedule"] = err.Error()
	}
	return f.In["cron"]
}

// checkSource tests the chosen source and lists its databases.
func (h *Handler) checkSource(ctx context.Context, f *jobForm, source string) {
	if source == "" {
		return
	}
	t, err := h.app.TestEndpoint(ctx, app.KindSource, source, false)
	if err != nil {
		t.Error = err.Error()
	}
	f.SourceTest, f.Available = &t, t.Databases
}

// check is the Check button: the source's connection and databases, each
// chosen destination's connection and retention dry-run, the next runs.
func (h *Handler) check(ctx context.Context, f *jobForm, in app.JobInput) {
	f.Checked = true
	h.checkSource(ctx, f, in.Source)
	for _, d := range f.Dests {
		if d.Use {
			t, err := h.app.TestEndpoint(ctx, app.KindDestination, d.Endpoint.ID, false)
			if err != nil {
				t.Error = err.Error()
			}
			d.Test = &t
		}
	}
	if in.Schedule != "" && f.Errors["schedule"] == "" && f.Errors["timezone"] == "" {
		if s, err := schedule.Parse(in.Schedule); err == nil {
			zone := queue.JobZone(&backup.Job{Timezone: in.Timezone}, h.app.Queue.Zone(ctx))
			f.Zone = zone.String()
			for _, t := range s.NextN(time.Now(), zone, 5) {
				f.Next = append(f.Next, t.In(zone))
			}
		}
	}
	if len(f.Errors) > 0 {
		return
	}
	ref := ""
	if f.Edit != nil {
		ref = f.Edit.ID
	}
	plans, err := h.app.PreviewJobRetention(ctx, ref, in)
	if err != nil {
		f.Errors["form"] = err.Error()
		return
	}
	for i := range plans {
		for _, d := range f.Dests {
			if d.Endpoint.ID == plans[i].DestinationID {
				d.Plan = &plans[i]
			}
		}
	}
}

// Extra is the chosen databases the source did not list (all of them
// before a check), for the free-text field.
func (f *jobForm) Extra() string {
	var out []string
	for _, d := range f.Databases {
		if !slices.Contains(f.Available, d) {
			out = append(out, d)
		}
	}
	return strings.Join(out, ", ")
}

func (h *Handler) renderJobForm(w http.ResponseWriter, r *http.Request, p *app.Principal, status int, f *jobForm) {
	data := map[string]any{"F": f, "Compressions": compressions, "Everies": everies, "Weekdays": weekdays, "Outcomes": outcomes, "Title": "New job"}
	if f.Edit != nil {
		data["Title"] = "Edit job " + f.Edit.Name
		// How a script runs this job: the API call, with a placeholder key.
		scheme := "http"
		if httpsec.Secure(r, h.app.Cfg.TrustedProxies) {
			scheme = "https"
		}
		data["Trigger"] = fmt.Sprintf(`curl -fsS -X POST -H "Authorization: Bearer $DBACKUP_API_KEY" %s://%s/api/v1/jobs/%s/run`,
			scheme, r.Host, url.PathEscape(f.Edit.Name))
	}
	h.page2Status(w, r, p, status, "jobform.html", "Jobs", data)
}

func (h *Handler) jobNew(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	f, err := h.newJobForm(r.Context(), nil)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.renderJobForm(w, r, p, http.StatusOK, f)
}

func (h *Handler) jobEdit(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	j, err := h.app.Store.GetJob(r.Context(), r.PathValue("ref"))
	if err != nil {
		h.fail(w, err)
		return
	}
	f, err := h.newJobForm(r.Context(), j)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.renderJobForm(w, r, p, http.StatusOK, f)
}

// jobSave checks the form field by field; Check shows the connection
// tests, the databases, the next runs and the retention dry-run; Save
// creates or updates the job when all is well.
func (h *Handler) jobSave(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	ctx := r.Context()
	var edit *backup.Job
	if ref := r.PathValue("ref"); ref != "" {
		j, err := h.app.Store.GetJob(ctx, ref)
		if err != nil {
			h.fail(w, err)
			return
		}
		edit = j
	}
	f, err := h.newJobForm(ctx, edit)
	if err != nil {
		h.fail(w, err)
		return
	}
	in := f.read(r)
	if r.PostFormValue("action") == "source" {
		// The automatic check when the source changes: its connection and
		// databases only; the rest of the form is not judged yet.
		f.Errors = map[string]string{}
		h.checkSource(ctx, f, in.Source)
		h.renderJobForm(w, r, p, http.StatusOK, f)
		return
	}
	if r.PostFormValue("action") == "check" {
		h.check(ctx, f, in)
		status := http.StatusOK
		if len(f.Errors) > 0 {
			status = http.StatusBadRequest
		}
		h.renderJobForm(w, r, p, status, f)
		return
	}
	if len(f.Errors) == 0 {
		var j *backup.Job
		action := "job.create"
		if edit != nil {
			action = "job.update"
			j, err = h.app.UpdateJob(ctx, edit.ID, in)
		} else {
			j, err = h.app.CreateJob(ctx, in)
		}
		if err == nil {
			h.app.Audit(ctx, action, j.Name, true, "web form")
			http.Redirect(w, r, "/jobs?saved="+url.QueryEscape(j.Name), http.StatusSeeOther)
			return
		}
		if !isErr(err, backup.ErrInvalid) && !isErr(err, backup.ErrConflict) && !isErr(err, backup.ErrNotFound) {
			h.fail(w, err)
			return
		}
		f.Errors["form"] = err.Error()
	}
	h.renderJobForm(w, r, p, http.StatusBadRequest, f)
}
