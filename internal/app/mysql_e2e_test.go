package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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

// A MariaDB backup that carries client commands (`\! cmd`, `system cmd`)
// cannot run them on this host when restored, even once it is trusted:
// the client runs in its sandbox. The restore fails, nothing is written.
func TestMariaDBRestoreCannotRunShellCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mytest.NewDatabase(t, "dbackup_sandbox")
	mytest.Open(t, db).Exec("CREATE TABLE t (id INT PRIMARY KEY)")
	mytest.Open(t, db).Exec("INSERT INTO t VALUES (1), (2), (3)")
	a := setup(t)
	mysqlSource(t, a, "maria", "root", "")
	dir := t.TempDir()
	localDest(t, a, "disk", dir)
	mustJob(t, a, JobInput{Name: "j", Source: "maria", Databases: []string{db}, Destinations: dests("disk"), Compression: "none"})
	e, err := a.RunJob(ctx, "j", backup.TriggerManual, false)
	if err != nil || e.Status != backup.StatusSuccess {
		t.Fatalf("backup: %v %s", err, e.Error)
	}
	marker := filepath.Join(t.TempDir(), "pwned")
	data := filepath.Join(dir, e.BackupName)
	dump, _ := os.ReadFile(data)
	i := bytes.Index(dump, []byte("\nCREATE TABLE"))
	planted := append(append(bytes.Clone(dump[:i+1]), []byte("\\! touch "+marker+"\nsystem touch "+marker+"\n")...), dump[i+1:]...)
	os.WriteFile(data, planted, 0o600)
	sidecar := data + backup.MetaSuffix
	m, _ := os.ReadFile(sidecar)
	var meta map[string]any
	json.Unmarshal(m, &meta)
	sum := sha256.Sum256(planted)
	meta["size"], meta["sha256"] = len(planted), hex.EncodeToString(sum[:])
	delete(meta, "mac")
	m, _ = json.MarshalIndent(meta, "", "  ")
	os.WriteFile(sidecar, append(m, '\n'), 0o600)
	if _, err := a.TrustBackup(ctx, "disk", e.BackupName, nil); err != nil {
		t.Fatal(err)
	}
	target := mytest.Name("dbackup_sandbox_r")
	mytest.Drop(t, target)
	r := restore(t, a, runner.RestoreRequest{Destination: "disk", Key: e.BackupName, Source: "maria", Targets: map[string]string{db: target}})
	if r.Status != backup.StatusFailed || !strings.Contains(r.Error, "sandbox") {
		t.Fatalf("restore of a dump with client commands: %s %q\n%s", r.Status, r.Error, logsOf(t, a, r.ID))
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a command planted in a backup ran on the dbackup host")
	}
	var n int
	mytest.Open(t, "").QueryRow("SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?", target).Scan(&n)
	if n != 0 {
		t.Fatal("the refused restore left its database")
	}
}
