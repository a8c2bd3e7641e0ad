package app

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/runner"
	"github.com/dbackup/dbackup/internal/testutil/mytest"
)

func mysqlSource(t *testing.T, a *App, name, user, password string) {
	t.Helper()
	in := EndpointInput{Name: name, Type: "mysql", Config: raw(map[string]any{"host": "127.0.0.1", "port": 3306, "user": user, "sslmode": "disable"})}
	if password != "" {
		in.Secrets = map[string]string{"password": password}
	}
	if _, err := a.CreateEndpoint(context.Background(), KindSource, in); err != nil {
		t.Fatal(err)
	}
}

func TestMariaDBBackupRestoreRoundTrip(t *testing.T) {
	t.Parallel()
	db := mytest.NewDatabase(t, "dbackup_my")
	mytest.SeedAwkward(t, db, 100_000)
	want := mytest.Checksums(t, db)
	t.Logf("comparing %d objects: %v", len(want), want)
	other := mytest.NewDatabase(t, "dbackup_my2")
	mytest.Open(t, other).Exec("CREATE TABLE notes (id INT PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'one'), (2, 'two')")
	wantOther := mytest.Checksums(t, other)

	a := setup(t)
	ctx := context.Background()
	mysqlSource(t, a, "maria", "dbackup_pw", "dbackup-test-pw")
	localDest(t, a, "disk", t.TempDir())
	a.CreateProfile(ctx, "k", "")
	mustJob(t, a, JobInput{Name: "maria-one", Source: "maria", Databases: []string{db}, Destinations: dests("disk"), Profile: "k"})
	mustJob(t, a, JobInput{Name: "maria-two", Source: "maria", Databases: []string{db, other}, Destinations: dests("disk"), Compression: "gzip"})

	e, err := a.RunJob(ctx, "maria-one", backup.TriggerManual, false)
	if err != nil || e.Status != backup.StatusSuccess {
		t.Fatalf("backup: %v %s\n%s", err, e.Error, logsOf(t, a, e.ID))
	}
	if !strings.HasSuffix(e.BackupName, ".sql.zst.enc") {
		t.Fatalf("backup name %s", e.BackupName)
	}
	if log := logsOf(t, a, e.ID); strings.Contains(log, "dbackup-test-pw") || !strings.Contains(log, "--single-transaction") {
		t.Fatalf("execution log:\n%s", log)
	}
	target := mytest.Name("dbackup_my_restored")
	mytest.Drop(t, target)
	r := restore(t, a, runner.RestoreRequest{Destination: "disk", Key: e.BackupName, Source: "maria", Targets: map[string]string{db: target}})
	if r.Status != backup.StatusSuccess {
		t.Fatalf("restore: %s\n%s", r.Error, logsOf(t, a, r.ID))
	}
	if got := mytest.Checksums(t, target); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("restored database differs:\n got %v\nwant %v", got, want)
	}

	// Two databases in one tar; restore only the second, renamed.
	e2, _ := a.RunJob(ctx, "maria-two", backup.TriggerManual, false)
	if e2.Status != backup.StatusSuccess || !strings.HasSuffix(e2.BackupName, ".tar.gz") {
		t.Fatalf("multi-database backup: %s %s %s", e2.Status, e2.BackupName, e2.Error)
	}
	target2 := mytest.Name("dbackup_my_notes")
	mytest.Drop(t, target2)
	r = restore(t, a, runner.RestoreRequest{Destination: "disk", Key: e2.BackupName, Source: "maria", Targets: map[string]string{other: target2}})
	if r.Status != backup.StatusSuccess {
		t.Fatalf("selective restore: %s", r.Error)
	}
	if got := mytest.Checksums(t, target2); fmt.Sprint(got) != fmt.Sprint(wantOther) {
		t.Fatalf("selectively restored database differs: %v", got)
	}
	// Restoring over a non-empty database is refused without overwrite.
	r = restore(t, a, runner.RestoreRequest{Destination: "disk", Key: e.BackupName, Source: "maria", Targets: map[string]string{db: target}})
	if r.Status != backup.StatusFailed || !strings.Contains(r.Error, "already exists") {
		t.Fatalf("restore over a database with tables: %s %q", r.Status, r.Error)
	}
}

func TestMariaDBFailuresAreClear(t *testing.T) {
	t.Parallel()
	db := mytest.NewDatabase(t, "dbackup_myf")
	a := setup(t)
	dir := t.TempDir()
	localDest(t, a, "disk", dir)
	mysqlSource(t, a, "wrong", "dbackup_pw", "not-the-password")
	mysqlSource(t, a, "maria", "root", "")
	if _, err := a.CreateEndpoint(context.Background(), KindSource, EndpointInput{Name: "nowhere", Type: "mysql", Config: raw(map[string]any{"host": "127.0.0.1", "port": 1})}); err != nil {
		t.Fatal(err)
	}
	mustJob(t, a, JobInput{Name: "wrong-pw", Source: "wrong", Databases: []string{db}, Destinations: dests("disk")})
	mustJob(t, a, JobInput{Name: "unreachable", Source: "nowhere", Destinations: dests("disk")})
	mustJob(t, a, JobInput{Name: "missing", Source: "maria", Databases: []string{"no_such_db"}, Destinations: dests("disk")})
	for job, want := range map[string]string{"wrong-pw": "wrong password", "unreachable": "cannot reach mysql at 127.0.0.1:1", "missing": `database "no_such_db" does not exist`} {
		e := expectFailed(t, a, job, want, dir)
		if strings.Contains(logsOf(t, a, e.ID), "not-the-password") {
			t.Fatal("the password appears in the log")
		}
	}
}
