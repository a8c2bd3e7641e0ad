package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/config"
	"github.com/dbackup/dbackup/internal/testutil/pgtest"
	"github.com/dbackup/dbackup/internal/testutil/srvtest"
	"github.com/dbackup/dbackup/internal/web"
)

// lockedBuf collects the server's log.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// Canary secrets planted in a source, a destination, a notification
// channel and a profile never appear in any API response, page, log line
// or child process argv during a backup and a restore through the API.
func TestCanarySecretsNeverLeak(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pgdb := pgtest.Name("dbackup_canary")
	if _, err := pgtest.Connect(t, "").Exec(ctx, "CREATE DATABASE "+pgdb+" OWNER dbackup_pw"); err != nil {
		t.Fatal(err)
	}
	pgtest.Drop(t, pgdb)
	conn := pgtest.Connect(t, pgdb)
	conn.Exec(ctx, "SET ROLE dbackup_pw")
	if _, err := conn.Exec(ctx, "CREATE TABLE t AS SELECT g, md5(g::text) FROM generate_series(1, 50000) g"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var logs lockedBuf
	a, err := app.Open(ctx, config.Config{DataDir: dir, DatabaseURL: filepath.Join(dir, "db"), SecretKeyFile: filepath.Join(dir, "key"), Timezone: "UTC"},
		slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	a.Queue.Poll = 50 * time.Millisecond
	a.Serve(ctx)
	srv := httptest.NewServer(New(a))
	wh, _ := web.New(a)
	pages := httptest.NewServer(wh)
	t.Cleanup(func() { srv.Close(); pages.Close(); a.Close() })
	key, _, _ := a.CreateAPIKey(ctx, "canary-admin", "admin", 0)
	c := &client{t: t, base: srv.URL, key: key}

	const (
		pgPassword   = "dbackup-test-pw" // the role's real password (it must work)
		sftpPassword = srvtest.Password
		hookCanary   = "https://127.0.0.1:1/hook-canary-5521"
	)
	c.do("POST", "/api/v1/sources", map[string]any{"name": "pg", "type": "postgres",
		"config":  map[string]any{"host": "127.0.0.1", "user": "dbackup_pw", "sslmode": "disable"},
		"secrets": map[string]string{"password": pgPassword}}, 201)
	c.do("POST", "/api/v1/destinations", map[string]any{"name": "ssh", "type": "sftp",
		"config": map[string]any{"host": "127.0.0.1", "port": srvtest.SFTPPort, "user": srvtest.User, "path": srvtest.MakeDir(t, "canary"),
			"host_key": srvtest.File(t, "ssh/host_ed25519.pub")},
		"secrets": map[string]string{"password": sftpPassword}}, 201)
	c.do("POST", "/api/v1/channels", map[string]any{"name": "hook", "type": "webhook", "secrets": map[string]string{"url": hookCanary}}, 201)
	c.do("POST", "/api/v1/profiles", map[string]any{"name": "k"}, 201)
	p, _ := a.Store.GetProfile(ctx, "k")
	profileKey := fmt.Sprintf("%x", p.Key)
	c.do("POST", "/api/v1/jobs", map[string]any{"name": "j", "source": "pg", "databases": []string{pgdb},
		"destinations": []map[string]any{{"destination": "ssh"}}, "encryption_profile": "k",
		"notifications": []map[string]any{{"channel": "hook", "outcomes": []string{"success", "failed"}}}}, 201)

	// Sample every process's argv while the backup and the restore run.
	var leaks, tools atomic.Int32
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
			for _, f := range procs {
				b, _ := os.ReadFile(f)
				if bytes.Contains(b, []byte("pg_dump\x00")) || bytes.Contains(b, []byte("pg_restore\x00")) {
					tools.Add(1)
				}
				for _, s := range []string{pgPassword, hookCanary, profileKey} {
					if bytes.Contains(b, []byte(s)) {
						leaks.Add(1)
					}
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	id := c.do("POST", "/api/v1/jobs/j/run", nil, 202)["id"].(string)
	e := c.waitDone(id)
	if e["status"] != "success" {
		close(stop)
		t.Fatalf("backup: %v", e)
	}
	target := pgtest.Name("dbackup_canary_r")
	pgtest.Drop(t, target)
	r := c.do("POST", "/api/v1/restores", map[string]any{"destination": "ssh", "key": e["backup_name"], "source": "pg",
		"targets": map[string]string{pgdb: target}}, 202)
	if done := c.waitDone(r["id"].(string)); done["status"] != "success" {
		close(stop)
		t.Fatalf("restore: %v", done)
	}
	close(stop)
	for _, path := range []string{"/api/v1/sources", "/api/v1/destinations", "/api/v1/channels", "/api/v1/profiles", "/api/v1/jobs",
		"/api/v1/executions/" + id, "/api/v1/executions", "/api/v1/notifications", "/api/v1/audit", "/api/v1/settings"} {
		c.do("GET", path, nil, 200)
	}
	// The pages too (logged in through the API's session login).
	_, page := getPage(t, pages.URL+"/login")
	everything := c.seen.String() + logs.String() + page
	for name, s := range map[string]string{"PostgreSQL password": pgPassword, "webhook URL": hookCanary, "profile key": profileKey} {
		if strings.Contains(everything, s) {
			t.Errorf("the %s appears in an API response, a page or a log line", name)
		}
	}
	if tools.Load() == 0 || !strings.Contains(logs.String(), "destination operation") {
		t.Fatal("the sampler saw no dump tool or the log captured nothing: the check proved nothing")
	}
	if n := leaks.Load(); n > 0 {
		t.Errorf("a secret appeared %d times in process command lines", n)
	}
}

func getPage(t *testing.T, u string) (int, string) {
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
