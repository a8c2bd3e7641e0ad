package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

// backupDays lists the days (MM-DD) of the backups of a job folder in dir.
func backupDays(t *testing.T, dir, folder string) []string {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(dir, folder))
	var out []string
	for _, e := range entries {
		n := e.Name()
		if strings.HasSuffix(n, ".meta.json") {
			continue
		}
		if i := strings.Index(n, "_2026-"); i >= 0 {
			out = append(out, n[:i]+" "+n[i+6:i+11])
		} else {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func TestRetentionAcrossSimulatedWeeks(t *testing.T) {
	t.Parallel()
	src, _ := pgtest.NewDatabase(t, "dbackup_ret")
	pgtest.Connect(t, src).Exec(context.Background(), "CREATE TABLE t AS SELECT generate_series(1, 100) AS id")
	var mu sync.Mutex
	clock := time.Date(2026, 11, 2, 2, 0, 0, 0, time.UTC) // Monday of ISO week 45
	a := setupWith(t, func(a *App) {
		a.Runner.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
		a.Runner.Location = time.UTC
	})
	setClock := func(t time.Time) { mu.Lock(); clock = t; mu.Unlock() }
	ctx := context.Background()
	pgSource(t, a, "pg", "postgres", "")
	d1, d2 := t.TempDir(), t.TempDir()
	localDest(t, a, "simple", d1)
	localDest(t, a, "gfs", d2)
	if _, err := a.CreatePolicy(ctx, PolicyInput{Name: "gfs-3d-2w", Policy: json.RawMessage(`{"mode":"gfs","daily":3,"weekly":2}`)}); err != nil {
		t.Fatal(err)
	}
	mustJob(t, a, JobInput{Name: "ret job", Source: "pg", Databases: []string{src}, Compression: "zstd", Destinations: []JobDestInput{
		{Destination: "simple", Retention: json.RawMessage(`{"mode":"simple","keep":3}`)}, {Destination: "gfs", Policy: "gfs-3d-2w"}}})
	// Another job whose folder name is the same once made safe.
	mustJob(t, a, JobInput{Name: "ret_job", Source: "pg", Databases: []string{src}, Destinations: dests("simple", "gfs")})
	run := func(job string, lock bool) *backup.Execution {
		t.Helper()
		e, err := a.RunJob(ctx, job, backup.TriggerSchedule, lock)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	if e := run("ret_job", false); e.Status != backup.StatusSuccess {
		t.Fatalf("other job: %s", e.Error)
	}
	os.WriteFile(filepath.Join(d1, "ret_job", "notes.txt"), []byte("a stray file"), 0o600)

	for day := 0; day < 21; day++ { // Nov 2 .. Nov 22
		setClock(time.Date(2026, 11, 2+day, 3, 0, 0, 0, time.UTC))
		if e := run("ret job", day == 1); e.Status != backup.StatusSuccess {
			t.Fatalf("day %d: %s %s\n%s", day, e.Status, e.Error, logsOf(t, a, e.ID))
		}
	}
	// simple keep 3: Nov 20-22, plus the locked Nov 3, the other job's backup
	// and the stray file.
	want1 := []string{"notes.txt", "ret_job 11-02", "ret_job 11-03", "ret_job 11-20", "ret_job 11-21", "ret_job 11-22"}
	// GFS daily 3 + weekly 2: days Nov 20-22 (ISO week 47); weekly W46 ->
	// Nov 15, W45 -> Nov 8; plus locked Nov 3 and the other job's backup.
	want2 := []string{"ret_job 11-02", "ret_job 11-03", "ret_job 11-08", "ret_job 11-15", "ret_job 11-20", "ret_job 11-21", "ret_job 11-22"}
	// Both jobs write ret_job_<date>; the other job's Nov 2 02:00 backup is
	// the "11-02" entry, the locked one of "ret job" the "11-03".
	if got := backupDays(t, d1, "ret_job"); fmt.Sprint(got) != fmt.Sprint(want1) {
		t.Fatalf("simple destination holds %v, want %v", got, want1)
	}
	if got := backupDays(t, d2, "ret_job"); fmt.Sprint(got) != fmt.Sprint(want2) {
		t.Fatalf("gfs destination holds %v, want %v", got, want2)
	}

	// A failed run deletes nothing.
	setClock(time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC))
	if _, err := a.UpdateJob(ctx, "ret job", JobInput{Name: "ret job", Source: "pg", Databases: []string{"no_such_db"}, Destinations: []JobDestInput{
		{Destination: "simple", Retention: json.RawMessage(`{"mode":"simple","keep":1}`)}, {Destination: "gfs", Policy: "gfs-3d-2w"}}}); err != nil {
		t.Fatal(err)
	}
	if e := run("ret job", false); e.Status != backup.StatusFailed {
		t.Fatalf("broken job: %s", e.Status)
	}
	if got := backupDays(t, d1, "ret_job"); fmt.Sprint(got) != fmt.Sprint(want1) {
		t.Fatalf("a failed run changed the simple destination: %v", got)
	}

	// Partial: the simple destination is unreachable, so its retention does
	// not run; the gfs one rotates.
	if _, err := a.UpdateEndpoint(ctx, KindDestination, "simple", EndpointInput{Config: raw(map[string]string{"path": filepath.Join(d1, "missing")})}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.UpdateJob(ctx, "ret job", JobInput{Name: "ret job", Source: "pg", Databases: []string{src}, Destinations: []JobDestInput{
		{Destination: "simple", Retention: json.RawMessage(`{"mode":"simple","keep":1}`)}, {Destination: "gfs", Policy: "gfs-3d-2w"}}}); err != nil {
		t.Fatal(err)
	}
	e := run("ret job", false)
	if e.Status != backup.StatusPartial {
		t.Fatalf("status %s, want partial", e.Status)
	}
	if !strings.Contains(logsOf(t, a, e.ID), "destination simple: retention skipped") {
		t.Fatal("the log does not say retention was skipped for the failed destination")
	}
	if got := backupDays(t, d1, "ret_job"); fmt.Sprint(got) != fmt.Sprint(want1) {
		t.Fatalf("the failed destination's backups changed: %v", got)
	}
	// Nov 23 (W48) joins; daily keeps 23, 22, 21; weekly W47 -> used, W46 -> 15, W45 -> 8.
	want2b := []string{"ret_job 11-02", "ret_job 11-03", "ret_job 11-08", "ret_job 11-15", "ret_job 11-21", "ret_job 11-22", "ret_job 11-23"}
	if got := backupDays(t, d2, "ret_job"); fmt.Sprint(got) != fmt.Sprint(want2b) {
		t.Fatalf("gfs destination after the partial run holds %v, want %v", got, want2b)
	}

	// Safety rail: switching gfs to keep-1 would delete 4 of 6: blocked.
	if _, err := a.UpdatePolicy(ctx, "gfs-3d-2w", PolicyInput{Name: "gfs-3d-2w", Policy: json.RawMessage(`{"mode":"simple","keep":1}`)}); err != nil {
		t.Fatal(err)
	}
	plans, err := a.PlanRetention(ctx, "ret job", "gfs", nil)
	if err != nil || len(plans) != 1 {
		t.Fatal(plans, err)
	}
	p := plans[0]
	if p.Delete != 4 || p.Keep != 2 || !strings.Contains(p.Blocked, "more than the 50% allowed") {
		t.Fatalf("dry-run: keep %d delete %d blocked %q", p.Keep, p.Delete, p.Blocked)
	}
	if len(p.Ignored) != 1 || !strings.Contains(p.Ignored[0].Reason, "another job") {
		t.Fatalf("ignored: %+v", p.Ignored)
	}
	for _, d := range p.Decisions {
		if d.Locked && (!d.Keep || d.Reason != "locked") {
			t.Fatalf("locked backup decision %+v", d)
		}
	}
	logf := func(backup.Level, string) {}
	if res, _ := a.ApplyRetention(ctx, "ret job", "gfs", false, logf); res[0].Deleted != 0 {
		t.Fatal("a blocked plan deleted backups")
	}
	if got := backupDays(t, d2, "ret_job"); len(got) != len(want2b) {
		t.Fatal("a blocked plan changed the destination")
	}
	res, _ := a.ApplyRetention(ctx, "ret job", "gfs", true, logf)
	if res[0].Deleted != 4 {
		t.Fatalf("forced apply deleted %d, want 4", res[0].Deleted)
	}
	if got := backupDays(t, d2, "ret_job"); fmt.Sprint(got) != "[ret_job 11-02 ret_job 11-03 ret_job 11-23]" {
		t.Fatalf("after forced apply: %v", got)
	}
	// A preview of another policy changes nothing.
	plans, err = a.PlanRetention(ctx, "ret job", "", json.RawMessage(`{"mode":"gfs","daily":1}`))
	if err != nil || len(plans) != 2 || plans[0].Error == "" || plans[1].Error != "" || plans[1].Delete != 0 || plans[1].Keep != 2 || plans[1].PolicySource != "preview" {
		t.Fatalf("preview plans: %+v %v", plans, err)
	}
	if got := backupDays(t, d2, "ret_job"); fmt.Sprint(got) != "[ret_job 11-02 ret_job 11-03 ret_job 11-23]" {
		t.Fatal("a preview deleted backups")
	}
	// Locked backups can still be deleted by hand, and unlocking works.
	list, _ := a.ListBackups(ctx, "gfs", "ret job")
	var locked string
	for _, b := range list.Backups {
		if b.Meta.Locked {
			locked = b.Key
		}
	}
	if m, err := a.SetLock(ctx, "gfs", locked, false); err != nil || m.Locked {
		t.Fatalf("unlock: %v", err)
	}
	if m, _ := a.SetLock(ctx, "gfs", locked, true); !m.Locked {
		t.Fatal("lock did not stick")
	}
	if err := a.DeleteBackup(ctx, "gfs", locked); err != nil {
		t.Fatal(err)
	}
	if got := backupDays(t, d2, "ret_job"); fmt.Sprint(got) != "[ret_job 11-02 ret_job 11-23]" {
		t.Fatalf("after deleting the locked backup: %v", got)
	}
}

func TestRetentionDeleteFailureIsLoggedNotFatal(t *testing.T) {
	t.Parallel()
	src, _ := pgtest.NewDatabase(t, "dbackup_ret_fail")
	pgtest.Connect(t, src).Exec(context.Background(), "CREATE TABLE t AS SELECT generate_series(1, 10) AS id")
	var mu sync.Mutex
	clock := time.Date(2026, 11, 2, 3, 0, 0, 0, time.UTC)
	a := setupWith(t, func(a *App) { a.Runner.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock } })
	ctx := context.Background()
	pgSource(t, a, "pg", "postgres", "")
	dir := t.TempDir()
	localDest(t, a, "disk", dir)
	mustJob(t, a, JobInput{Name: "j", Source: "pg", Databases: []string{src}, Destinations: []JobDestInput{{Destination: "disk", Retention: json.RawMessage(`{"mode":"simple","keep":1}`)}}})
	first, err := a.RunJob(ctx, "j", backup.TriggerManual, false)
	if err != nil || first.Status != backup.StatusSuccess {
		t.Fatal(err, first.Error)
	}
	// The old backup's sidecar cannot be removed (an immutable file).
	sidecar := filepath.Join(dir, first.BackupName+".meta.json")
	if out, err := exec.Command("chattr", "+i", sidecar).CombinedOutput(); err != nil {
		t.Fatalf("chattr +i (the tests run as root on ext4): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", sidecar).Run() })
	mu.Lock()
	clock = clock.Add(24 * time.Hour)
	mu.Unlock()
	e, err := a.RunJob(ctx, "j", backup.TriggerManual, false)
	if err != nil {
		t.Fatal(err)
	}
	if e.Status != backup.StatusSuccess {
		t.Fatalf("a failed retention delete changed the run to %s: %s", e.Status, e.Error)
	}
	if log := logsOf(t, a, e.ID); !strings.Contains(log, "warn [retention] destination disk: retention could not delete "+first.BackupName) {
		t.Fatalf("the failed delete is not in the log:\n%s", log)
	}
	if list, _ := a.ListBackups(ctx, "disk", "j"); len(list.Backups) != 2 {
		t.Fatalf("%d backups listed, want both (the old one could not be deleted)", len(list.Backups))
	}
}
