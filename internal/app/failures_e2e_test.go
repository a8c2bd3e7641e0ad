package app

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/runner"
	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

// expectFailed runs job and checks it failed with msg and left no backup
// (and no temporary file) at any of the destination directories.
func expectFailed(t *testing.T, a *App, job, msg string, dirs ...string) *backup.Execution {
	t.Helper()
	e, err := a.RunJob(context.Background(), job, backup.TriggerManual, false)
	if err != nil {
		t.Fatal(err)
	}
	if e.Status != backup.StatusFailed {
		t.Fatalf("status %s, want failed\n%s", e.Status, logsOf(t, a, e.ID))
	}
	if !strings.Contains(e.Error, msg) {
		t.Fatalf("error %q does not say %q", e.Error, msg)
	}
	for _, d := range dirs {
		assertEmpty(t, d)
	}
	return e
}

// assertEmpty checks that a destination directory holds no file at all.
func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}

func TestSourceFailuresAreClearAndLeaveNothing(t *testing.T) {
	t.Parallel()
	src, _ := seeded(t)
	a := setup(t)
	ctx := context.Background()
	dir := t.TempDir()
	localDest(t, a, "disk", dir)

	pgSource(t, a, "wrong-pw", "dbackup_pw", "not-the-password")
	mustJob(t, a, JobInput{Name: "wrong-pw", Source: "wrong-pw", Databases: []string{src}, Destinations: dests("disk")})
	e := expectFailed(t, a, "wrong-pw", "wrong password", dir)
	if strings.Contains(logsOf(t, a, e.ID), "not-the-password") {
		t.Fatal("the password appears in the execution log")
	}

	_, err := a.CreateEndpoint(ctx, KindSource, EndpointInput{Name: "nowhere", Type: "postgres", Config: raw(map[string]any{"host": "127.0.0.1", "port": 1, "sslmode": "disable"})})
	if err != nil {
		t.Fatal(err)
	}
	mustJob(t, a, JobInput{Name: "unreachable", Source: "nowhere", Destinations: dests("disk")})
	expectFailed(t, a, "unreachable", "cannot reach postgres at 127.0.0.1:1", dir)

	pgSource(t, a, "pg", "postgres", "")
	mustJob(t, a, JobInput{Name: "missing-db", Source: "pg", Databases: []string{"no_such_db_x"}, Destinations: dests("disk")})
	expectFailed(t, a, "missing-db", `database "no_such_db_x" does not exist`, dir)
}

func TestPgDumpKilledMidStream(t *testing.T) {
	t.Parallel()
	src, _ := seeded(t)
	a := setup(t)
	bin := t.TempDir()
	// A pg_dump that is killed by SIGKILL after writing part of a real dump.
	script := "#!/bin/sh\n/usr/bin/pg_dump \"$@\" | head -c 300000\nkill -9 $$\n"
	os.WriteFile(filepath.Join(bin, "pg_dump"), []byte(script), 0o755)
	_, err := a.CreateEndpoint(context.Background(), KindSource, EndpointInput{Name: "pg", Type: "postgres",
		Config: raw(map[string]any{"host": "127.0.0.1", "user": "postgres", "sslmode": "disable", "bin_dir": bin})})
	if err != nil {
		t.Fatal(err)
	}
	d1, d2 := t.TempDir(), t.TempDir()
	localDest(t, a, "a", d1)
	localDest(t, a, "b", d2)
	mustJob(t, a, JobInput{Name: "killed", Source: "pg", Databases: []string{src}, Destinations: dests("a", "b"), Compression: "gzip"})
	e := expectFailed(t, a, "killed", "killed by signal", d1, d2)
	for _, r := range e.Destinations {
		if r.Status != backup.StatusFailed {
			t.Fatalf("destination %s is %s after an aborted dump", r.Name, r.Status)
		}
	}
}

func TestOneDestinationFailsRunIsPartialAndGoodOneRestores(t *testing.T) {
	t.Parallel()
	src, want := seeded(t)
	a := setup(t)
	ctx := context.Background()
	pgSource(t, a, "pg", "postgres", "")
	good, bad := t.TempDir(), t.TempDir()
	localDest(t, a, "good", good)
	localDest(t, a, "bad", bad)
	localDest(t, a, "gone", filepath.Join(t.TempDir(), "does-not-exist"))
	// The job's folder cannot be created at "bad": a file sits in its place.
	os.WriteFile(filepath.Join(bad, "partial_job"), []byte("in the way"), 0o600)
	mustJob(t, a, JobInput{Name: "partial job", Source: "pg", Databases: []string{src}, Destinations: dests("bad", "good", "gone")})
	e, err := a.RunJob(ctx, "partial job", backup.TriggerManual, false)
	if err != nil {
		t.Fatal(err)
	}
	if e.Status != backup.StatusPartial {
		t.Fatalf("status %s, want partial: %s", e.Status, e.Error)
	}
	byName := map[string]backup.DestResult{}
	for _, r := range e.Destinations {
		byName[r.Name] = r
	}
	if byName["good"].Status != backup.StatusSuccess || byName["bad"].Status != backup.StatusFailed || byName["gone"].Status != backup.StatusFailed {
		t.Fatalf("destination results: %+v", e.Destinations)
	}
	if !strings.Contains(e.Error, "bad:") || !strings.Contains(e.Error, "gone:") {
		t.Fatalf("error %q does not name the failed destinations", e.Error)
	}
	if list, _ := a.ListBackups(ctx, "bad", ""); len(list.Backups) != 0 {
		t.Fatalf("the failed destination lists %v", list.Backups)
	}
	target := pgtest.Name("dbackup_partial")
	pgtest.Drop(t, target)
	r := restore(t, a, runner.RestoreRequest{Destination: "good", Key: e.BackupName, Source: "pg", Targets: map[string]string{src: target}})
	if r.Status != backup.StatusSuccess {
		t.Fatalf("restore from the good destination: %s", r.Error)
	}
	if got := pgtest.TableChecksums(t, target); len(got) != len(want) || got["public.big"] != want["public.big"] {
		t.Fatal("restored data differs")
	}
}

func TestDiskFull(t *testing.T) {
	t.Parallel()
	src, _ := seeded(t)
	a := setup(t)
	pgSource(t, a, "pg", "postgres", "")
	full := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", full).CombinedOutput(); err != nil {
		t.Fatalf("mount a small tmpfs (the tests run as root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", full).Run() })
	roomy := t.TempDir()
	localDest(t, a, "full", full)
	localDest(t, a, "roomy", roomy)
	mustJob(t, a, JobInput{Name: "fills", Source: "pg", Databases: []string{src}, Destinations: dests("full", "roomy"), Compression: "none"})
	e, err := a.RunJob(context.Background(), "fills", backup.TriggerManual, false)
	if err != nil {
		t.Fatal(err)
	}
	if e.Status != backup.StatusPartial || !strings.Contains(e.Error, "no space left on device") {
		t.Fatalf("status %s error %q, want partial with no space left", e.Status, e.Error)
	}
	assertEmpty(t, full)
	if list, _ := a.ListBackups(context.Background(), "roomy", ""); len(list.Backups) != 1 {
		t.Fatal("the destination with room has no backup")
	}
}

func TestRestoreRefusesBadBackupsBeforeTouchingTheTarget(t *testing.T) {
	t.Parallel()
	src, _ := seeded(t)
	a := setup(t)
	ctx := context.Background()
	pgSource(t, a, "pg", "postgres", "")
	dir := t.TempDir()
	localDest(t, a, "disk", dir)
	if _, err := a.CreateProfile(ctx, "k", ""); err != nil {
		t.Fatal(err)
	}
	mustJob(t, a, JobInput{Name: "j", Source: "pg", Databases: []string{src}, Destinations: dests("disk"), Profile: "k"})
	e, err := a.RunJob(ctx, "j", backup.TriggerManual, false)
	if err != nil || e.Status != backup.StatusSuccess {
		t.Fatalf("backup: %v %v", err, e.Error)
	}
	data := filepath.Join(dir, e.BackupName)
	orig, _ := os.ReadFile(data)

	tryRestore := func(name string, req runner.RestoreRequest, wantMsg string) {
		t.Helper()
		target := pgtest.Name("dbackup_refused")
		pgtest.Drop(t, target)
		req.Destination, req.Key, req.Source, req.Targets = "disk", e.BackupName, "pg", map[string]string{src: target}
		r := restore(t, a, req)
		if r.Status != backup.StatusFailed || !strings.Contains(r.Error, wantMsg) {
			t.Fatalf("%s: restore %s %q, want failed with %q", name, r.Status, r.Error, wantMsg)
		}
		var exists bool
		pgtest.Connect(t, "").QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", target).Scan(&exists)
		if exists {
			t.Fatalf("%s: the target database was created", name)
		}
	}
	tryRestore("wrong key", runner.RestoreRequest{MasterKey: make([]byte, 32)}, "wrong encryption key")

	os.WriteFile(data, orig[:len(orig)-1000], 0o600)
	tryRestore("truncated", runner.RestoreRequest{}, "truncated")

	flipped := append([]byte(nil), orig...)
	flipped[len(flipped)/2] ^= 0x01
	os.WriteFile(data, flipped, 0o600)
	tryRestore("one byte flipped", runner.RestoreRequest{}, "corrupted or was tampered with")

	// The same flipped byte with a matching sidecar hash is still caught by
	// the container's authentication.
	os.WriteFile(data, orig, 0o600)
	if _, err := a.VerifyBackup(ctx, "disk", e.BackupName); err != nil {
		t.Fatalf("verify of the intact backup: %v", err)
	}
	os.WriteFile(data, flipped, 0o600)
	if _, err := a.VerifyBackup(ctx, "disk", e.BackupName); err == nil {
		t.Fatal("verify passed a tampered backup")
	}
}

func TestCancelRunningBackupCommitsNothing(t *testing.T) {
	t.Parallel()
	src, _ := seeded(t)
	a := setup(t)
	bin := t.TempDir()
	// A slow pg_dump: real output, then a long pause before the end.
	os.WriteFile(filepath.Join(bin, "pg_dump"), []byte("#!/bin/sh\n/usr/bin/pg_dump \"$@\" | head -c 100000\nsleep 60\n"), 0o755)
	_, err := a.CreateEndpoint(context.Background(), KindSource, EndpointInput{Name: "pg", Type: "postgres",
		Config: raw(map[string]any{"host": "127.0.0.1", "user": "postgres", "sslmode": "disable", "bin_dir": bin})})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	localDest(t, a, "disk", dir)
	mustJob(t, a, JobInput{Name: "slow", Source: "pg", Databases: []string{src}, Destinations: dests("disk")})
	e, err := a.StartJob(context.Background(), "slow", backup.TriggerAPI, false)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		x, _ := a.Store.GetExecution(context.Background(), e.ID)
		return x.Stage == backup.StageDump && x.BytesDumped > 0
	})
	start := time.Now()
	if _, err := a.Cancel(WithPrincipal(context.Background(), &Principal{Actor: "user:alice"}), e.ID); err != nil {
		t.Fatal(err)
	}
	var final *backup.Execution
	waitFor(t, func() bool {
		final, _ = a.Store.GetExecution(context.Background(), e.ID)
		return final.Status.Terminal()
	})
	if final.Status != backup.StatusCancelled || final.Error != "cancelled by alice" {
		t.Fatalf("status %s (%q), want cancelled by alice", final.Status, final.Error)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("cancel took %s: the dump's process group was not killed", took)
	}
	assertEmpty(t, dir)
	if _, err := a.Cancel(context.Background(), e.ID); !errors.Is(err, backup.ErrInvalid) {
		t.Fatalf("cancel of a finished run: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRestorePreflightRefusesNewerMajorUnlessForced(t *testing.T) {
	t.Parallel()
	src, _ := pgtest.NewDatabase(t, "dbackup_preflight")
	pgtest.Connect(t, src).Exec(context.Background(), "CREATE TABLE t AS SELECT generate_series(1, 10) AS id")
	a := setup(t)
	ctx := context.Background()
	pgSource(t, a, "pg", "postgres", "")
	dir := t.TempDir()
	localDest(t, a, "disk", dir)
	mustJob(t, a, JobInput{Name: "j", Source: "pg", Databases: []string{src}, Destinations: dests("disk")})
	e, _ := a.RunJob(ctx, "j", backup.TriggerManual, false)
	sidecar := filepath.Join(dir, e.BackupName+".meta.json")
	b, _ := os.ReadFile(sidecar)
	os.WriteFile(sidecar, []byte(strings.Replace(string(b), `"engine_version": "15.`, `"engine_version": "99.`, 1)), 0o600)
	// A sidecar edited by hand is no longer authenticated: an admin trusts it.
	if _, err := a.TrustBackup(ctx, "disk", e.BackupName, nil); err != nil {
		t.Fatal(err)
	}
	target := pgtest.Name("dbackup_preflight_r")
	pgtest.Drop(t, target)
	req := runner.RestoreRequest{Destination: "disk", Key: e.BackupName, Source: "pg", Targets: map[string]string{src: target}}
	r := restore(t, a, req)
	if r.Status != backup.StatusFailed || !strings.Contains(r.Error, "newer than the target's") {
		t.Fatalf("restore of a newer major: %s %q", r.Status, r.Error)
	}
	req.Force = true
	if r = restore(t, a, req); r.Status != backup.StatusSuccess {
		t.Fatalf("forced restore: %s", r.Error)
	}
}
