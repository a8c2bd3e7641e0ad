package app

import (
	"archive/tar"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/runner"
	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

func TestMultiDatabaseTarSelectiveRestoreWithRename(t *testing.T) {
	t.Parallel()
	src, want := seeded(t)
	other, _ := pgtest.NewDatabase(t, "dbackup_other")
	if _, err := pgtest.Connect(t, other).Exec(context.Background(), "CREATE TABLE notes AS SELECT g AS id, 'note ' || g AS body FROM generate_series(1, 1000) g"); err != nil {
		t.Fatal(err)
	}
	wantOther := pgtest.TableChecksums(t, other)
	a := setup(t)
	ctx := context.Background()
	pgSource(t, a, "pg", "postgres", "")
	dir := t.TempDir()
	localDest(t, a, "disk", dir)
	mustJob(t, a, JobInput{Name: "two dbs", Source: "pg", Databases: []string{other, src}, Destinations: dests("disk"), Compression: "none"})
	e, err := a.RunJob(ctx, "two dbs", backup.TriggerManual, false)
	if err != nil || e.Status != backup.StatusSuccess {
		t.Fatalf("backup: %v %s", err, e.Error)
	}
	if !strings.HasSuffix(e.BackupName, ".tar") {
		t.Fatalf("multi-database backup named %q, want .tar", e.BackupName)
	}
	// Uncompressed and unencrypted, it is a plain tar with the manifest first.
	f, _ := os.Open(filepath.Join(dir, e.BackupName))
	h, err := tar.NewReader(f).Next()
	f.Close()
	if err != nil || h.Name != "manifest.json" {
		t.Fatalf("first tar member %v, %v", h, err)
	}

	// Restore only the second database, under a new name.
	target := pgtest.Name("dbackup_renamed")
	pgtest.Drop(t, target)
	r := restore(t, a, runner.RestoreRequest{Destination: "disk", Key: e.BackupName, Source: "pg", Targets: map[string]string{src: target}})
	if r.Status != backup.StatusSuccess {
		t.Fatalf("restore: %s\n%s", r.Error, logsOf(t, a, r.ID))
	}
	if got := pgtest.TableChecksums(t, target); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatal("selected database restored with different data")
	}
	var n int
	pgtest.Connect(t, "").QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname LIKE $1", other+"%").Scan(&n)
	if n != 1 {
		t.Fatalf("the unselected database was restored too (%d matches)", n)
	}

	// Restoring into an existing non-empty database is refused without overwrite.
	r = restore(t, a, runner.RestoreRequest{Destination: "disk", Key: e.BackupName, Source: "pg", Targets: map[string]string{other: other}})
	if r.Status != backup.StatusFailed || !strings.Contains(r.Error, "already exists") {
		t.Fatalf("restore over an existing database: %s %q", r.Status, r.Error)
	}
	r = restore(t, a, runner.RestoreRequest{Destination: "disk", Key: e.BackupName, Source: "pg", Targets: map[string]string{other: other}, Overwrite: true})
	if r.Status != backup.StatusSuccess {
		t.Fatalf("restore with overwrite: %s\n%s", r.Error, logsOf(t, a, r.ID))
	}
	if got := pgtest.TableChecksums(t, other); fmt.Sprint(got) != fmt.Sprint(wantOther) {
		t.Fatal("overwritten database differs from the backup")
	}
	// Asking for a database the backup does not hold fails clearly.
	r = restore(t, a, runner.RestoreRequest{Destination: "disk", Key: e.BackupName, Source: "pg", Targets: map[string]string{"nope": "x"}})
	if r.Status != backup.StatusFailed || !strings.Contains(r.Error, `"nope" is not in this backup`) {
		t.Fatalf("restore of a missing database: %q", r.Error)
	}
}

// Several databases dumped at once still land whole, in order, and come
// back whole when restored at once.
func TestMultiDatabaseConcurrentDumpAndRestore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var dbs []string
	want := map[string]string{}
	for i := range 4 {
		db, _ := pgtest.NewDatabase(t, fmt.Sprintf("dbackup_conc%d", i))
		// Different sizes, so that the dumps end in another order than
		// they started.
		if _, err := pgtest.Connect(t, db).Exec(ctx, fmt.Sprintf("CREATE TABLE t%d AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, %d) g", i, 200_000/(i+1))); err != nil {
			t.Fatal(err)
		}
		dbs = append(dbs, db)
		want[db] = fmt.Sprint(pgtest.TableChecksums(t, db))
	}
	a := setup(t)
	if err := a.SetSetting(ctx, runner.SettingDumpConcurrency, "3"); err != nil {
		t.Fatal(err)
	}
	pgSource(t, a, "pg", "postgres", "")
	localDest(t, a, "disk", t.TempDir())
	mustJob(t, a, JobInput{Name: "four", Source: "pg", Databases: dbs, Destinations: dests("disk"), Compression: "zstd"})
	e, err := a.RunJob(ctx, "four", backup.TriggerManual, false)
	if err != nil || e.Status != backup.StatusSuccess {
		t.Fatalf("backup: %v %s", err, e.Error)
	}
	// The second and third dumps started before the first had finished.
	logs := logsOf(t, a, e.ID)
	firstDone := strings.Index(logs, "database "+dbs[0]+" dumped")
	for _, db := range dbs[1:3] {
		if i := strings.Index(logs, "dumping database "+db); i < 0 || i > firstDone {
			t.Fatalf("database %s was not dumped beside the first:\n%s", db, logs)
		}
	}
	targets := map[string]string{}
	for _, db := range dbs {
		targets[db] = db + "_r"
		pgtest.Drop(t, db+"_r")
	}
	r := restore(t, a, runner.RestoreRequest{Destination: "disk", Key: e.BackupName, Source: "pg", Targets: targets})
	if r.Status != backup.StatusSuccess {
		t.Fatalf("restore: %s\n%s", r.Error, logsOf(t, a, r.ID))
	}
	for _, db := range dbs {
		if got := fmt.Sprint(pgtest.TableChecksums(t, db+"_r")); got != want[db] {
			t.Fatalf("%s restored with different data", db)
		}
	}
}
