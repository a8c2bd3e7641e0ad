package api

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/auth"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/httpsec"
)

// auditRows counts the audit entries of an action.
func (s *secured) auditRows(action string) []backup.AuditEntry {
	list, _ := s.a.ListAudit(context.Background(), 10000, 0)
	var out []backup.AuditEntry
	for _, e := range list {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// Refused logins with huge names cannot fill the disk: names are bounded,
// and a refused window leaves one record, not one per attempt.
func TestRefusedLoginsCannotFillTheAuditLog(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	if _, err := s.a.CreateUser(context.Background(), "alice", "admin", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("x", 900_000)
	for range 30 {
		s.req("POST", "/api/v1/auth/login", "", map[string]string{"name": huge, "password": "wrong wrong wrong"}, nil, nil)
	}
	for range 30 {
		s.req("POST", "/api/v1/auth/login", "", map[string]string{"name": "alice", "password": "wrong wrong wrong"}, nil, nil)
	}
	rows := s.auditRows("login")
	size := 0
	for _, e := range rows {
		size += len(e.Actor) + len(e.Target) + len(e.Detail) + len(e.IP)
	}
	// 5 judged (the per-user limit), then one record of the refusal; the
	// huge names were each refused without a hash by the address limit.
	if len(rows) > 12 || size > 12*2000 {
		t.Fatalf("60 refused logins left %d audit rows, %d bytes", len(rows), size)
	}
}

// Concurrent guesses for one user get no more judgements than the limit:
// 5 wrong passwords judged, however they arrive and whether the user is
// named by name or by id; then even the right one is refused. (A guess
// refused because every hashing slot stayed busy is not judged and not
// counted, so under load the burst may judge fewer than 5.)
func TestConcurrentGuessesStayWithinTheLimit(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	u, err := s.a.CreateUser(context.Background(), "bob", "viewer", "the right password")
	if err != nil {
		t.Fatal(err)
	}
	login := func(name, pw string) int {
		return s.req("POST", "/api/v1/auth/login", "", map[string]string{"name": name, "password": pw}, nil, nil).StatusCode
	}
	var wg sync.WaitGroup
	var judged atomic.Int32
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch login("bob", fmt.Sprintf("wrong guess %d", i)) {
			case http.StatusOK:
				t.Error("a wrong password logged in")
			case http.StatusUnauthorized:
				judged.Add(1)
			}
		}()
	}
	wg.Wait()
	if judged.Load() > 5 {
		t.Fatalf("%d of 30 concurrent guesses were judged, limit 5", judged.Load())
	}
	// The rest of the 5, one at a time and by id: the same user's count.
	for tries := 0; judged.Load() < 5; tries++ {
		code := login(u.ID, "wrong again")
		if code == http.StatusUnauthorized {
			judged.Add(1)
		} else if code == http.StatusTooManyRequests || tries > 50 {
			t.Fatalf("refused (%d) after %d judged guesses, want exactly 5 judged", code, judged.Load())
		}
	}
	if code := login(u.ID, "the right password"); code != http.StatusTooManyRequests {
		t.Fatalf("a user locked after 5 wrong guesses logged in by id: %d", code)
	}
	if code := login("bob", "the right password"); code != http.StatusTooManyRequests {
		t.Fatalf("a user locked after 5 wrong guesses logged in by name: %d", code)
	}
}

// Eight first-start setups at once: exactly one admin.
func TestSetupRaceCreatesOneAdmin(t *testing.T) {
	t.Parallel()
	s := newSecured(t) // API keys, but no user yet
	var wg sync.WaitGroup
	var created atomic.Int32
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.req("POST", "/api/v1/auth/setup", "", map[string]string{"name": fmt.Sprintf("admin%d", i), "password": "a long enough password"}, nil, nil).StatusCode == http.StatusCreated {
				created.Add(1)
			}
		}()
	}
	wg.Wait()
	users, _ := s.a.ListUsers(context.Background())
	if created.Load() != 1 || len(users) != 1 {
		t.Fatalf("8 concurrent setups: %d said created, %d users", created.Load(), len(users))
	}
}

// A backup planted at a destination (valid data, hand-written sidecar) is
// refused by pre-flight, restore, download and verify; an admin's explicit
// trust makes it usable, and is audited.
func TestPlantedBackupIsRefusedUntilTrusted(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	ctx := context.Background()
	admin := s.keys[auth.Admin]
	dir := t.TempDir()
	dbPath := filepath.Join(t.TempDir(), "app.db")
	lite, _ := sql.Open("sqlite", dbPath)
	lite.Exec("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2)")
	lite.Close()
	for _, c := range []struct {
		path string
		body any
	}{
		{"/api/v1/sources", map[string]any{"name": "lite", "type": "sqlite", "config": map[string]string{"path": dbPath}}},
		{"/api/v1/destinations", map[string]any{"name": "disk", "type": "local", "config": map[string]string{"path": dir}}},
		{"/api/v1/profiles", map[string]any{"name": "k"}},
		{"/api/v1/jobs", map[string]any{"name": "enc", "source": "lite", "destinations": []map[string]string{{"destination": "disk"}}, "encryption_profile": "k"}},
	} {
		if resp := s.req("POST", c.path, admin, c.body, nil, nil); resp.StatusCode >= 300 {
			t.Fatalf("POST %s: %d", c.path, resp.StatusCode)
		}
	}
	job, _ := s.a.Store.GetJob(ctx, "enc")
	// The attacker's plain SQLite file and its sidecar, in the job's folder.
	evil := []byte(readFile(t, dbPath))
	sum := sha256.Sum256(evil)
	os.MkdirAll(filepath.Join(dir, "enc"), 0o700)
	os.WriteFile(filepath.Join(dir, "enc", "enc_planted.db"), evil, 0o600)
	sidecar, _ := json.MarshalIndent(map[string]any{"format_version": 2, "job_id": job.ID, "job_name": "enc", "source_type": "sqlite",
		"databases": []string{"app.db"}, "data_format": "sqlite", "data_file": "enc_planted.db", "created_at": time.Now().UTC(),
		"compression": map[string]string{"algorithm": "none"}, "size": len(evil), "sha256": hex.EncodeToString(sum[:]), "mac": strings.Repeat("0", 64)}, "", "  ")
	os.WriteFile(filepath.Join(dir, "enc", "enc_planted.db.meta.json"), append(sidecar, '\n'), 0o600)
	key := "enc/enc_planted.db"
	restore := map[string]any{"destination": "disk", "key": key, "source": "lite", "targets": map[string]string{"app.db": "planted.db"}}
	if out := s.json("POST", "/api/v1/restores/preflight", admin, restore); out["ok"] != false || !strings.Contains(fmt.Sprint(out["error"]), "not authenticated") {
		t.Errorf("pre-flight of a planted backup: %v", out)
	}
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/destinations/disk/verify", map[string]string{"key": key}},
		{"GET", "/api/v1/destinations/disk/backups/download?key=" + key, nil},
	} {
		if resp := s.req(c.method, c.path, admin, c.body, nil, nil); resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%s %s of a planted backup: %d, want 422", c.method, c.path, resp.StatusCode)
		}
	}
	if resp := s.req("POST", "/api/v1/restores", admin, restore, nil, nil); resp.StatusCode < 300 {
		// The restore may start and then fail: it must not write.
		time.Sleep(500 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dbPath), "planted.db")); err == nil {
		t.Fatal("a planted backup was restored")
	}
	if list, _ := s.a.ListBackups(ctx, "disk", ""); len(list.Backups) != 0 || len(list.Problems) != 1 || !list.Problems[0].Untrusted {
		t.Fatalf("listing: %+v", list)
	}
	// An operator may not trust; an admin may, and it is audited. The job
	// encrypts and the backup does not: only the trust lets it restore.
	if resp := s.req("POST", "/api/v1/destinations/disk/backups/trust", s.keys[auth.Operator], map[string]string{"key": key}, nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("an operator trusting: %d", resp.StatusCode)
	}
	if resp := s.req("POST", "/api/v1/destinations/disk/backups/trust", admin, map[string]string{"key": key}, nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("an admin trusting: %d", resp.StatusCode)
	}
	if rows := s.auditRows("backup.trust"); len(rows) != 1 || !rows[0].OK || rows[0].Actor != "key:key-admin" {
		t.Fatalf("trust audit: %+v", rows)
	}
	if out := s.json("POST", "/api/v1/restores/preflight", admin, restore); out["ok"] != true {
		t.Fatalf("pre-flight of a trusted backup: %v", out)
	}
}

// json sends a request and decodes the answer.
func (s *secured) json(method, path, bearer string, body any) map[string]any {
	s.t.Helper()
	var rd *strings.Reader
	b, _ := json.Marshal(body)
	rd = strings.NewReader(string(b))
	req, _ := http.NewRequest(method, s.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return out
}

func readFile(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Host-level choices are not the API's: programs from outside the tool
// directories, dump flags that write files or load plugins; and a stored
// password never follows a changed host.
func TestAdminCannotReachTheHost(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	admin := s.keys[auth.Admin]
	for name, cfg := range map[string]map[string]any{
		"bin_dir":       {"name": "a", "type": "postgres", "config": map[string]any{"host": "127.0.0.1", "bin_dir": "/tmp/evil"}},
		"server_binary": {"name": "b", "type": "redis", "config": map[string]any{"host": "127.0.0.1", "server_binary": "/bin/sh"}},
		"result-file":   {"name": "c", "type": "mysql", "config": map[string]any{"host": "127.0.0.1", "dump_flags": []string{"--result-file=/etc/cron.d/x"}}},
		"plugin-dir":    {"name": "d", "type": "mysql", "config": map[string]any{"host": "127.0.0.1", "dump_flags": []string{"--plugin-dir=/tmp"}}},
		"name":          {"name": "bad\nname", "type": "postgres", "config": map[string]any{"host": "127.0.0.1"}},
		"long name":     {"name": strings.Repeat("n", 200_000), "type": "postgres", "config": map[string]any{"host": "127.0.0.1"}},
	} {
		if resp := s.req("POST", "/api/v1/sources", admin, cfg, nil, nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, resp.StatusCode)
		}
	}
	if resp := s.req("POST", "/api/v1/sources", admin, map[string]any{"name": "pg", "type": "postgres", "config": map[string]any{"host": "127.0.0.1", "user": "u"},
		"secrets": map[string]string{"password": "stored-pw"}}, nil, nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	if resp := s.req("PUT", "/api/v1/sources/pg", admin, map[string]any{"config": map[string]any{"host": "attacker.invalid", "user": "u"}}, nil, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("moving a source without its password: %d, want 400", resp.StatusCode)
	}
	if resp := s.req("POST", "/api/v1/jobs", admin, map[string]any{"name": "j", "source": "pg", "destinations": []map[string]string{}, "naming_template": "../../etc/x_HH"}, nil, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a naming template with ..: %d", resp.StatusCode)
	}
	if resp := s.req("POST", "/api/v1/restores", admin, map[string]any{}, nil, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("POST /restores {}: %d, want 400", resp.StatusCode)
	}
}

// An operator runs jobs but may not lock backups through a run; the keys
// a deleted user made stop working.
func TestLockNeedsPermissionAndKeysLeaveWithTheirUser(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "app.db")
	lite, _ := sql.Open("sqlite", dbPath)
	lite.Exec("CREATE TABLE t(x)")
	lite.Close()
	for k, in := range map[app.Kind]app.EndpointInput{
		app.KindSource:      {Name: "lite", Type: "sqlite", Config: json.RawMessage(`{"path":"` + dbPath + `"}`)},
		app.KindDestination: {Name: "disk", Type: "local", Config: json.RawMessage(`{"path":"` + t.TempDir() + `"}`)},
	} {
		if _, err := s.a.CreateEndpoint(ctx, k, in); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.a.CreateJob(ctx, app.JobInput{Name: "j", Source: "lite", Destinations: []app.JobDestInput{{Destination: "disk"}}}); err != nil {
		t.Fatal(err)
	}
	if resp := s.req("POST", "/api/v1/jobs/j/run", s.keys[auth.Operator], map[string]bool{"lock": true}, nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("an operator's run with lock: %d, want 403", resp.StatusCode)
	}
	if resp := s.req("POST", "/api/v1/jobs/j/run", s.keys[auth.Operator], map[string]bool{"lock": false}, nil, nil); resp.StatusCode >= 300 {
		t.Fatalf("an operator's run: %d", resp.StatusCode)
	}
	// carol makes a key; when carol goes, so does the key.
	if _, err := s.a.CreateUser(ctx, "carol", "operator", "carol's password"); err != nil {
		t.Fatal(err)
	}
	token, _, _, err := s.a.Login(ctx, "carol", "carol's password", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := s.a.Authenticate(ctx, "", token, "127.0.0.1")
	key, _, err := s.a.CreateAPIKey(app.WithPrincipal(ctx, p), "carols-script", "operator", 0)
	if err != nil {
		t.Fatal(err)
	}
	if resp := s.req("GET", "/api/v1/jobs", key, nil, nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("carol's key: %d", resp.StatusCode)
	}
	if err := s.a.DeleteUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if resp := s.req("GET", "/api/v1/jobs", key, nil, nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the key of a deleted user: %d, want 401", resp.StatusCode)
	}
}

// Under TLS: HSTS on every answer, and no CBC suite in TLS 1.2.
func TestTLSIsStrict(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(nil)
	hs := httpsec.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}), true)
	srv.Config, srv.TLS = hs, hs.TLSConfig
	srv.StartTLS()
	defer srv.Close()
	client := srv.Client()
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatal("no HSTS under TLS")
	}
	cbc := &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}
	if c, err := tls.Dial("tcp", srv.Listener.Addr().String(), cbc); err == nil {
		c.Close()
		t.Fatal("a TLS 1.2 CBC suite was accepted")
	}
}
