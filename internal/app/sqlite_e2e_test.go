package app

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/runner"
)

func TestSQLiteBackupRestore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, data BLOB)")
	db.Exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 5000) INSERT INTO items SELECT i, 'item ' || i || ' ✓', randomblob(64) FROM n")
	var want string
	db.QueryRow("SELECT count(*) || ':' || sum(length(name)) || ':' || hex(sum(id)) FROM items").Scan(&want)

	a := setup(t)
	ctx := context.Background()
	if _, err := a.CreateEndpoint(ctx, KindSource, EndpointInput{Name: "lite", Type: "sqlite", Config: raw(map[string]string{"path": path})}); err != nil {
		t.Fatal(err)
	}
	localDest(t, a, "disk", t.TempDir())
	a.CreateProfile(ctx, "k", "")
	mustJob(t, a, JobInput{Name: "lite", Source: "lite", Destinations: dests("disk"), Profile: "k"})
	e, err := a.RunJob(ctx, "lite", backup.TriggerManual, false)
	if err != nil || e.Status != backup.StatusSuccess || !strings.HasSuffix(e.BackupName, ".db.zst.enc") {
		t.Fatalf("backup: %v %s %s", err, e.BackupName, e.Error)
	}
	target := filepath.Join(dir, "restored.db")
	r := restore(t, a, runner.RestoreRequest{Destination: "disk", Key: e.BackupName, Source: "lite", Targets: map[string]string{"app.db": target}})
	if r.Status != backup.StatusSuccess {
		t.Fatalf("restore: %s\n%s", r.Error, logsOf(t, a, r.ID))
	}
	rdb, _ := sql.Open("sqlite", "file:"+target+"?mode=ro")
	defer rdb.Close()
	var got, check string
	rdb.QueryRow("SELECT count(*) || ':' || sum(length(name)) || ':' || hex(sum(id)) FROM items").Scan(&got)
	rdb.QueryRow("PRAGMA integrity_check").Scan(&check)
	if got != want || check != "ok" {
		t.Fatalf("restored: %q (integrity %q), want %q", got, check, want)
	}
	mustJob(t, a, JobInput{Name: "lite-wrong-db", Source: "lite", Databases: []string{"other.db"}, Destinations: dests("disk")})
	if e, _ := a.RunJob(ctx, "lite-wrong-db", backup.TriggerManual, false); e.Status != backup.StatusFailed || !strings.Contains(e.Error, `database "other.db" does not exist`) {
		t.Fatalf("unknown database: %s %q", e.Status, e.Error)
	}
}
