// Package web serves the server-rendered user interface.
package web

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/auth"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/httpsec"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// formCookie carries the CSRF token of the forms shown before login
// (double submit: the form's hidden field must equal the cookie).
const formCookie = "dbackup_form"

// Handler serves the UI pages.
type Handler struct {
	app  *app.App
	mux  *http.ServeMux
	tmpl *template.Template
	past pastDays
	// zone is the scheduler time zone pages show times in; a setting all
	// requests share, refreshed by each page.
	zone atomic.Pointer[time.Location]
	// Routes lists every page and its permission, for the route test.
	Routes []Route
}

// Route is one UI route.
type Route struct {
	Pattern    string
	Permission auth.Permission
}

// New parses the embedded templates (failing at start, not at request time)
// and registers every UI route.
func New(a *app.App) (*Handler, error) {
	h := &Handler{app: a, mux: http.NewServeMux()}
	h.zone.Store(time.UTC)
	t, err := template.New("").Funcs(funcs).Funcs(template.FuncMap{"at": h.at, "when": h.when}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	h.tmpl = t
	go func() { // count the dashboard's year of history before anyone asks
		first, today, offset := span(a.Queue.Zone(context.Background()))
		h.days(context.Background(), first, today, offset)
	}()
	h.page("GET /login", auth.Public, h.loginForm)
	h.page("POST /login", auth.Public, h.loginPost)
	h.page("GET /setup", auth.Public, h.setupForm)
	h.page("POST /setup", auth.Public, h.setupPost)
	h.page("POST /logout", auth.Read, h.logoutPost)
	h.page("GET /{$}", auth.Read, h.index)
	h.page("GET /jobs", auth.Read, h.jobs)
	h.page("GET /jobs/new", auth.Configure, h.jobNew)
	h.page("POST /jobs/new", auth.Configure, h.jobSave)
	h.page("GET /jobs/{ref}/edit", auth.Configure, h.jobEdit)
	h.page("POST /jobs/{ref}/edit", auth.Configure, h.jobSave)
	h.page("POST /jobs/{ref}/delete", auth.Configure, h.jobDelete)
	h.page("POST /jobs/{ref}/duplicate", auth.Configure, h.jobDuplicate)
	h.page("POST /jobs/{ref}/run", auth.Run, h.jobRun)
	h.page("POST /jobs/{ref}/enable", auth.Run, h.jobEnable(true))
	h.page("POST /jobs/{ref}/disable", auth.Run, h.jobEnable(false))
	h.page("GET /executions", auth.Read, h.history)
	h.page("GET /executions/{id}", auth.Read, h.execution)
	h.page("GET /executions/{id}/events", auth.Read, h.events)
	h.page("POST /executions/{id}/cancel", auth.Run, h.executionCancel)
	h.page("GET /storage", auth.ReadBackups, h.storage)
	h.page("POST /storage/usage", auth.ReadBackups, h.usagePost)
	h.page("GET /storage/{dest}/download", auth.Restore, h.download)
	h.page("GET /storage/{dest}", auth.ReadBackups, h.storageDest)
	h.page("POST /storage/{dest}/verify", auth.ReadBackups, h.backupAction("verify"))
	h.page("POST /storage/{dest}/lock", auth.ManageBackup, h.backupAction("lock"))
	h.page("POST /storage/{dest}/unlock", auth.ManageBackup, h.backupAction("unlock"))
	h.page("POST /storage/{dest}/delete", auth.ManageBackup, h.backupAction("delete"))
	h.page("POST /storage/{dest}/trust", auth.Administer, h.backupAction("trust"))
	h.page("POST /storage/{dest}/drill", auth.Run, h.backupDrill)
	h.page("GET /restore", auth.Restore, h.restoreForm)
	h.page("POST /restore", auth.Restore, h.restorePost)
	h.page("GET /settings", auth.Read, h.settings)
	h.page("POST /settings", auth.Administer, h.settingsPost)
	h.page("POST /policies", auth.Configure, h.policyCreate)
	h.page("POST /policies/{ref}/delete", auth.Configure, h.policyDelete)
	h.page("GET /users", auth.Administer, h.users)
	h.page("POST /users", auth.Administer, h.userCreate)
	h.page("POST /users/{ref}/password", auth.Administer, h.userPassword)
	h.page("POST /users/{ref}/delete", auth.Administer, h.userDelete)
	h.page("POST /apikeys", auth.Administer, h.keyCreate)
	h.page("POST /apikeys/{ref}/revoke", auth.Administer, h.keyRevoke)
	h.page("GET /audit", auth.Administer, h.audit)
	h.page("GET /profiles", auth.Read, h.profiles)
	h.page("POST /profiles", auth.Configure, h.profileCreate)
	h.page("POST /profiles/{ref}/delete", auth.Configure, h.profileDelete)
	h.page("POST /profiles/{ref}/reveal", auth.Administer, h.profileKey(false))
	h.page("POST /profiles/{ref}/keyfile", auth.Administer, h.profileKey(true))
	for _, seg := range []string{"sources", "destinations", "channels"} {
		h.page("GET /"+seg, auth.Read, withKind(seg, h.endpoints))
		h.page("GET /"+seg+"/new", auth.Configure, withKind(seg, h.endpointNew))
		h.page("POST /"+seg+"/new", auth.Configure, withKind(seg, h.endpointSave))
		h.page("GET /"+seg+"/{ref}/edit", auth.Configure, withKind(seg, h.endpointEdit))
		h.page("POST /"+seg+"/{ref}/edit", auth.Configure, withKind(seg, h.endpointSave))
		h.page("POST /"+seg+"/{ref}/test", auth.Run, withKind(seg, h.endpointAction("test")))
		h.page("POST /"+seg+"/{ref}/delete", auth.Configure, withKind(seg, h.endpointAction("delete")))
	}
	h.mux.Handle("GET /static/", http.FileServerFS(staticFS))
	return h, nil
}

// page registers a route; a non-public one needs a session (a browser
// without one is sent to the login page, or to setup on the first start)
// and, for a POST, the session's CSRF token in the form.
func (h *Handler) page(pattern string, perm auth.Permission, fn func(http.ResponseWriter, *http.Request, *app.Principal)) {
	h.Routes = append(h.Routes, Route{pattern, perm})
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if perm == auth.Public {
			// The forms shown before login carry a double-submitted token.
			if r.Method == http.MethodPost && !formTokenOK(r) {
				http.Error(w, "missing or wrong CSRF token: reload the page and try again", http.StatusForbidden)
				return
			}
			fn(w, r, nil)
			return
		}
		var token string
		if c, err := r.Cookie(httpsec.SessionCookie); err == nil {
			token = c.Value
		}
		p, err := h.app.Authenticate(r.Context(), "", token, httpsec.ClientIP(r, h.app.Cfg.TrustedProxies))
		if err != nil {
			target := "/login"
			if need, _ := h.app.NeedsSetup(r.Context()); need {
				target = "/setup"
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		if !p.Role.Allows(perm) {
			http.Error(w, "the "+string(p.Role)+" role may not do this", http.StatusForbidden)
			return
		}
		if r.Method == http.MethodPost {
			if t := r.PostFormValue("csrf"); t == "" || auth.TokenHash(t) != p.Session.CSRFHash {
				http.Error(w, "missing or wrong CSRF token: reload the page and try again", http.StatusForbidden)
				return
			}
		}
		ctx := app.WithPrincipal(r.Context(), p)
		if r.Method != http.MethodPost {
			fn(w, r.WithContext(ctx), p)
			return
		}
		// Every change made from a page is audited, as the API's are.
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		fn(rec, r.WithContext(ctx), p)
		h.app.Audit(ctx, "page "+pattern, pageTarget(r), rec.status < 400 && !rec.failed, strconv.Itoa(rec.status))
	})
}

// pageTarget names what a page's form acted on: the path's names, and the
// backup key when there is one.
func pageTarget(r *http.Request) string {
	var parts []string
	for _, name := range []string{"kind", "ref", "dest", "id", "name"} {
		if v := r.PathValue(name); v != "" {
			parts = append(parts, v)
		}
	}
	if k := r.PostFormValue("key"); k != "" {
		parts = append(parts, k)
	}
	return strings.Join(parts, ":")
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	failed bool // the page went back saying the action failed
}

// failed marks, for the audit, that the action behind w failed.
func failed(w http.ResponseWriter) {
	if rec, ok := w.(*statusRecorder); ok {
		rec.failed = true
	}
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Request bodies: the pages' forms are small, those shown before login
// smaller still. Anything larger is refused before it is read whole.
const (
	maxFormBytes      = 1 << 20
	maxLoginFormBytes = 16 << 10
)

// ServeHTTP implements http.Handler, with the security headers of every
// page, and the forms parsed here, bounded: never as multipart, which no
// page sends and which would spool large bodies.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	httpsec.Headers(w.Header(), "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
	w.Header().Set("Cache-Control", "no-store")
	limit := int64(maxFormBytes)
	if r.URL.Path == "/login" || r.URL.Path == "/setup" {
		limit = maxLoginFormBytes
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "the form is too large or malformed", http.StatusRequestEntityTooLarge)
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) render(w http.ResponseWriter, status int, name string, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	data["Version"] = h.app.Version()
	if data["Title"] == nil {
		data["Title"] = data["Nav"]
	}
	if data["Title"] == nil {
		data["Title"] = titles[name]
	}
	h.tmpl.ExecuteTemplate(w, name, data)
}

// formToken returns the pre-login form token, setting its cookie.
func (h *Handler) formToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(formCookie); err == nil && len(c.Value) > 20 {
		return c.Value
	}
	t, _ := auth.NewToken()
	http.SetCookie(w, &http.Cookie{Name: formCookie, Value: t, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: httpsec.Secure(r, h.app.Cfg.TrustedProxies)})
	return t
}

// formTokenOK checks the double-submitted pre-login form token.
func formTokenOK(r *http.Request) bool {
	c, err := r.Cookie(formCookie)
	f := r.PostFormValue("csrf")
	return err == nil && f != "" && subtle.ConstantTimeCompare([]byte(c.Value), []byte(f)) == 1
}

func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
	if need, _ := h.app.NeedsSetup(r.Context()); need {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return
	}
	h.render(w, http.StatusOK, "login.html", map[string]any{"CSRF": h.formToken(w, r)})
}

func (h *Handler) loginPost(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
	name := r.PostFormValue("name")
	token, csrf, _, err := h.app.Login(r.Context(), name, r.PostFormValue("password"), httpsec.ClientIP(r, h.app.Cfg.TrustedProxies))
	if err != nil {
		status, retry := app.LoginStatus(err)
		if retry > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds())))
		}
		if len(name) > 256 {
			name = ""
		}
		h.render(w, status, "login.html", map[string]any{"CSRF": h.formToken(w, r), "Error": err.Error(), "Name": name})
		return
	}
	h.setSession(w, r, token, csrf)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// setSession sets the cookies of a new session.
func (h *Handler) setSession(w http.ResponseWriter, r *http.Request, token, csrf string) {
	for name, v := range map[string]string{httpsec.SessionCookie: token, csrfCookie: csrf} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: v, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: httpsec.Secure(r, h.app.Cfg.TrustedProxies)})
	}
}

func (h *Handler) setupForm(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
	if need, _ := h.app.NeedsSetup(r.Context()); !need {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	h.render(w, http.StatusOK, "setup.html", map[string]any{"CSRF": h.formToken(w, r)})
}

func (h *Handler) setupPost(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
	name, pw := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("password")
	if pw != r.PostFormValue("password2") {
		h.render(w, http.StatusBadRequest, "setup.html", map[string]any{"CSRF": h.formToken(w, r), "Error": "the two passwords differ", "Name": name})
		return
	}
	ip := httpsec.ClientIP(r, h.app.Cfg.TrustedProxies)
	ctx := app.WithPrincipal(r.Context(), &app.Principal{Actor: "user:" + name, IP: ip})
	if _, err := h.app.Setup(ctx, name, pw); err != nil {
		h.render(w, http.StatusBadRequest, "setup.html", map[string]any{"CSRF": h.formToken(w, r), "Error": err.Error(), "Name": name})
		return
	}
	// The administrator just chose this password: signed in at once.
	token, csrf, _, err := h.app.Login(r.Context(), name, pw, ip)
	if err != nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	h.setSession(w, r, token, csrf)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (h *Handler) logoutPost(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
	if c, err := r.Cookie(httpsec.SessionCookie); err == nil {
		h.app.Logout(r.Context(), c.Value)
	}
	for _, name := range []string{httpsec.SessionCookie, csrfCookie} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// page2 renders a page of the signed-in layout: the sidebar, who is signed
// in and the CSRF token of its forms.
func (h *Handler) page2(w http.ResponseWriter, r *http.Request, p *app.Principal, name, title string, data map[string]any) {
	h.page2Status(w, r, p, http.StatusOK, name, title, data)
}

// page2Status is page2 with another status (a form with errors: 400).
func (h *Handler) page2Status(w http.ResponseWriter, r *http.Request, p *app.Principal, status int, name, title string, data map[string]any) {
	h.zone.Store(h.app.Queue.Zone(r.Context()))
	data["Actor"], data["Role"], data["CSRF"], data["Nav"] = p.Actor, string(p.Role), csrfOf(r), title
	data["Who"] = strings.TrimPrefix(strings.TrimPrefix(p.Actor, "user:"), "key:")
	data["CanRun"] = p.Role.Allows(auth.Run)
	data["CanConfigure"] = p.Role.Allows(auth.Configure)
	data["IsAdmin"] = p.Role.Allows(auth.Administer)
	h.render(w, status, name, data)
}

func isErr(err, target error) bool { return errors.Is(err, target) }

// withKind tells an endpoint page which kind (URL segment) it serves.
func withKind(seg string, fn func(http.ResponseWriter, *http.Request, *app.Principal)) func(http.ResponseWriter, *http.Request, *app.Principal) {
	return func(w http.ResponseWriter, r *http.Request, p *app.Principal) {
		r.SetPathValue("kind", seg)
		fn(w, r, p)
	}
}

// csrfOf is the session's CSRF token for the page's forms: the browser
// holds it in a cookie set at login.
func csrfOf(r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil {
		return c.Value
	}
	return ""
}

const csrfCookie = "dbackup_csrf"

// timeLayout is how pages show a time.
const timeLayout = "2006-01-02 15:04:05 MST"

// at shows a time in the scheduler time zone, as a <time> element.
func (h *Handler) at(t time.Time) template.HTML {
	return template.HTML(`<time datetime="` + t.UTC().Format(time.RFC3339) + `">` + t.In(h.zone.Load()).Format(timeLayout) + `</time>` +
		` <small class="rel">(` + relative(t, time.Now()) + `)</small>`)
}

// relative is how far t is from now, as people say it: "3 min ago",
// "in 11 h", "2 days ago", "just now".
func relative(t, now time.Time) string {
	d := t.Sub(now)
	future := d > 0
	if !future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		s = fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%d h", int(d.Hours()))
	default:
		s = fmt.Sprintf("%d days", int(d.Hours()/24))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// when is at for a time that may be missing.
func (h *Handler) when(t *time.Time) template.HTML {
	if t == nil {
		return "—"
	}
	return h.at(*t)
}

var funcs = template.FuncMap{
	"has":       slices.Contains[[]string],
	"bytes":     backup.HumanBytes,
	"rate":      func(t backup.StageTiming) int64 { return int64(t.Rate()) },
	"failed":    isFailure,
	"explain":   backup.Explain,
	"base":      path.Base,
	"holds":     func(m *backup.Meta) string { return m.Contents.Summary(m.SourceType) },
	"thousands": backup.Thousands,
	"ms":        backup.Millis,
	"ago":       ago,
	"took": func(e *backup.Execution) string {
		if e.StartedAt == nil {
			return "—"
		}
		end := time.Now()
		if e.EndedAt != nil {
			end = *e.EndedAt
		}
		d := end.Sub(*e.StartedAt)
		if d < time.Second { // "0s" would say it did nothing
			return d.Round(time.Millisecond).String()
		}
		return d.Round(time.Second).String()
	},
	"stageState": func(e *backup.Execution, s backup.Stage) string {
		order := map[backup.Stage]int{}
		for i, x := range stages[e.Kind] {
			order[x] = i
		}
		cur, ok := order[e.Stage]
		switch {
		case !ok:
			return "todo"
		case order[s] < cur || (e.Status == backup.StatusSuccess || e.Status == backup.StatusPartial) && order[s] <= cur:
			return "done"
		case order[s] == cur && (e.Status == backup.StatusFailed || e.Status == backup.StatusCancelled):
			return "failed"
		case order[s] == cur:
			return "current"
		}
		return "todo"
	},
}

var titles = map[string]string{"login.html": "Log in", "setup.html": "First start", "index.html": "Home"}

// link is a page's query string: keep (the page's filters) with k set to
// x, or removed when x is empty. Typed as a URL so the template keeps its
// = and & (a plain string there is escaped whole, which broke the pagers).
func link(keep url.Values, k, x string) template.URL {
	v := url.Values{}
	for key, vals := range keep {
		if len(vals) > 0 && vals[0] != "" {
			v.Set(key, vals[0])
		}
	}
	if v.Set(k, x); x == "" {
		v.Del(k)
	}
	return template.URL(v.Encode())
}

// pageAt is link for an offset.
func pageAt(keep url.Values, offset int) template.URL {
	return link(keep, "offset", strconv.Itoa(offset))
}

// flashCookie carries what an action did to the page it returns to. The
// server writes it, so a link cannot make a page say something else (a
// query parameter would: "?msg=call this number").
const flashCookie = "dbackup_flash"

// flashTo goes back to page, which will show msg once.
func (h *Handler) flashTo(w http.ResponseWriter, r *http.Request, page, msg string) {
	h.flash(w, r, page, notice{Text: msg})
}

// flashFailure is flashTo for a refusal: shown as an alert.
func (h *Handler) flashFailure(w http.ResponseWriter, r *http.Request, page, msg string) {
	h.flash(w, r, page, notice{Text: msg, Failed: true})
}

// notice is a message an action leaves for the next page.
type notice struct {
	Text   string
	Failed bool
}

func (n *notice) String() string { return n.Text }

// isFailure reports whether a page's message is a refusal.
func isFailure(v any) bool {
	n, ok := v.(*notice)
	return ok && n.Failed
}

const failedMark = "\x00"

func (h *Handler) flash(w http.ResponseWriter, r *http.Request, page string, n notice) {
	msg := n.Text
	if n.Failed {
		msg = failedMark + msg
	}
	if len(msg) > 1000 {
		msg = msg[:1000] + "…"
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(msg)), Path: "/", MaxAge: 60,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: httpsec.Secure(r, h.app.Cfg.TrustedProxies)})
	http.Redirect(w, r, page, http.StatusSeeOther)
}

// takeFlash returns the message an action left for this page, once
// (nil when there is none).
func (h *Handler) takeFlash(w http.ResponseWriter, r *http.Request) *notice {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(b) == 0 {
		return nil
	}
	text, bad := strings.CutPrefix(string(b), failedMark)
	return &notice{Text: text, Failed: bad}
}

// ago is how long ago t was, in the largest unit that fits: 42m, 26h, 3d.
func ago(t *time.Time) string {
	switch d := time.Since(*t); {
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}
