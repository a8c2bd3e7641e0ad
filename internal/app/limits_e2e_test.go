package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/store"
)

// hangingSource registers a source whose pg_dump streams a little, then hangs.
func hangingSource(t *testing.T, a *App, name string) {
	t.Helper()
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "pg_dump"), []byte("#!/bin/sh\n/usr/bin/pg_dump \"$@\" | head -c 1000\nexec sleep 60\n"), 0o755)
	if _, err := a.CreateEndpoint(context.Background(), KindSource, EndpointInput{Name: name, Type: "postgres",
		Config: raw(map[string]any{"host": "127.0.0.1", "user": "postgres", "sslmode": "disable", "bin_dir": bin})}); err != nil {
		t.Fatal(err)
	}
}

func TestStallWatchdogAndMaxDuration(t *testing.T) {
	t.Parallel()
	a := setup(t)
	ctx := context.Background()
	db := tinyDB(t)
	hangingSource(t, a, "hangs")
	dir := t.TempDir()
	localDest(t, a, "disk", dir)
	mustJob(t, a, JobInput{Name: "stalls", Source: "hangs", Databases: []string{db}, Destinations: dests("disk"), StallTimeout: backup.Duration(2 * time.Second)})
	mustJob(t, a, JobInput{Name: "too-long", Source: "hangs", Databases: []string{db}, Destinations: dests("disk"), MaxDuration: backup.Duration(2 * time.Second)})
	for job, want := range map[string]string{"stalls": "stalled: no data moved for 2s", "too-long": "exceeded its maximum duration (2s)"} {
		start := time.Now()
		e, err := a.RunJob(ctx, job, backup.TriggerManual, false)
		if err != nil {
			t.Fatal(err)
		}
		if e.Status != backup.StatusFailed || !strings.Contains(e.Error, want) {
			t.Fatalf("%s: %s %q, want failed with %q", job, e.Status, e.Error, want)
		}
		if took := time.Since(start); took > 20*time.Second {
			t.Fatalf("%s took %s", job, took)
		}
	}
	assertEmpty(t, dir)
}

func TestRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	a := setup(t)
	ctx := context.Background()
	pgSource(t, a, "pg", "postgres", "")
	localDest(t, a, "disk", t.TempDir())
	j := mustJob(t, a, JobInput{Name: "flaky", Source: "pg", Databases: []string{"no_such_db"}, Destinations: dests("disk"),
		Retries: 2, RetryBackoff: backup.Duration(time.Second)})
	first, _ := a.StartJob(ctx, "flaky", backup.TriggerAPI, false)
	var list []*backup.Execution
	waitFor(t, func() bool {
		list, _ = a.Store.ListExecutions(ctx, store.ExecutionFilter{JobID: j.ID})
		return len(list) == 3 && list[0].Status.Terminal()
	})
	time.Sleep(3 * time.Second) // no fourth attempt comes
	list, _ = a.Store.ListExecutions(ctx, store.ExecutionFilter{JobID: j.ID})
	if len(list) != 3 {
		t.Fatalf("%d executions, want the first and 2 retries", len(list))
	}
	// Newest first: attempt 3 (backoff 2s after 2), attempt 2 (1s after 1), attempt 1.
	if list[2].ID != first.ID || list[1].Attempt != 2 || list[0].Attempt != 3 || list[0].Trigger != backup.TriggerRetry {
		t.Fatalf("attempts: %d %d %d", list[2].Attempt, list[1].Attempt, list[0].Attempt)
	}
	gap1 := list[1].StartedAt.Sub(*list[2].EndedAt)
	gap2 := list[0].StartedAt.Sub(*list[1].EndedAt)
	if gap1 < time.Second || gap2 < 2*time.Second {
		t.Fatalf("retries came %s and %s after the failures, want at least 1s and 2s", gap1, gap2)
	}
}

func TestGracefulShutdownLetsBackupsFinishWithinGrace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := tinyDB(t)
	for _, c := range []struct {
		grace, want string
	}{{"20", "success"}, {"1", "failed"}} {
		a := setup(t)
		a.SetSetting(ctx, SettingShutdownGrace, c.grace)
		slowSource(t, a, "pg", "3")
		localDest(t, a, "disk", t.TempDir())
		mustJob(t, a, JobInput{Name: "j", Source: "pg", Databases: []string{db}, Destinations: dests("disk")})
		e, _ := a.StartJob(ctx, "j", backup.TriggerAPI, false)
		waitFor(t, func() bool { x, _ := a.Store.GetExecution(ctx, e.ID); return x.Status == backup.StatusRunning })
		a.StopServing()
		x, _ := a.Store.GetExecution(ctx, e.ID)
		if string(x.Status) != c.want {
			t.Fatalf("grace %ss: %s %q, want %s", c.grace, x.Status, x.Error, c.want)
		}
		if c.want == "failed" {
			// Cut short by the stop, it is queued again as after a crash.
			if !strings.Contains(x.Error, "queued again") {
				t.Fatalf("cancelled at shutdown with %q", x.Error)
			}
			queued, _ := a.Store.ListExecutions(ctx, store.ExecutionFilter{Status: backup.StatusQueued})
			if len(queued) != 1 || queued[0].JobID != x.JobID || queued[0].Trigger != backup.TriggerRetry {
				t.Fatalf("after the stop, queued: %+v", queued)
			}
		}
	}
}
