package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/store"
	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

// slowSource registers a source whose pg_dump waits before dumping.
func slowSource(t *testing.T, a *App, name string, delay string) {
	t.Helper()
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "pg_dump"), []byte("#!/bin/sh\nsleep "+delay+"\nexec /usr/bin/pg_dump \"$@\"\n"), 0o755)
	_, err := a.CreateEndpoint(context.Background(), KindSource, EndpointInput{Name: name, Type: "postgres",
		Config: raw(map[string]any{"host": "127.0.0.1", "user": "postgres", "sslmode": "disable", "bin_dir": bin})})
	if err != nil {
		t.Fatal(err)
	}
}

func tinyDB(t *testing.T) string {
	db, _ := pgtest.NewDatabase(t, "dbackup_queue")
	pgtest.Connect(t, db).Exec(context.Background(), "CREATE TABLE t AS SELECT generate_series(1, 10) AS id")
	return db
}

// sampler records the most executions running at once and whether a job
// ever ran twice at once.
type sampler struct {
	maxRunning atomic.Int32
	twice      atomic.Bool
	stop       chan struct{}
	done       chan struct{}
}

func sample(a *App) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			running, err := a.Store.ListExecutions(context.Background(), store.ExecutionFilter{Status: backup.StatusRunning, Limit: 1000})
			if err != nil {
				continue
			}
			if n := int32(len(running)); n > s.maxRunning.Load() {
				s.maxRunning.Store(n)
			}
			seen := map[string]bool{}
			for _, e := range running {
				if seen[e.JobID] {
					s.twice.Store(true)
				}
				seen[e.JobID] = true
			}
		}
	}()
	return s
}

func (s *sampler) finish() { close(s.stop); <-s.done }

func waitIdle(t *testing.T, a *App, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		q, _ := a.Store.ListExecutions(context.Background(), store.ExecutionFilter{Status: backup.StatusQueued, Limit: 1})
		r, _ := a.Store.ListExecutions(context.Background(), store.ExecutionFilter{Status: backup.StatusRunning, Limit: 1})
		if len(q) == 0 && len(r) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("executions still queued or running")
}

func TestQueueLoad200TriggersOf50JobsMax2(t *testing.T) {
	t.Parallel()
	a := setup(t)
	ctx := context.Background()
	db := tinyDB(t)
	slowSource(t, a, "pg", "0.1")
	localDest(t, a, "disk", t.TempDir())
	if err := a.SetSetting(ctx, SettingMaxConcurrent, "2"); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		mustJob(t, a, JobInput{Name: fmt.Sprintf("job-%02d", i), Source: "pg", Databases: []string{db}, Destinations: dests("disk"), Compression: "none"})
	}
	s := sample(a)
	var wg sync.WaitGroup
	for round := range 4 {
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := a.StartJob(ctx, fmt.Sprintf("job-%02d", i), backup.TriggerAPI, false); err != nil {
					t.Error(err)
				}
			}()
		}
		time.Sleep(time.Duration(round) * 300 * time.Millisecond)
	}
	wg.Wait()
	waitIdle(t, a, 3*time.Minute)
	s.finish()
	all, _ := a.Store.ListExecutions(ctx, store.ExecutionFilter{Limit: 1000})
	counts := map[backup.Status]int{}
	for _, e := range all {
		counts[e.Status]++
	}
	if len(all) != 200 || counts[backup.StatusSuccess]+counts[backup.StatusSkipped] != 200 {
		t.Fatalf("200 triggers gave %d executions: %v", len(all), counts)
	}
	if counts[backup.StatusSuccess] < 50 {
		t.Fatalf("only %d runs succeeded; every job ran at least once", counts[backup.StatusSuccess])
	}
	if m := s.maxRunning.Load(); m > 2 || m < 2 {
		t.Fatalf("at most %d ran at once, want exactly the limit 2", m)
	}
	if s.twice.Load() {
		t.Fatal("a job ran twice at once")
	}
	t.Logf("%v, at most %d at once", counts, s.maxRunning.Load())
}

func TestMaxConcurrencyChangesWithoutRestart(t *testing.T) {
	t.Parallel()
	a := setup(t)
	ctx := context.Background()
	db := tinyDB(t)
	slowSource(t, a, "pg", "3")
	localDest(t, a, "disk", t.TempDir())
	for i := range 4 {
		mustJob(t, a, JobInput{Name: fmt.Sprintf("j%d", i), Source: "pg", Databases: []string{db}, Destinations: dests("disk")})
		a.StartJob(ctx, fmt.Sprintf("j%d", i), backup.TriggerAPI, false)
	}
	s := sample(a)
	time.Sleep(time.Second)
	if m := s.maxRunning.Load(); m != 1 {
		t.Fatalf("%d running with the default limit 1", m)
	}
	a.SetSetting(ctx, SettingMaxConcurrent, "3")
	deadline := time.Now().Add(10 * time.Second)
	for s.maxRunning.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	s.finish()
	if m := s.maxRunning.Load(); m != 3 {
		t.Fatalf("after raising the limit to 3, at most %d ran at once", m)
	}
	waitIdle(t, a, time.Minute)
}

func TestSchedulesFireOnceDisabledJobsDoNotAndCatchUp(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	clock := time.Date(2026, 11, 27, 10, 0, 30, 0, time.UTC)
	a := setupWith(t, func(a *App) { a.Queue.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock } })
	ctx := context.Background()
	db := tinyDB(t)
	pgSource(t, a, "pg", "postgres", "")
	localDest(t, a, "disk", t.TempDir())
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	mustJob(t, a, JobInput{Name: "every-minute", Source: "pg", Databases: []string{db}, Destinations: dests("disk"), Schedule: "* * * * *"})
	off := false
	mustJob(t, a, JobInput{Name: "disabled", Source: "pg", Databases: []string{db}, Destinations: dests("disk"), Schedule: "* * * * *", Enabled: &off})
	mustJob(t, a, JobInput{Name: "catch-up", Source: "pg", Databases: []string{db}, Destinations: dests("disk"), Schedule: "0 3 * * *", CatchUp: true})
	mustJob(t, a, JobInput{Name: "no-catch-up", Source: "pg", Databases: []string{db}, Destinations: dests("disk"), Schedule: "0 3 * * *"})
	if _, err := a.CreateJob(ctx, JobInput{Name: "bad", Source: "pg", Destinations: dests("disk"), Schedule: "61 * * * *"}); err == nil ||
		!strings.Contains(err.Error(), "minute field \"61\": 61 is out of range 0-59") {
		t.Fatalf("bad cron: %v", err)
	}
	// The service was down over 03:00: both daily jobs last fired yesterday.
	for _, name := range []string{"catch-up", "no-catch-up"} {
		j, _ := a.Store.GetJob(ctx, name)
		y := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
		a.Store.MarkScheduled(ctx, j.ID, backup.KindBackup, nil, y)
	}
	count := func(job string) (n int, trig backup.Trigger) {
		j, _ := a.Store.GetJob(ctx, job)
		list, _ := a.Store.ListExecutions(ctx, store.ExecutionFilter{JobID: j.ID, Limit: 100})
		for _, e := range list {
			trig = e.Trigger
		}
		return len(list), trig
	}
	waitCount := func(job string, n int) {
		t.Helper()
		waitFor(t, func() bool { got, _ := count(job); return got >= n })
	}
	waitCount("catch-up", 1) // the first ticks set the marks and catch up
	if n, trig := count("catch-up"); n != 1 || trig != backup.TriggerCatchUp {
		t.Fatalf("catch-up job: %d runs (%s), want one catch-up run", n, trig)
	}
	if n, _ := count("no-catch-up"); n != 0 {
		t.Fatal("a missed run was caught up without catch_up")
	}
	if n, _ := count("every-minute"); n != 0 {
		t.Fatal("a new schedule fired before its first time")
	}
	advance(time.Minute) // 10:01:30, past 10:01:00
	waitCount("every-minute", 1)
	if n, trig := count("every-minute"); n != 1 || trig != backup.TriggerSchedule {
		t.Fatalf("every-minute after one minute: %d runs (%s)", n, trig)
	}
	// Nobody asked for a scheduled run: the audit log says the system did.
	waitFor(t, func() bool {
		list, _ := a.ListAudit(ctx, 50, 0)
		for _, e := range list {
			if e.Actor == "system" && e.Action == "job.run" && e.Target == "every-minute" {
				return true
			}
		}
		return false
	})
	advance(30 * time.Second) // 10:02:00 exactly
	waitCount("every-minute", 2)
	time.Sleep(1500 * time.Millisecond) // a tick more: nothing else fires
	if n, _ := count("every-minute"); n != 2 {
		t.Fatalf("every-minute after two minutes: %d runs", n)
	}
	if n, _ := count("disabled"); n != 0 {
		t.Fatal("a disabled job was scheduled")
	}
	// Disabled jobs still run by hand.
	if e, _ := a.RunJob(ctx, "disabled", backup.TriggerManual, false); e.Status != backup.StatusSuccess {
		t.Fatalf("disabled job by hand: %s", e.Status)
	}
	next, err := a.JobNextRuns(ctx, "no-catch-up", 5)
	if err != nil || len(next.Runs) != 5 || next.Runs[0].Format("15:04") != "03:00" {
		t.Fatalf("next runs: %+v %v", next, err)
	}
	waitIdle(t, a, time.Minute)
}

func TestManualRunWaitsForAFreeSlot(t *testing.T) {
	t.Parallel()
	a := setup(t)
	ctx := context.Background()
	db := tinyDB(t)
	slowSource(t, a, "pg", "2")
	localDest(t, a, "disk", t.TempDir())
	mustJob(t, a, JobInput{Name: "first", Source: "pg", Databases: []string{db}, Destinations: dests("disk")})
	mustJob(t, a, JobInput{Name: "second", Source: "pg", Databases: []string{db}, Destinations: dests("disk")})
	first, _ := a.StartJob(ctx, "first", backup.TriggerAPI, false)
	waitFor(t, func() bool { x, _ := a.Store.GetExecution(ctx, first.ID); return x.Status == backup.StatusRunning })
	second, err := a.RunJob(ctx, "second", backup.TriggerManual, false) // max_concurrent_jobs is 1
	if err != nil || second.Status != backup.StatusSuccess {
		t.Fatalf("second: %v %+v", err, second)
	}
	f, _ := a.Store.GetExecution(ctx, first.ID)
	if second.StartedAt.Before(*f.EndedAt) {
		t.Fatalf("the manual run started at %s, before the running one ended at %s: the limit was ignored", second.StartedAt, f.EndedAt)
	}
}
