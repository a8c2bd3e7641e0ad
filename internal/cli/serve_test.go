package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/config"
	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestServeCreatesDataDirRecoversAndShutsDown(t *testing.T) {
	t.Parallel()
	src, _ := pgtest.NewDatabase(t, "dbackup_serve")
	pgtest.Connect(t, src).Exec(context.Background(), "CREATE TABLE t AS SELECT generate_series(1, 100) AS id")
	h := newHarness(t)
	h.ok("", "source", "create", "-name", "pg", "-type", "postgres", "-config", `{"host":"127.0.0.1","user":"postgres","sslmode":"disable"}`)
	h.ok("", "destination", "create", "-name", "disk", "-type", "local", "-config", `{"path":"`+t.TempDir()+`"}`)
	h.ok("", "job", "create", "-name", "j", "-source", "pg", "-databases", src, "-destination", "disk")

	// Leave what a killed process leaves: one run "running", one "queued".
	cfg := config.Config{DataDir: h.dataDir, DatabaseURL: filepath.Join(h.dataDir, "dbackup.db"), SecretKeyFile: filepath.Join(h.dataDir, "server.key"), Timezone: "UTC"}
	a, err := app.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	// A run claimed by a CLI process that then died: running, no more heartbeats.
	stale, _ := a.EnqueueForeground(context.Background(), "j", backup.TriggerManual, false)
	if _, err := a.Store.ClaimID(context.Background(), stale.ID, "somehost/pid-1", 5, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	// A second job's run waits in the queue (the first job is busy, so a
	// second trigger of it would be skipped).
	h.ok("", "job", "create", "-name", "k", "-source", "pg", "-databases", src, "-destination", "disk")
	queued, _ := a.StartJob(context.Background(), "k", backup.TriggerSchedule, false)
	a.Close()

	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"serve", "-listen", "127.0.0.1:0", "-stale-after", "1s"}, strings.NewReader(""), io.Discard, &stderr, func(k string) (string, bool) {
			v, ok := h.env[k]
			return v, ok
		})
	}()
	var url string
	re := regexp.MustCompile(`url=(http://[0-9.:]+)`)
	for deadline := time.Now().Add(20 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		t.Fatalf("serve did not report its address:\n%s", stderr.String())
	}
	resp, err := http.Get(url + "/api/v1/health")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("health: %v %v", resp, err)
	}
	resp.Body.Close()
	page, err := http.Get(url + "/")
	if err != nil || page.StatusCode != 200 || page.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("index page: %v %v", page, err)
	}
	page.Body.Close()

	status := func(id string) *backup.Execution {
		a, err := app.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		e, _ := a.Store.GetExecution(context.Background(), id)
		return e
	}
	// The run of the process that died stops beating: failed after -stale-after.
	var lost *backup.Execution
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if lost = status(stale.ID); lost.Status.Terminal() {
			break
		}
	}
	if lost.Status != backup.StatusFailed || !strings.Contains(lost.Error, "interrupted") {
		t.Fatalf("stale running execution is %s %q, want failed (interrupted)", lost.Status, lost.Error)
	}
	var resumed *backup.Execution
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resumed = status(queued.ID); resumed.Status.Terminal() {
			break
		}
	}
	if resumed.Status != backup.StatusSuccess {
		t.Fatalf("queued execution after restart: %s %q", resumed.Status, resumed.Error)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	log := stderr.String()
	for _, want := range []string{"dbackup starting", "data_dir=" + h.dataDir, "server key read from", "run of a lost node failed"} {
		if !strings.Contains(log, want) {
			t.Errorf("serve log lacks %q", want)
		}
	}
	if st, err := os.Stat(filepath.Join(h.dataDir, "server.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("server key: %v %v", st, err)
	}
}

func TestFirstStartCreatesKeyAndSaysSo(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, _, errs := h.run("", "job", "list")
	if _, err := os.Stat(filepath.Join(h.dataDir, "server.key")); err != nil {
		t.Fatalf("no server key created: %v %s", err, errs)
	}
	if _, err := os.Stat(filepath.Join(h.dataDir, "dbackup.db")); err != nil {
		t.Fatal("no metadata database created")
	}
	if !strings.Contains(errs, "created a new server key in "+filepath.Join(h.dataDir, "server.key")) || !strings.Contains(errs, "back it up") {
		t.Fatalf("first start did not tell about the new key:\n%s", errs)
	}
	if _, _, errs := h.run("", "job", "list"); strings.Contains(errs, "created a new server key") {
		t.Fatal("the key was announced as new on the second start")
	}
}

// serveAt runs `dbackup serve` with the harness's environment plus extra
// flags and returns its URL; the server stops with the test.
func serveAt(t *testing.T, h *harness, flags ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, append([]string{"serve", "-listen", "127.0.0.1:0"}, flags...), strings.NewReader(""), io.Discard, &stderr, func(k string) (string, bool) {
			v, ok := h.env[k]
			return v, ok
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	re := regexp.MustCompile(`url=(http://[0-9.:]+)`)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			return m[1]
		}
	}
	t.Fatalf("serve did not report its address:\n%s", stderr.String())
	return ""
}

func TestPprofOnlyWhenAskedAndOnlyForAdministrators(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	admin := strings.TrimSpace(h.ok("", "apikey", "create", "-name", "root", "-role", "admin"))
	viewer := strings.TrimSpace(h.ok("", "apikey", "create", "-name", "look", "-role", "viewer"))
	get := func(url, key string) (int, string) {
		req, _ := http.NewRequest("GET", url+"/debug/pprof/", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	off := serveAt(t, h)
	if code, body := get(off, admin); code == 200 || strings.Contains(body, "goroutine") {
		t.Fatalf("profiles served without -pprof: %d", code)
	}
	h.env["DBACKUP_PPROF"] = "1"
	on := serveAt(t, h)
	if code, _ := get(on, ""); code != http.StatusUnauthorized {
		t.Fatalf("anonymous: %d, want 401", code)
	}
	if code, _ := get(on, viewer); code != http.StatusForbidden {
		t.Fatalf("viewer: %d, want 403", code)
	}
	if code, body := get(on, admin); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("administrator: %d %.200s", code, body)
	}
}
