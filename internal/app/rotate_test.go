package app

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/config"
	"github.com/dbackup/dbackup/internal/runner"
)

// Rotation re-seals every secret: credentials still work and a backup made
// before it still restores (its profile key was re-sealed); the old key no
// longer opens anything; a crash between re-sealing and replacing the key
// file is finished at the next start.
func TestServerKeyRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	cfg := config.Config{DataDir: dir, DatabaseURL: filepath.Join(dir, "dbackup.db"), SecretKeyFile: filepath.Join(dir, "server.key"), Timezone: "UTC"}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func(c config.Config) (*App, error) { return Open(ctx, c, quiet) }

	dbPath := filepath.Join(dir, "app.db")
	lite, _ := sql.Open("sqlite", "file:"+dbPath)
	lite.Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
	lite.Exec("INSERT INTO t (v) VALUES ('a'), ('b'), ('c')")
	lite.Close()

	a, err := open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.CreateEndpoint(ctx, KindSource, EndpointInput{Name: "lite", Type: "sqlite", Config: raw(map[string]string{"path": dbPath})})
	a.CreateEndpoint(ctx, KindChannel, EndpointInput{Name: "hook", Type: "webhook", Config: raw(map[string]any{}), Secrets: map[string]string{"url": "https://hooks.example/canary-url-secret"}})
	localDest(t, a, "disk", t.TempDir())
	a.CreateProfile(ctx, "k", "")
	mustJob(t, a, JobInput{Name: "lite", Source: "lite", Destinations: dests("disk"), Profile: "k"})
	e, err := a.RunJob(ctx, "lite", backup.TriggerManual, false)
	if err != nil || e.Status != backup.StatusSuccess {
		t.Fatalf("backup before rotation: %v %s", err, e.Error)
	}
	oldKey, _ := os.ReadFile(cfg.SecretKeyFile)
	oldID, newID, n, err := a.RotateServerKey(ctx)
	if err != nil || oldID == newID || n != 2 {
		t.Fatalf("rotate: %s → %s, %d values, %v", oldID, newID, n, err)
	}
	a.Close()
	newKey, _ := os.ReadFile(cfg.SecretKeyFile)
	if string(newKey) == string(oldKey) {
		t.Fatal("the key file did not change")
	}

	// The old key opens nothing.
	withOld := cfg
	withOld.SecretKey = strings.TrimSpace(string(oldKey))
	if _, err := open(withOld); err == nil || !strings.Contains(err.Error(), "not the one the stored credentials are sealed with") {
		t.Fatalf("open with the old key: %v", err)
	}

	// A crash after re-sealing, before the key file was replaced.
	os.WriteFile(cfg.SecretKeyFile+".new", newKey, 0o600)
	os.WriteFile(cfg.SecretKeyFile, oldKey, 0o600)
	a, err = open(cfg)
	if err != nil {
		t.Fatalf("start after an interrupted rotation: %v", err)
	}
	defer a.Close()
	if k, _ := os.ReadFile(cfg.SecretKeyFile); string(k) != string(newKey) {
		t.Fatal("the interrupted rotation was not finished")
	}
	ch, err := a.Store.Channels().Get(ctx, "hook")
	if err != nil || ch.Secrets["url"] != "https://hooks.example/canary-url-secret" {
		t.Fatalf("channel secret after rotation: %v %v", ch, err)
	}
	a.Serve(ctx)
	target := filepath.Join(dir, "restored.db")
	r := restore(t, a, runner.RestoreRequest{Destination: "disk", Key: e.BackupName, Source: "lite", Targets: map[string]string{"app.db": target}})
	if r.Status != backup.StatusSuccess {
		t.Fatalf("restore of a backup made before rotation: %s", r.Error)
	}
	got, _ := sql.Open("sqlite", "file:"+target+"?mode=ro")
	defer got.Close()
	var count int
	got.QueryRow("SELECT count(*) FROM t").Scan(&count)
	if count != 3 {
		t.Fatalf("restored %d rows", count)
	}
}
