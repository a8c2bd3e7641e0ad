package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/auth"
	"github.com/dbackup/dbackup/internal/config"
)

func newServer(t *testing.T) (*httptest.Server, *Handler, *app.App) {
	dir := t.TempDir()
	a, err := app.Open(context.Background(), config.Config{DataDir: dir, DatabaseURL: filepath.Join(dir, "db"), SecretKeyFile: filepath.Join(dir, "key"), Timezone: "UTC"},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(a)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); a.Close() })
	return srv, h, a
}

// browser follows no redirects and keeps cookies.
func browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func post(t *testing.T, c *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func csrfOfPage(t *testing.T, body string) string {
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF field in the form:\n%s", body)
	}
	return m[1]
}

// First start, login, CSRF on every form, logout: the whole session flow
// as a browser sees it.
func TestFirstStartLoginCSRFLogout(t *testing.T) {
	t.Parallel()
	srv, h, _ := newServer(t)
	b := browser()
	if resp, _ := get(t, b, srv.URL+"/"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/setup" {
		t.Fatalf("first visit: %d → %q, want the setup page", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, page := get(t, b, srv.URL+"/setup")
	if resp.StatusCode != 200 || !strings.Contains(page, "no default password") {
		t.Fatalf("setup page: %d", resp.StatusCode)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("CSP %q", csp)
	}
	form := url.Values{"name": {"root"}, "password": {"first-admin-pw"}, "password2": {"first-admin-pw"}}
	if resp, _ := post(t, browser(), srv.URL+"/setup", form); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("setup without the form token: %d, want 403", resp.StatusCode)
	}
	form.Set("csrf", csrfOfPage(t, page))
	if resp, body := post(t, b, srv.URL+"/setup", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("setup: %d %s", resp.StatusCode, body)
	}
	// Setup signs the new administrator in: no second login.
	resp, page = get(t, b, srv.URL+"/")
	if resp.StatusCode != 200 || !strings.Contains(page, "root · admin") || strings.Count(page, "<main") != 1 {
		t.Fatalf("after setup: %d (want the dashboard, signed in as root, one <main>) %s", resp.StatusCode, page)
	}
	post(t, b, srv.URL+"/logout", url.Values{"csrf": {csrfOfPage(t, page)}})
	_, page = get(t, b, srv.URL+"/login")
	if strings.Count(page, "<main") != 1 {
		t.Fatalf("the login page nests <main>: %s", page)
	}
	login := url.Values{"name": {"root"}, "password": {"wrong-password"}, "csrf": {csrfOfPage(t, page)}}
	if resp, body := post(t, b, srv.URL+"/login", login); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "wrong user name or password") {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	login.Set("password", "first-admin-pw")
	if resp, _ := post(t, b, srv.URL+"/login", login); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	resp, page = get(t, b, srv.URL+"/")
	if resp.StatusCode != 200 || !strings.Contains(page, "root · admin") {
		t.Fatalf("home after login: %d %s", resp.StatusCode, page)
	}
	if resp, _ := post(t, b, srv.URL+"/logout", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without the CSRF token: %d, want 403", resp.StatusCode)
	}
	if resp, _ := post(t, b, srv.URL+"/logout", url.Values{"csrf": {csrfOfPage(t, page)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if resp, _ := get(t, b, srv.URL+"/"); resp.Header.Get("Location") != "/login" {
		t.Fatal("still logged in after logout")
	}
	// Every page that is not public sends an anonymous browser to log in.
	for _, r := range h.Routes {
		if r.Permission == auth.Public {
			continue
		}
		method, path, _ := strings.Cut(r.Pattern, " ")
		path = strings.TrimSuffix(path, "{$}")
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := browser().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Errorf("anonymous %s: %d → %q", r.Pattern, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// A viewer sees the pages but cannot run or cancel from them.
func TestViewerCannotRunFromPages(t *testing.T) {
	t.Parallel()
	srv, _, a := newServer(t)
	ctx := context.Background()
	a.CreateUser(ctx, "root", "admin", "first-admin-pw")
	a.CreateUser(ctx, "vic", "viewer", "viewer-password")
	b := browser()
	_, page := get(t, b, srv.URL+"/login")
	if resp, _ := post(t, b, srv.URL+"/login", url.Values{"name": {"vic"}, "password": {"viewer-password"}, "csrf": {csrfOfPage(t, page)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	resp, page := get(t, b, srv.URL+"/jobs")
	if resp.StatusCode != 200 || strings.Contains(page, "Run now") {
		t.Fatalf("jobs page for a viewer: %d, offers Run now: %v", resp.StatusCode, strings.Contains(page, "Run now"))
	}
	_, home := get(t, b, srv.URL+"/")
	token := csrfOfPage(t, home)
	for _, path := range []string{"/jobs/x/run", "/jobs/x/disable", "/executions/x/cancel", "/storage/x/lock", "/storage/x/delete", "/restore", "/jobs/new", "/jobs/x/duplicate", "/sources/new", "/destinations/x/delete", "/profiles"} {
		if resp, _ := post(t, b, srv.URL+path, url.Values{"csrf": {token}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("viewer POST %s: %d, want 403", path, resp.StatusCode)
		}
	}
	for _, path := range []string{"/executions", "/storage", "/sources", "/channels", "/profiles", "/static/app.css", "/static/app.js"} {
		if resp, _ := get(t, b, srv.URL+path); resp.StatusCode != 200 {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
}
