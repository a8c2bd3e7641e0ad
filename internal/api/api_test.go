package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/config"
	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

type client struct {
	t    *testing.T
	base string
	key  string       // an admin API key
	seen bytes.Buffer // every response body, to search for leaked secrets
	last []byte
	// The OpenAPI description every answer is checked against.
	spec map[string]any
	mux  *http.ServeMux
}

func lastBody(c *client) []byte { return c.last }

func (c *client) do(method, path string, body any, wantStatus int) map[string]any {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	c.seen.Write(raw)
	c.last = raw
	if c.spec != nil {
		if err := checkAnswer(c.spec, c.mux, req, resp.StatusCode, raw); err != nil {
			c.t.Errorf("an answer unlike the OpenAPI description: %v\n%s", err, raw)
		}
	}
	if resp.StatusCode != wantStatus {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, wantStatus, raw)
	}
	var out map[string]any
	json.Unmarshal(raw, &out)
	return out
}

// download GETs a file with the admin key.
func (c *client) download(path string) []byte {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		c.t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	return raw
}

// waitDone polls an execution until it has a final status.
func (c *client) waitDone(id string) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		e := c.do("GET", "/api/v1/executions/"+id, nil, 200)
		if st := e["status"]; (st != "queued" && st != "running") || time.Now().After(deadline) {
			return e
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func setup(t *testing.T) (*client, *app.App) {
	dir := t.TempDir()
	a, err := app.Open(context.Background(), config.Config{DataDir: dir, DatabaseURL: filepath.Join(dir, "db"), SecretKeyFile: filepath.Join(dir, "key"), Timezone: "UTC"},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	a.Queue.Poll = 50 * time.Millisecond
	a.Serve(context.Background())
	h := New(a)
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); a.Close() })
	key, _, err := a.CreateAPIKey(context.Background(), "test-admin", "admin", 0)
	if err != nil {
		t.Fatal(err)
	}
	routes := http.NewServeMux()
	for _, r := range h.Routes {
		routes.HandleFunc(r.Pattern, func(http.ResponseWriter, *http.Request) {})
	}
	return &client{t: t, base: srv.URL, key: key, spec: specOf(t, h), mux: routes}, a
}

func TestAPIJobLifecycle(t *testing.T) {
	t.Parallel()
	src, _ := pgtest.NewDatabase(t, "dbackup_api")
	pgtest.Connect(t, src).Exec(context.Background(), "CREATE TABLE t AS SELECT generate_series(1, 5000) AS id")
	c, _ := setup(t)
	const canary = "canary-secret-7731"
	c.do("GET", "/api/v1/health", nil, 200)
	s := c.do("POST", "/api/v1/sources", map[string]any{"name": "pg", "type": "postgres",
		"config": map[string]any{"host": "127.0.0.1", "user": "postgres", "sslmode": "disable"}, "secrets": map[string]string{"password": canary}}, 201)
	if s["secrets"].(map[string]any)["password"] != "set" {
		t.Fatalf("source response: %v", s)
	}
	c.do("POST", "/api/v1/sources", map[string]any{"name": "pg", "type": "postgres", "config": map[string]any{"host": "x"}}, 409)
	c.do("POST", "/api/v1/sources", map[string]any{"name": "bad", "type": "postgres", "config": map[string]any{"port": 5432}}, 400)
	c.do("POST", "/api/v1/sources", map[string]any{"name": "x", "type": "postgres", "bogus": 1}, 400)
	if r := c.do("POST", "/api/v1/sources/pg/test", nil, 200); r["ok"] != true {
		t.Fatalf("source test: %v", r)
	}
	c.do("POST", "/api/v1/destinations", map[string]any{"name": "disk", "type": "local", "config": map[string]string{"path": t.TempDir()}}, 201)
	p := c.do("POST", "/api/v1/profiles", map[string]any{"name": "k"}, 201)
	if _, leaked := p["key"]; leaked || p["key_id"] == "" {
		t.Fatalf("profile response: %v", p)
	}
	c.do("POST", "/api/v1/jobs", map[string]any{"name": "api job", "source": "pg", "databases": []string{src},
		"destinations": []map[string]any{{"destination": "disk"}}, "encryption_profile": "k"}, 201)
	c.do("POST", "/api/v1/jobs", map[string]any{"name": "no dest", "source": "pg"}, 400)
	c.do("DELETE", "/api/v1/sources/pg", nil, 409)
	c.do("DELETE", "/api/v1/profiles/k", nil, 409)

	e := c.do("POST", "/api/v1/jobs/api%20job/run", nil, 202)
	final := c.waitDone(e["id"].(string))
	if final["status"] != "success" {
		t.Fatalf("execution: %v", final)
	}
	if logs := final["logs"].([]any); len(logs) < 5 {
		t.Fatalf("execution has %d log entries", len(logs))
	}
	// The event stream of a finished run: one event, the whole log.
	c.do("GET", "/api/v1/executions/"+e["id"].(string)+"/events", nil, 200)
	if ev := string(lastBody(c)); strings.Count(ev, "data: ") != 1 || !strings.Contains(ev, `"status":"success"`) || !strings.Contains(ev, "stage complete started") {
		t.Fatalf("event stream: %s", ev)
	}
	list := c.do("GET", "/api/v1/destinations/disk/backups", nil, 200)
	backups := list["backups"].([]any)
	if len(backups) != 1 {
		t.Fatalf("backups: %v", list)
	}
	key := backups[0].(map[string]any)["key"].(string)
	if v := c.do("POST", "/api/v1/destinations/disk/verify", map[string]string{"key": key}, 200); v["passed"] != true || v["authenticated"] != true {
		t.Fatalf("verify: %v", v)
	}
	// Downloads: the stored bytes hash to the sidecar's SHA-256; the plain
	// dump is pg_dump's custom format.
	meta := backups[0].(map[string]any)["meta"].(map[string]any)
	stored := c.download("/api/v1/destinations/disk/backups/download?key=" + url.QueryEscape(key))
	if sum := sha256.Sum256(stored); hex.EncodeToString(sum[:]) != meta["sha256"] {
		t.Fatalf("stored download: %d bytes, SHA-256 %x, sidecar %v", len(stored), sum, meta["sha256"])
	}
	if plain := c.download("/api/v1/destinations/disk/backups/download?plain=1&key=" + url.QueryEscape(key)); !bytes.HasPrefix(plain, []byte("PGDMP")) {
		t.Fatalf("plain download starts %q", plain[:min(len(plain), 8)])
	}
	// A single-use link: no login needed, serves the same bytes once.
	l := c.do("POST", "/api/v1/destinations/disk/backups/link", map[string]any{"key": key, "ttl": "5m"}, 201)
	anon := func(path string) (int, []byte) {
		resp, err := http.Get(c.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, b := anon(l["path"].(string)); code != 200 || !bytes.Equal(b, stored) {
		t.Fatalf("link download: %d, %d bytes (want %d)", code, len(b), len(stored))
	}
	if code, b := anon(l["path"].(string)); code != 404 || !strings.Contains(string(b), "unknown, used or expired") {
		t.Fatalf("a used link: %d %s", code, b)
	}
	pl := c.do("POST", "/api/v1/destinations/disk/backups/link", map[string]any{"key": key, "plain": true}, 201)
	if code, b := anon(pl["path"].(string)); code != 200 || !bytes.HasPrefix(b, []byte("PGDMP")) {
		t.Fatalf("plain link download: %d %q", code, b[:min(len(b), 8)])
	}
	c.do("POST", "/api/v1/destinations/disk/backups/link", map[string]any{"key": key, "ttl": "2h"}, 400)
	c.do("POST", "/api/v1/destinations/disk/backups/link", map[string]any{"key": "api_job/nope.dump"}, 404)
	if code, _ := anon("/api/v1/downloads/forged-token"); code != 404 {
		t.Fatalf("a forged link: %d", code)
	}
	c.do("GET", "/api/v1/audit", nil, 200)
	if a := string(lastBody(c)); !strings.Contains(a, `"backup.link"`) || !strings.Contains(a, `"link:key:test-admin"`) {
		t.Fatalf("link use not audited as its creator's: %s", a)
	}
	// The job list says how each job is doing; PATCH changes only what it
	// names; clone and bulk.
	c.do("GET", "/api/v1/jobs", nil, 200)
	var jobs []map[string]any
	if err := json.Unmarshal(lastBody(c), &jobs); err != nil || len(jobs) != 1 || jobs[0]["state"] != "Active" || jobs[0]["source_name"] != "pg" ||
		jobs[0]["last_run"].(map[string]any)["status"] != "success" || jobs[0]["next_run"] != nil {
		t.Fatalf("job list: %s (%v)", lastBody(c), err)
	}
	pj := c.do("PATCH", "/api/v1/jobs/api%20job", map[string]any{"compression": "gzip", "schedule": "0 3 * * *"}, 200)
	if pj["compression"] != "gzip" || pj["encryption_profile_id"] == nil || len(pj["destinations"].([]any)) != 1 || pj["databases"].([]any)[0] != src {
		t.Fatalf("patched job lost settings: %v", pj)
	}
	c.do("PATCH", "/api/v1/jobs/api%20job", map[string]any{"schedule": "61 * * * *"}, 400)
	c.do("PATCH", "/api/v1/jobs/api%20job", map[string]any{"bogus": 1}, 400)
	c.do("GET", "/api/v1/jobs", nil, 200)
	json.Unmarshal(lastBody(c), &jobs)
	if jobs[0]["next_run"] == nil || jobs[0]["schedule"] != "0 3 * * *" {
		t.Fatalf("job list after a schedule: %s", lastBody(c))
	}
	cl := c.do("POST", "/api/v1/jobs/api%20job/clone", nil, 201)
	if cl["name"] != "api job (Copy)" || cl["enabled"] != false || cl["encryption_profile_id"] != pj["encryption_profile_id"] {
		t.Fatalf("clone: %v", cl)
	}
	c.do("POST", "/api/v1/jobs/bulk", map[string]any{"action": "enable", "jobs": []string{"api job (Copy)", "nope"}}, 200)
	var res []map[string]any
	if json.Unmarshal(lastBody(c), &res); len(res) != 2 || res[0]["ok"] != true || res[1]["ok"] != false || !strings.Contains(res[1]["error"].(string), "not found") {
		t.Fatalf("bulk enable: %s", lastBody(c))
	}
	c.do("POST", "/api/v1/jobs/bulk", map[string]any{"action": "explode", "jobs": []string{"x"}}, 400)
	c.do("POST", "/api/v1/jobs/bulk", map[string]any{"action": "delete", "jobs": []string{"api job (Copy)"}}, 200)
	c.do("GET", "/api/v1/jobs/api%20job%20(Copy)", nil, 404)
	target := pgtest.Name("dbackup_api_restored")
	pgtest.Drop(t, target)
	pf := c.do("POST", "/api/v1/restores/preflight", map[string]any{"destination": "disk", "key": key, "source": "pg", "targets": map[string]string{src: target}}, 200)
	if pf["ok"] != true || !strings.Contains(fmt.Sprint(pf["checks"]), "backup verified") {
		t.Fatalf("pre-flight: %v", pf)
	}
	if pf = c.do("POST", "/api/v1/restores/preflight", map[string]any{"destination": "disk", "key": key, "source": "pg", "targets": map[string]string{"nope": target}}, 200); pf["ok"] != false || !strings.Contains(pf["error"].(string), `database "nope" is not in this backup`) {
		t.Fatalf("pre-flight of a database the backup lacks: %v", pf)
	}
	r := c.do("POST", "/api/v1/restores", map[string]any{"destination": "disk", "key": key, "source": "pg", "targets": map[string]string{src: target}}, 202)
	rid := r["id"].(string)
	if r = c.waitDone(rid); r["status"] != "success" {
		t.Fatalf("restore: %v", r)
	}
	c.do("POST", "/api/v1/executions/"+rid+"/cancel", nil, 400)
	c.do("GET", "/api/v1/executions/nope", nil, 404)
	c.do("GET", "/api/v1/nothing", nil, 404)
	c.do("GET", "/api/v1/executions?job=api%20job", nil, 200)
	var execs []map[string]any
	if err := json.Unmarshal(lastBody(c), &execs); err != nil || len(execs) != 1 || execs[0]["id"] != final["id"] || execs[0]["status"] != "success" {
		t.Fatalf("executions of the job: %s (%v)", lastBody(c), err)
	}
	c.do("GET", "/api/v1/executions?kind=restore&sort=longest", nil, 200)
	if err := json.Unmarshal(lastBody(c), &execs); err != nil || len(execs) != 1 || execs[0]["id"] != rid {
		t.Fatalf("restores, longest first: %s (%v)", lastBody(c), err)
	}
	c.do("GET", "/api/v1/executions?sort=size", nil, 400)
	if !strings.Contains(string(lastBody(c)), "use newest, oldest, longest or largest") {
		t.Fatalf("unknown sort: %s", lastBody(c))
	}
	// A drill: queued, run, its figures in the execution, the listing and
	// the recovery overview.
	d := c.do("POST", "/api/v1/destinations/disk/backups/drill", map[string]string{"key": key}, 202)
	if d = c.waitDone(d["id"].(string)); d["status"] != "success" || d["kind"] != "drill" {
		t.Fatalf("drill: %v", d)
	}
	tables := d["drill"].(map[string]any)["tables"].([]any)
	if len(tables) != 1 || tables[0].(map[string]any)["found"] != float64(5000) {
		t.Fatalf("drill tables: %v", tables)
	}
	listed := c.do("GET", "/api/v1/destinations/disk/backups", nil, 200)["backups"].([]any)[0].(map[string]any)
	if dr, _ := listed["drill"].(map[string]any); dr == nil || dr["status"] != "success" || dr["restore_ms"] == float64(0) {
		t.Fatalf("listed backup's drill: %v", listed["drill"])
	}
	c.do("GET", "/api/v1/recovery", nil, 200)
	var rec []map[string]any
	if err := json.Unmarshal(lastBody(c), &rec); err != nil || len(rec) != 1 || rec[0]["job_name"] != "api job" || rec[0]["proven_at"] == nil {
		t.Fatalf("recovery: %s (%v)", lastBody(c), err)
	}
	c.do("POST", "/api/v1/destinations/disk/backups/drill", map[string]string{"key": "api_job/nope.dump"}, 404)
	c.do("POST", "/api/v1/destinations/disk/backups/drill", map[string]string{}, 400)
	c.do("DELETE", "/api/v1/jobs/api%20job", nil, 204)
	c.do("DELETE", "/api/v1/sources/pg", nil, 204)
	if strings.Contains(c.seen.String(), canary) {
		t.Fatal("a secret appeared in an API response")
	}
}
