package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

func TestKill9DuringBackupThenRestart(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.NewDatabase(t, "dbackup_kill")
	pgtest.Connect(t, db).Exec(context.Background(), "CREATE TABLE t AS SELECT g, md5(g::text) FROM generate_series(1, 200000) g")
	data, dir := t.TempDir(), t.TempDir()
	e := env{"DBACKUP_DATA_DIR=" + data}
	bin := slowPgDump(t, false)
	e.run(t, "", "source", "create", "-name", "slow", "-type", "postgres", "-config", `{"host":"127.0.0.1","user":"postgres","sslmode":"disable","bin_dir":"`+bin+`"}`)
	e.run(t, "", "source", "create", "-name", "pg", "-type", "postgres", "-config", `{"host":"127.0.0.1","user":"postgres","sslmode":"disable"}`)
	e.run(t, "", "destination", "create", "-name", "disk", "-type", "local", "-config", `{"path":"`+dir+`"}`)
	e.run(t, "", "job", "create", "-name", "slow", "-source", "slow", "-databases", db, "-destination", "disk", "-compression", "none")
	e.run(t, "", "job", "create", "-name", "quick", "-source", "pg", "-databases", db, "-destination", "disk")

	n1 := e.serve(t, "n1")
	slow := n1.api(t, "POST", "/api/v1/jobs/slow/run", nil)["id"].(string)
	waitUntil(t, 30*time.Second, "the slow backup to stream", func() bool {
		x := n1.api(t, "GET", "/api/v1/executions/"+slow, nil)
		return x["status"] == "running" && x["bytes_dumped"].(float64) > 0
	})
	quick := n1.api(t, "POST", "/api/v1/jobs/quick/run", nil)
	if quick["status"] != "queued" {
		t.Fatalf("second job: %v (max concurrency 1: it must wait)", quick["status"])
	}
	n1.kill()

	// A half-written upload is on disk, and nothing lists as a backup.
	temps, _ := filepath.Glob(filepath.Join(dir, "slow", ".dbackup-tmp-*"))
	if len(temps) != 1 {
		t.Fatalf("expected the killed upload's temporary file, found %v", temps)
	}
	if out := e.run(t, "", "backup", "list", "-destination", "disk"); strings.Count(out, "\n") != 1 {
		t.Fatalf("a killed backup lists:\n%s", out)
	}

	n2 := e.serve(t, "n1") // the same node, restarted
	var x map[string]any
	waitUntil(t, 60*time.Second, "the queued backup to run after the restart", func() bool {
		x = n2.api(t, "GET", "/api/v1/executions/"+quick["id"].(string), nil)
		return x["status"] == "success"
	})
	s := n2.api(t, "GET", "/api/v1/executions/"+slow, nil)
	if s["status"] != "failed" || !strings.Contains(s["error"].(string), "interrupted") {
		t.Fatalf("killed run after restart: %s %q", s["status"], s["error"])
	}
	if temps, _ := filepath.Glob(filepath.Join(dir, "slow", ".dbackup-tmp-*")); len(temps) != 0 {
		t.Fatalf("the killed upload's temporary file is still there: %v", temps)
	}
	out := e.run(t, "", "backup", "list", "-destination", "disk")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "quick/") {
		t.Fatalf("backups after restart:\n%s", out)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "slow")); len(entries) != 0 {
		t.Fatalf("left in the killed job's folder: %v", entries)
	}
}
