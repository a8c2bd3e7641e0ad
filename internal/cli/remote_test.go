package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/api"
	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/config"
	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

// The README's walk-through, run from a host without the store: every
// command goes through a server's API with an API key; the key export
// happens on the server's host; decrypt needs neither.
func TestRemoteCLIWalkThrough(t *testing.T) {
	t.Parallel()
	shop, _ := pgtest.NewDatabase(t, "dbackup_remote")
	pgtest.Connect(t, shop).Exec(context.Background(), "CREATE TABLE orders AS SELECT generate_series(1, 4321) AS id")
	restored := pgtest.Name("dbackup_remote_restored")
	t.Cleanup(func() { pgtest.Drop(t, restored) })

	serverDir := t.TempDir()
	a, err := app.Open(context.Background(), config.Config{DataDir: serverDir, DatabaseURL: filepath.Join(serverDir, "dbackup.db"),
		SecretKeyFile: filepath.Join(serverDir, "server.key"), Timezone: "UTC"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	a.Queue.Poll = 50 * time.Millisecond
	ctx, stop := context.WithCancel(context.Background())
	a.Serve(ctx)
	srv := httptest.NewServer(api.New(a))
	t.Cleanup(func() { srv.Close(); stop(); a.StopServing(); a.Close() })
	key, _, err := a.CreateAPIKey(context.Background(), "laptop", "admin", 0)
	if err != nil {
		t.Fatal(err)
	}

	h := newHarness(t) // its own, empty data directory
	h.env["DBACKUP_SERVER"] = srv.URL
	h.env["DBACKUP_API_KEY"] = key
	h.env["PGPASSWORD"] = "unused-with-trust"
	nas := t.TempDir()
	h.ok("", "source", "create", "-name", "prod-pg", "-type", "postgres", "-config", `{"host":"127.0.0.1","port":5432,"user":"postgres","sslmode":"disable"}`, "-secret-env", "password=PGPASSWORD")
	h.ok("", "destination", "create", "-name", "nas", "-type", "local", "-config", `{"path":"`+nas+`"}`)
	h.ok("", "profile", "create", "-name", "main")
	if code, _, errs := h.run("", "profile", "export-key", "main"); code != ExitUsage || !strings.Contains(errs, "server's host only") {
		t.Fatalf("export-key through the API: exit %d %s", code, errs)
	}
	h.ok("", "job", "create", "-name", "prod-pg-daily", "-source", "prod-pg", "-databases", shop, "-destination", "nas", "-compression", "zstd", "-profile", "main")
	out := h.ok("", "job", "run", "prod-pg-daily")
	for _, want := range []string{"[dump] dumping database " + shop, "[verify] ", "backup finished successfully", ": success"} {
		if !strings.Contains(out, want) {
			t.Fatalf("remote job run lacks %q:\n%s", want, out)
		}
	}
	// job update changes only what it names, remotely too.
	h.ok("", "job", "update", "-compression", "gzip", "prod-pg-daily")
	if show := h.ok("", "job", "show", "prod-pg-daily"); !strings.Contains(show, `"compression": "gzip"`) || !strings.Contains(show, `"encryption_profile_id"`) {
		t.Fatalf("job after a remote update:\n%s", show)
	}
	if list := h.ok("", "job", "list"); !strings.Contains(list, "prod-pg-daily") || !strings.Contains(list, "success") || !strings.Contains(list, "nas") {
		t.Fatalf("job list:\n%s", list)
	}
	lines := strings.Split(strings.TrimSpace(h.ok("", "backup", "list", "-destination", "nas")), "\n")
	if len(lines) != 2 {
		t.Fatalf("backup list: %v", lines)
	}
	file := strings.Fields(lines[1])[0]
	h.ok("", "backup", "verify", "-destination", "nas", file)
	out = h.ok("", "restore", "-destination", "nas", "-backup", file, "-source", "prod-pg", "-db", shop+"="+restored)
	if !strings.Contains(out, ": success") {
		t.Fatalf("remote restore:\n%s", out)
	}
	var n int
	if err := pgtest.Connect(t, restored).QueryRow(context.Background(), "SELECT count(*) FROM orders").Scan(&n); err != nil || n != 4321 {
		t.Fatalf("restored rows: %d %v", n, err)
	}
	if hist := h.ok("", "execution", "list"); strings.Count(hist, "success") != 2 {
		t.Fatalf("execution list:\n%s", hist)
	}
	dl := filepath.Join(t.TempDir(), "copy.enc")
	h.ok("", "backup", "download", "-destination", "nas", "-out", dl, file)
	if got, _ := os.ReadFile(dl); !bytes.Equal(got, must(os.ReadFile(filepath.Join(nas, file)))) {
		t.Fatal("the remote download differs from the stored backup")
	}
	// The key from the server's host; decrypt with nothing else.
	onServer := newHarness(t)
	onServer.env["DBACKUP_DATA_DIR"] = serverDir
	keyFile := filepath.Join(t.TempDir(), "main.key")
	os.WriteFile(keyFile, []byte(onServer.ok("", "profile", "export-key", "main")), 0o600)
	plain := filepath.Join(t.TempDir(), "shop.dump")
	h.ok("", "decrypt", "-key-file", keyFile, "-out", plain, filepath.Join(nas, file))
	if got, _ := os.ReadFile(plain); !bytes.HasPrefix(got, []byte("PGDMP")) {
		t.Fatalf("decrypted: %q", got[:min(len(got), 8)])
	}
	// Nothing was written where this host's store would be.
	if _, err := os.Stat(filepath.Join(h.dataDir, "dbackup.db")); !os.IsNotExist(err) {
		t.Fatalf("the remote CLI opened a local store: %v", err)
	}
	// A wrong key is refused with what to do.
	h.env["DBACKUP_API_KEY"] = "dbk_0123456789abcdef_wrong"
	if code, _, errs := h.run("", "job", "list"); code == 0 || !strings.Contains(errs, "refused the API key") {
		t.Fatalf("wrong key: exit %d %s", code, errs)
	}
	delete(h.env, "DBACKUP_API_KEY")
	if code, _, errs := h.run("", "job", "list"); code != ExitUsage || !strings.Contains(errs, "DBACKUP_API_KEY") {
		t.Fatalf("no key: exit %d %s", code, errs)
	}
	if strings.Contains(h.all.String(), key) {
		t.Fatal("the API key was printed")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
