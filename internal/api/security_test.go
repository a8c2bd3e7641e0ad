package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/auth"
	"github.com/dbackup/dbackup/internal/config"
)

// secured is a server with an admin, an operator and a viewer, each with
// an API key.
type secured struct {
	t    *testing.T
	a    *app.App
	h    *Handler
	srv  *httptest.Server
	keys map[auth.Role]string
}

func newSecured(t *testing.T) *secured {
	dir := t.TempDir()
	a, err := app.Open(context.Background(), config.Config{DataDir: dir, DatabaseURL: filepath.Join(dir, "db"), SecretKeyFile: filepath.Join(dir, "key"), Timezone: "UTC"},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h := New(a)
	s := &secured{t: t, a: a, h: h, srv: httptest.NewServer(h), keys: map[auth.Role]string{}}
	t.Cleanup(func() { s.srv.Close(); a.Close() })
	for _, r := range []auth.Role{auth.Admin, auth.Operator, auth.Viewer} {
		key, _, err := a.CreateAPIKey(context.Background(), "key-"+string(r), string(r), 0)
		if err != nil {
			t.Fatal(err)
		}
		s.keys[r] = key
	}
	return s
}

// req sends a request with optional bearer key, cookies and headers.
func (s *secured) req(method, path, bearer string, body any, cookies []*http.Cookie, hdr map[string]string) *http.Response {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.srv.URL+path, rd)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// concrete turns a route pattern into a method and a path.
func concrete(pattern string) (string, string) {
	method, path, _ := strings.Cut(pattern, " ")
	for _, p := range []string{"{ref}", "{id}", "{name}", "{token}"} {
		path = strings.ReplaceAll(path, p, "x")
	}
	return method, path
}

// Every registered route: anonymous callers get 401 except on the public
// ones; each role gets 403 exactly where its permissions end.
func TestRouteCrawlerEnforcesRoles(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	public := 0
	for _, r := range s.h.Routes {
		method, path := concrete(r.Pattern)
		if r.Permission == auth.Public {
			public++
			continue
		}
		if resp := s.req(method, path, "", nil, nil, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("anonymous %s: %d, want 401", r.Pattern, resp.StatusCode)
		}
		if resp := s.req(method, path, "dbk_0123456789abcdef_forged", nil, nil, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("forged key %s: %d, want 401", r.Pattern, resp.StatusCode)
		}
		for _, role := range []auth.Role{auth.Viewer, auth.Operator, auth.Admin} {
			resp := s.req(method, path, s.keys[role], nil, nil, nil)
			forbidden := resp.StatusCode == http.StatusForbidden
			if forbidden == role.Allows(r.Permission) {
				t.Errorf("%s %s (%s): %d", role, r.Pattern, r.Permission, resp.StatusCode)
			}
		}
		// What a viewer may POST only reads (verify, retention preview) or
		// ends its own session.
		if method != http.MethodGet && auth.Viewer.Allows(r.Permission) && r.Permission != auth.ReadBackups && r.Pattern != "POST /api/v1/auth/logout" {
			t.Errorf("viewer may %s", r.Pattern)
		}
	}
	if public != 5 || len(s.h.Routes) < 50 {
		t.Fatalf("%d routes, %d public", len(s.h.Routes), public)
	}
	// Operators cannot manage users, settings or keys.
	for _, p := range []string{"POST /api/v1/users", "POST /api/v1/apikeys", "PUT /api/v1/settings/x", "GET /api/v1/audit"} {
		m, path := concrete(p)
		if resp := s.req(m, path, s.keys[auth.Operator], nil, nil, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("operator %s: %d", p, resp.StatusCode)
		}
	}
}

func TestSessionsCSRFAndBruteForce(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	ctx := context.Background()
	if _, err := s.a.CreateUser(ctx, "olga", "operator", "operator-password-1"); err != nil {
		t.Fatal(err)
	}
	resp := s.req("POST", "/api/v1/auth/login", "", map[string]string{"name": "olga", "password": "operator-password-1"}, nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie: %+v", cookies)
	}
	// The CSRF token comes with the login answer.
	var body struct {
		CSRF string `json:"csrf_token"`
	}
	raw := s.rawLogin("olga", "operator-password-1", &cookies)
	json.Unmarshal(raw, &body)
	if s.req("GET", "/api/v1/jobs", "", nil, cookies, nil).StatusCode != 200 {
		t.Fatal("a session cannot read")
	}
	if r := s.req("POST", "/api/v1/jobs/x/run", "", nil, cookies, nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("state change without CSRF token: %d", r.StatusCode)
	}
	if r := s.req("POST", "/api/v1/jobs/x/run", "", nil, cookies, map[string]string{CSRFHeader: "wrong"}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("state change with a wrong CSRF token: %d", r.StatusCode)
	}
	if r := s.req("POST", "/api/v1/jobs/x/run", "", nil, cookies, map[string]string{CSRFHeader: body.CSRF}); r.StatusCode != http.StatusNotFound {
		t.Fatalf("state change with the CSRF token: %d, want 404 (no such job)", r.StatusCode)
	}
	if r := s.req("POST", "/api/v1/auth/logout", "", nil, cookies, map[string]string{CSRFHeader: body.CSRF}); r.StatusCode != 204 {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	if r := s.req("GET", "/api/v1/jobs", "", nil, cookies, nil); r.StatusCode != 401 {
		t.Fatalf("after logout: %d", r.StatusCode)
	}
	// Brute force: after 5 failures the right password is refused too,
	// with the time to wait.
	for i := range 5 {
		if r := s.req("POST", "/api/v1/auth/login", "", map[string]string{"name": "olga", "password": "guess"}, nil, nil); r.StatusCode != 401 {
			t.Fatalf("failure %d: %d", i, r.StatusCode)
		}
	}
	r := s.req("POST", "/api/v1/auth/login", "", map[string]string{"name": "olga", "password": "operator-password-1"}, nil, nil)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("after 5 failures: %d, Retry-After %q", r.StatusCode, r.Header.Get("Retry-After"))
	}
	audit, _ := s.a.ListAudit(ctx, 100, 0)
	fails := 0
	for _, e := range audit {
		if e.Action == "login" && !e.OK {
			fails++
		}
	}
	if fails < 6 {
		t.Fatalf("audit records %d failed logins, want 6", fails)
	}
}

func (s *secured) rawLogin(name, password string, cookies *[]*http.Cookie) []byte {
	b, _ := json.Marshal(map[string]string{"name": name, "password": password})
	resp, err := http.Post(s.srv.URL+"/api/v1/auth/login", "application/json", bytes.NewReader(b))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	*cookies = resp.Cookies()
	raw, _ := io.ReadAll(resp.Body)
	return raw
}

func TestExpiredAndRevokedKeysRefused(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	ctx := context.Background()
	short, _, _ := s.a.CreateAPIKey(ctx, "short", "admin", 50*time.Millisecond)
	if r := s.req("GET", "/api/v1/jobs", short, nil, nil, nil); r.StatusCode != 200 {
		t.Fatalf("fresh key: %d", r.StatusCode)
	}
	time.Sleep(80 * time.Millisecond)
	if r := s.req("GET", "/api/v1/jobs", short, nil, nil, nil); r.StatusCode != 401 {
		t.Fatalf("expired key: %d", r.StatusCode)
	}
	if r := s.req("POST", "/api/v1/apikeys/key-viewer/revoke", s.keys[auth.Admin], nil, nil, nil); r.StatusCode != 204 {
		t.Fatalf("revoke: %d", r.StatusCode)
	}
	if r := s.req("GET", "/api/v1/jobs", s.keys[auth.Viewer], nil, nil, nil); r.StatusCode != 401 {
		t.Fatalf("revoked key: %d", r.StatusCode)
	}
}

func TestFirstStartSetup(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	creds := map[string]string{"name": "root", "password": "first-admin-password"}
	if r := s.req("POST", "/api/v1/auth/setup", "", creds, nil, nil); r.StatusCode != 201 {
		t.Fatalf("setup: %d", r.StatusCode)
	}
	if r := s.req("POST", "/api/v1/auth/setup", "", map[string]string{"name": "evil", "password": "second-admin-pw"}, nil, nil); r.StatusCode != 409 {
		t.Fatalf("a second setup: %d, want 409", r.StatusCode)
	}
}
