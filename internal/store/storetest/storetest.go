// Package storetest is the conformance suite of store.Store: every
// implementation (SQLite, PostgreSQL) must pass it unchanged.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/store"
)

// Harness opens a fresh, empty store and can read its raw stored bytes.
type Harness struct {
	Open func(t *testing.T) store.Store
	// RawDump returns every stored value as text, to prove secrets are not in it.
	RawDump func(t *testing.T, s store.Store) string
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	ctx := context.Background()

	t.Run("EndpointsCRUDAndSecrets", func(t *testing.T) {
		s := h.Open(t)
		for _, eps := range []store.Endpoints{s.Sources(), s.Destinations(), s.Channels()} {
			e := &backup.Endpoint{Name: "prod", Type: "postgres", Config: json.RawMessage(`{"host":"db"}`),
				Secrets: map[string]string{"password": "canary-pw-91x"}}
			if err := eps.Create(ctx, e); err != nil {
				t.Fatal(err)
			}
			if err := eps.Create(ctx, &backup.Endpoint{Name: "prod", Type: "postgres"}); !errors.Is(err, backup.ErrConflict) {
				t.Fatalf("duplicate name: %v, want ErrConflict", err)
			}
			for _, ref := range []string{e.ID, "prod"} {
				got, err := eps.Get(ctx, ref)
				if err != nil {
					t.Fatalf("get %s: %v", ref, err)
				}
				if got.Secrets["password"] != "canary-pw-91x" || string(got.Config) != `{"host":"db"}` {
					t.Fatalf("get %s: %+v", ref, got)
				}
			}
			e.Name, e.Secrets = "prod2", map[string]string{"password": "canary-pw-2"}
			if err := eps.Update(ctx, e); err != nil {
				t.Fatal(err)
			}
			list, _ := eps.List(ctx)
			if len(list) != 1 || list[0].Name != "prod2" || list[0].Secrets["password"] != "canary-pw-2" {
				t.Fatalf("list after update: %+v", list)
			}
			if _, err := eps.Get(ctx, "nope"); !errors.Is(err, backup.ErrNotFound) {
				t.Fatalf("get missing: %v", err)
			}
		}
		if raw := h.RawDump(t, s); contains(raw, "canary-pw") {
			t.Fatal("a secret is stored in clear text")
		}
	})

	t.Run("ProfilesKeyAtRest", func(t *testing.T) {
		s := h.Open(t)
		key := []byte("0123456789abcdef0123456789ABCDEF")
		p := &backup.Profile{Name: "main", Key: key}
		if err := s.CreateProfile(ctx, p); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetProfile(ctx, "main")
		if err != nil || string(got.Key) != string(key) {
			t.Fatalf("get profile: %v", err)
		}
		if raw := h.RawDump(t, s); contains(raw, string(key)) {
			t.Fatal("profile key stored in clear text")
		}
		if err := s.CreateProfile(ctx, &backup.Profile{Name: "main", Key: key}); !errors.Is(err, backup.ErrConflict) {
			t.Fatalf("duplicate profile: %v", err)
		}
	})

	t.Run("JobsAndReferences", func(t *testing.T) {
		s := h.Open(t)
		src := &backup.Endpoint{Name: "src", Type: "postgres"}
		d1 := &backup.Endpoint{Name: "d1", Type: "local"}
		d2 := &backup.Endpoint{Name: "d2", Type: "local"}
		must(t, s.Sources().Create(ctx, src))
		must(t, s.Destinations().Create(ctx, d1))
		must(t, s.Destinations().Create(ctx, d2))
		p := &backup.Profile{Name: "k", Key: make([]byte, 32)}
		must(t, s.CreateProfile(ctx, p))
		j := &backup.Job{Name: "nightly", SourceID: src.ID, Databases: []string{"a", "b"}, Compression: backup.CompressionZstd,
			CompressionLevel: 5, ProfileID: p.ID, Schedule: "0 3 * * *", Enabled: true,
			Destinations: []backup.JobDestination{{DestinationID: d2.ID, Retention: json.RawMessage(`{"mode":"simple","keep":3}`)}, {DestinationID: d1.ID}}}
		must(t, s.CreateJob(ctx, j))
		got, err := s.GetJob(ctx, "nightly")
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Destinations) != 2 || got.Destinations[0].DestinationID != d2.ID || got.Destinations[1].DestinationID != d1.ID ||
			string(got.Destinations[0].Retention) != `{"mode":"simple","keep":3}` || got.ProfileID != p.ID ||
			fmt.Sprint(got.Databases) != "[a b]" || !got.Enabled || got.CompressionLevel != 5 {
			t.Fatalf("job read back wrong: %+v", got)
		}
		if err := s.CreateJob(ctx, &backup.Job{Name: "nightly", SourceID: src.ID, Compression: "none"}); !errors.Is(err, backup.ErrConflict) {
			t.Fatalf("duplicate job name: %v", err)
		}
		dup := &backup.Job{Name: "twice", SourceID: src.ID, Compression: "none",
			Destinations: []backup.JobDestination{{DestinationID: d1.ID}, {DestinationID: d1.ID}}}
		if err := s.CreateJob(ctx, dup); !errors.Is(err, backup.ErrConflict) {
			t.Fatalf("same destination twice: %v", err)
		}
		if _, err := s.GetJob(ctx, "twice"); !errors.Is(err, backup.ErrNotFound) {
			t.Fatal("a failed job create left a job behind")
		}
		if err := s.CreateJob(ctx, &backup.Job{Name: "ghost", SourceID: "missing", Compression: "none"}); err == nil {
			t.Fatal("job with a missing source accepted")
		}
		// Referenced things cannot be deleted.
		if err := s.Sources().Delete(ctx, src.ID); !errors.Is(err, backup.ErrInUse) {
			t.Fatalf("delete used source: %v", err)
		}
		if err := s.Destinations().Delete(ctx, d1.ID); !errors.Is(err, backup.ErrInUse) {
			t.Fatalf("delete used destination: %v", err)
		}
		if err := s.DeleteProfile(ctx, p.ID); !errors.Is(err, backup.ErrInUse) {
			t.Fatalf("delete used profile: %v", err)
		}
		got.Destinations = got.Destinations[1:]
		got.Enabled = false
		must(t, s.UpdateJob(ctx, got))
		again, _ := s.GetJob(ctx, got.ID)
		if len(again.Destinations) != 1 || again.Enabled {
			t.Fatalf("update not applied: %+v", again)
		}
		must(t, s.Destinations().Delete(ctx, d2.ID))
		// Deleting a job keeps its history.
		e := &backup.Execution{JobID: j.ID, JobName: j.Name, Kind: backup.KindBackup, Status: backup.StatusQueued, Trigger: backup.TriggerManual, Stage: backup.StageQueued}
		must(t, s.CreateExecution(ctx, e))
		must(t, s.DeleteJob(ctx, j.ID))
		kept, err := s.GetExecution(ctx, e.ID)
		if err != nil || kept.JobID != "" || kept.JobName != "nightly" {
			t.Fatalf("execution after job delete: %+v %v", kept, err)
		}
		must(t, s.Sources().Delete(ctx, src.ID))
		must(t, s.DeleteProfile(ctx, p.ID))
	})

	t.Run("ExecutionsLifecycle", func(t *testing.T) {
		s := h.Open(t)
		src := &backup.Endpoint{Name: "src", Type: "postgres"}
		must(t, s.Sources().Create(ctx, src))
		j := &backup.Job{Name: "j", SourceID: src.ID, Compression: "none"}
		must(t, s.CreateJob(ctx, j))
		var ids []string
		for i := range 5 {
			e := &backup.Execution{JobID: j.ID, JobName: "j", Kind: backup.KindBackup, Status: backup.StatusQueued,
				Trigger: backup.TriggerAPI, Stage: backup.StageQueued, CreatedAt: time.Now().UTC().Add(time.Duration(i) * time.Second)}
			must(t, s.CreateExecution(ctx, e))
			ids = append(ids, e.ID)
		}
		now := time.Now().UTC()
		ok, err := s.Transition(ctx, ids[0], backup.StatusQueued, backup.StatusRunning, now, "")
		if err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		if ok, _ := s.Transition(ctx, ids[0], backup.StatusQueued, backup.StatusRunning, now, ""); ok {
			t.Fatal("claimed twice")
		}
		e, _ := s.GetExecution(ctx, ids[0])
		e.Stage, e.BytesDumped, e.BytesStored, e.SHA256 = backup.StageUpload, 1<<40, 12345, "ab"
		e.Destinations = []backup.DestResult{{DestinationID: "d", Name: "disk", Status: backup.StatusSuccess, Key: "j/x.dump", Size: 12345, Verified: true}}
		e.Timings = []backup.StageTiming{{Stage: "dump", Bytes: 1 << 40, Seconds: 2.5}, {Stage: "upload", Destination: "disk", Bytes: 12345, Seconds: 0.25}}
		must(t, s.UpdateExecution(ctx, e))
		if q, r, err := s.CountActive(ctx); q != 4 || r != 1 || err != nil {
			t.Fatalf("active: %d queued, %d running (%v)", q, r, err)
		}
		if ok, _ := s.Transition(ctx, ids[0], backup.StatusRunning, backup.StatusPartial, now, "one destination failed"); !ok {
			t.Fatal("finish failed")
		}
		got, _ := s.GetExecution(ctx, ids[0])
		if got.Status != backup.StatusPartial || got.BytesDumped != 1<<40 || got.EndedAt == nil || got.StartedAt == nil ||
			got.Error != "one destination failed" || len(got.Destinations) != 1 || !got.Destinations[0].Verified ||
			len(got.Timings) != 2 || got.Timings[1] != e.Timings[1] {
			t.Fatalf("execution read back wrong: %+v", got)
		}
		if last, err := s.LastSuccesses(ctx, backup.KindBackup); err != nil || len(last) != 0 {
			t.Fatalf("last successes with none: %v %v", last, err)
		}
		s.Transition(ctx, ids[1], backup.StatusQueued, backup.StatusRunning, now, "")
		s.Transition(ctx, ids[1], backup.StatusRunning, backup.StatusSuccess, now.Add(time.Minute), "")
		if last, err := s.LastSuccesses(ctx, backup.KindBackup); err != nil || !last[j.ID].Equal(now.Add(time.Minute).Truncate(time.Microsecond)) {
			t.Fatalf("last successes: %v %v", last, err)
		}
		if _, err := s.Transition(ctx, ids[0], backup.StatusSuccess, backup.StatusRunning, now, ""); err == nil {
			t.Fatal("a finished execution was allowed back to running")
		}
		list, _ := s.ListExecutions(ctx, store.ExecutionFilter{JobID: j.ID, Limit: 3})
		if len(list) != 3 || list[0].ID != ids[4] {
			t.Fatalf("list newest first with limit: got %d, first %v", len(list), list[0].ID)
		}
		queued, _ := s.ListExecutions(ctx, store.ExecutionFilter{Status: backup.StatusQueued})
		if len(queued) != 3 {
			t.Fatalf("%d queued, want 3", len(queued))
		}
	})

	t.Run("HistoryFiltersLatestAndDays", func(t *testing.T) {
		s := h.Open(t)
		src := &backup.Endpoint{Name: "src", Type: "postgres"}
		must(t, s.Sources().Create(ctx, src))
		a := &backup.Job{Name: "a", SourceID: src.ID, Compression: "none"}
		b := &backup.Job{Name: "b", SourceID: src.ID, Compression: "none"}
		idle := &backup.Job{Name: "idle", SourceID: src.ID, Compression: "none"}
		for _, j := range []*backup.Job{a, b, idle} {
			must(t, s.CreateJob(ctx, j))
		}
		// Two days, 23:30 and 00:30 UTC: one local day at UTC+2, two at UTC.
		day := time.Date(2026, 3, 10, 23, 30, 0, 0, time.UTC)
		// took: how long it ran (0: no end recorded); stored: bytes.
		add := func(j *backup.Job, at time.Time, st backup.Status, tr backup.Trigger, took time.Duration, stored int64) *backup.Execution {
			start := at.Add(time.Second)
			e := &backup.Execution{JobID: j.ID, JobName: j.Name, Kind: backup.KindBackup, Status: st, Trigger: tr, Stage: backup.StageComplete,
				CreatedAt: at, StartedAt: &start, BytesStored: stored}
			if took > 0 {
				end := start.Add(took)
				e.EndedAt = &end
			}
			must(t, s.CreateExecution(ctx, e))
			return e
		}
		first := add(a, day, backup.StatusSuccess, backup.TriggerSchedule, 10*time.Minute, 100)
		lastA := add(a, day.Add(time.Hour), backup.StatusFailed, backup.TriggerManual, time.Minute, 300)
		lastB := add(b, day.Add(30*time.Minute), backup.StatusSuccess, backup.TriggerSchedule, 0, 200) // no end time
		must(t, s.CreateExecution(ctx, &backup.Execution{JobID: a.ID, JobName: "a", Kind: backup.KindRestore, Status: backup.StatusSuccess,
			Trigger: backup.TriggerManual, Stage: backup.StageComplete, CreatedAt: day.Add(2 * time.Hour)}))
		latest, err := s.LatestExecutions(ctx, backup.KindBackup, []string{a.ID, b.ID, idle.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(latest) != 2 || latest[a.ID].ID != lastA.ID || latest[b.ID].ID != lastB.ID {
			t.Fatalf("latest per job (restores not counted): %+v", latest)
		}
		if one, _ := s.LatestExecutions(ctx, backup.KindBackup, []string{b.ID}); len(one) != 1 || one[b.ID].ID != lastB.ID {
			t.Fatalf("latest of one job: %+v", one)
		}
		// Pages of jobs by part of the name, any case; schedules of enabled jobs.
		for _, n := range []string{"Nightly_DB", "nightly%web", "weekly"} {
			must(t, s.CreateJob(ctx, &backup.Job{Name: n, SourceID: src.ID, Compression: "none", Schedule: "0 3 * * *", Enabled: n != "weekly",
				Destinations: []backup.JobDestination{}}))
		}
		page, total, err := s.FindJobs(ctx, store.JobFilter{Name: "NIGHTLY", Limit: 1})
		if err != nil || total != 2 || len(page) != 1 || page[0].Name != "Nightly_DB" {
			t.Fatalf("find jobs: %d %v %v", total, page, err)
		}
		if page, total, _ = s.FindJobs(ctx, store.JobFilter{Name: "%", Offset: 0}); total != 1 || page[0].Name != "nightly%web" {
			t.Fatalf("a %% in the search is literal: %d %v", total, page)
		}
		if page, total, _ = s.FindJobs(ctx, store.JobFilter{Name: "y_d"}); total != 1 || page[0].Name != "Nightly_DB" {
			t.Fatalf("an _ in the search is literal: %d %v", total, page)
		}
		if _, total, _ = s.FindJobs(ctx, store.JobFilter{}); total != 6 {
			t.Fatalf("all jobs: %d", total)
		}
		sch, err := s.ListSchedules(ctx)
		if err != nil || len(sch) != 2 || sch[0].Name != "Nightly_DB" || sch[0].Schedule != "0 3 * * *" {
			t.Fatalf("schedules of enabled jobs: %+v %v", sch, err)
		}
		manual, _ := s.ListExecutions(ctx, store.ExecutionFilter{Trigger: backup.TriggerManual, Kind: backup.KindBackup})
		if len(manual) != 1 || manual[0].ID != lastA.ID {
			t.Fatalf("trigger filter: %d", len(manual))
		}
		span, _ := s.ListExecutions(ctx, store.ExecutionFilter{Since: day.Add(time.Minute), Until: day.Add(time.Hour), Sort: store.SortOldest})
		if len(span) != 1 || span[0].ID != lastB.ID {
			t.Fatalf("date filter: %d", len(span))
		}
		ids := func(sort store.ExecutionSort) []string {
			list, err := s.ListExecutions(ctx, store.ExecutionFilter{Sort: sort, Kind: backup.KindBackup})
			if err != nil {
				t.Fatalf("sort %q: %v", sort, err)
			}
			var out []string
			for _, e := range list {
				out = append(out, e.ID)
			}
			return out
		}
		for sort, want := range map[store.ExecutionSort][]string{
			store.SortNewest:  {lastA.ID, lastB.ID, first.ID},
			store.SortOldest:  {first.ID, lastB.ID, lastA.ID},
			store.SortLongest: {first.ID, lastA.ID, lastB.ID}, // no end: last
			store.SortLargest: {lastA.ID, lastB.ID, first.ID},
		} {
			if got := ids(sort); !slices.Equal(got, want) {
				t.Errorf("sort %q: %v, want %v", sort, got, want)
			}
		}
		if got := ids("newest"); !slices.Equal(got, []string{lastA.ID, lastB.ID, first.ID}) {
			t.Errorf(`sort "newest" (the default's name): %v`, got)
		}
		if _, err := s.ListExecutions(ctx, store.ExecutionFilter{Sort: "size; DROP TABLE jobs"}); !errors.Is(err, backup.ErrInvalid) {
			t.Fatalf("unknown sort: %v", err)
		}
		count := func(days []store.DayCount) map[string]int {
			m := map[string]int{}
			for _, d := range days {
				m[d.Day.Format("01-02")+" "+string(d.Status)] += d.Count
			}
			return m
		}
		utc, err := s.ExecutionDays(ctx, day.Add(-time.Hour), 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(count(utc)); got != "map[03-10 success:1 03-11 failed:1 03-11 success:1]" {
			t.Fatalf("days at UTC: %s", got)
		}
		east, _ := s.ExecutionDays(ctx, day.Add(-time.Hour), 2*3600)
		if got := fmt.Sprint(count(east)); got != "map[03-11 failed:1 03-11 success:2]" {
			t.Fatalf("days at UTC+2: %s", got)
		}
	})

	t.Run("LogsAppendAndTail", func(t *testing.T) {
		s := h.Open(t)
		e := &backup.Execution{JobName: "j", Kind: backup.KindRestore, Status: backup.StatusRunning, Trigger: backup.TriggerManual, Stage: backup.StageInitialize}
		must(t, s.CreateExecution(ctx, e))
		var entries []backup.LogEntry
		for i := 1; i <= 250; i++ {
			entries = append(entries, backup.LogEntry{Seq: int64(i), Time: time.Now(), Level: backup.LevelInfo, Stage: backup.StageDump, Message: fmt.Sprintf("line %d ünïcode", i)})
		}
		must(t, s.AppendLogs(ctx, e.ID, entries[:100]))
		must(t, s.AppendLogs(ctx, e.ID, entries[100:]))
		tail, _ := s.ListLogs(ctx, e.ID, 240, 0)
		if len(tail) != 10 || tail[0].Seq != 241 || tail[9].Message != "line 250 ünïcode" {
			t.Fatalf("tail: %+v", tail)
		}
		if err := s.AppendLogs(ctx, e.ID, entries[:1]); err == nil {
			t.Fatal("a duplicate log sequence number was accepted")
		}
	})

	t.Run("ConcurrentClaimsExactlyOnce", func(t *testing.T) {
		s := h.Open(t)
		e := &backup.Execution{JobName: "j", Kind: backup.KindBackup, Status: backup.StatusQueued, Trigger: backup.TriggerManual, Stage: backup.StageQueued}
		must(t, s.CreateExecution(ctx, e))
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.Transition(ctx, e.ID, backup.StatusQueued, backup.StatusRunning, time.Now(), "")
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d claims won, want exactly 1", wins)
		}
	})

	t.Run("RetentionPolicies", func(t *testing.T) { runPolicies(t, h) })
	t.Run("Notifications", func(t *testing.T) { runNotifications(t, h) })
	t.Run("Queue", func(t *testing.T) { runQueue(t, h) })
	t.Run("Security", func(t *testing.T) { runSecurity(t, h) })
	t.Run("FirstUserExactlyOnce", func(t *testing.T) { runFirstUser(t, h) })
	t.Run("InstanceKeyAndLeftovers", func(t *testing.T) { runInstanceKeyAndLeftovers(t, h) })
	t.Run("Drills", func(t *testing.T) { runDrills(t, h) })
	t.Run("DownloadLinksSingleUse", func(t *testing.T) { runDownloadLinks(t, h) })
	t.Run("TransactionAllOrNothing", func(t *testing.T) {
		s := h.Open(t)
		boom := errors.New("boom")
		err := s.InTx(ctx, func(tx store.Store) error {
			must(t, tx.Sources().Create(ctx, &backup.Endpoint{Name: "a", Type: "postgres"}))
			must(t, tx.CreatePolicy(ctx, &backup.PolicyTemplate{Name: "p", Policy: []byte(`{"mode":"simple","keep":1}`)}))
			if _, err := tx.Sources().Get(ctx, "a"); err != nil {
				t.Errorf("the transaction does not see its own write: %v", err)
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx: %v", err)
		}
		if _, err := s.Sources().Get(ctx, "a"); !errors.Is(err, backup.ErrNotFound) {
			t.Fatalf("a rolled-back source exists: %v", err)
		}
		if _, err := s.GetPolicy(ctx, "p"); !errors.Is(err, backup.ErrNotFound) {
			t.Fatalf("a rolled-back policy exists: %v", err)
		}
		must(t, s.InTx(ctx, func(tx store.Store) error {
			return tx.Sources().Create(ctx, &backup.Endpoint{Name: "b", Type: "postgres"})
		}))
		if _, err := s.Sources().Get(ctx, "b"); err != nil {
			t.Fatalf("a committed source: %v", err)
		}
	})

	t.Run("Settings", func(t *testing.T) {
		s := h.Open(t)
		if _, ok, _ := s.GetSetting(ctx, "max_concurrent_jobs"); ok {
			t.Fatal("unset setting found")
		}
		must(t, s.SetSetting(ctx, "max_concurrent_jobs", "2"))
		must(t, s.SetSetting(ctx, "max_concurrent_jobs", "3"))
		if v, ok, _ := s.GetSetting(ctx, "max_concurrent_jobs"); !ok || v != "3" {
			t.Fatalf("setting = %q", v)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func contains(haystack, needle string) bool { return strings.Contains(haystack, needle) }

// runPolicies is part of Run, kept apart for readability.
func runPolicies(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	if p, err := s.DefaultPolicy(ctx); err != nil || p != nil {
		t.Fatalf("default policy of an empty store: %v %v", p, err)
	}
	a := &backup.PolicyTemplate{Name: "daily-7", Policy: json.RawMessage(`{"mode":"simple","keep":7}`), Default: true}
	b := &backup.PolicyTemplate{Name: "gfs", Policy: json.RawMessage(`{"mode":"gfs","daily":7,"weekly":4}`)}
	must(t, s.CreatePolicy(ctx, a))
	must(t, s.CreatePolicy(ctx, b))
	if err := s.CreatePolicy(ctx, &backup.PolicyTemplate{Name: "gfs"}); !errors.Is(err, backup.ErrConflict) {
		t.Fatalf("duplicate policy name: %v", err)
	}
	if d, _ := s.DefaultPolicy(ctx); d == nil || d.ID != a.ID {
		t.Fatalf("default is %v, want daily-7", d)
	}
	b.Default = true
	must(t, s.UpdatePolicy(ctx, b))
	if d, _ := s.DefaultPolicy(ctx); d == nil || d.ID != b.ID {
		t.Fatalf("default after switching is %v, want gfs", d)
	}
	if got, _ := s.GetPolicy(ctx, "daily-7"); got.Default || string(got.Policy) != `{"mode":"simple","keep":7}` {
		t.Fatalf("daily-7 after switching default: %+v", got)
	}
	src := &backup.Endpoint{Name: "s", Type: "postgres"}
	d := &backup.Endpoint{Name: "d", Type: "local"}
	must(t, s.Sources().Create(ctx, src))
	must(t, s.Destinations().Create(ctx, d))
	j := &backup.Job{Name: "j", SourceID: src.ID, Compression: "none", Destinations: []backup.JobDestination{{DestinationID: d.ID, PolicyID: a.ID}}}
	must(t, s.CreateJob(ctx, j))
	if got, _ := s.GetJob(ctx, "j"); got.Destinations[0].PolicyID != a.ID {
		t.Fatalf("job destination policy: %+v", got.Destinations)
	}
	if err := s.DeletePolicy(ctx, a.ID); !errors.Is(err, backup.ErrInUse) {
		t.Fatalf("delete used policy: %v", err)
	}
	must(t, s.DeletePolicy(ctx, b.ID))
	if list, _ := s.ListPolicies(ctx); len(list) != 1 {
		t.Fatalf("%d policies left, want 1", len(list))
	}
}

func runNotifications(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	src := &backup.Endpoint{Name: "s", Type: "postgres"}
	d := &backup.Endpoint{Name: "d", Type: "local"}
	ch := &backup.Endpoint{Name: "ops", Type: "slack", Secrets: map[string]string{"webhook_url": "https://hooks.example/T/B/canary-hook"}}
	ch2 := &backup.Endpoint{Name: "pager", Type: "ntfy"}
	must(t, s.Sources().Create(ctx, src))
	must(t, s.Destinations().Create(ctx, d))
	must(t, s.Channels().Create(ctx, ch))
	must(t, s.Channels().Create(ctx, ch2))
	j := &backup.Job{Name: "j", SourceID: src.ID, Compression: "none", Destinations: []backup.JobDestination{{DestinationID: d.ID}},
		Notifications: []backup.JobChannel{{ChannelID: ch.ID, Outcomes: []string{"success"}}, {ChannelID: ch2.ID, Outcomes: []string{"failed", "cancelled"}}},
		ExpectEvery:   backup.Duration(26 * time.Hour), RemindEvery: backup.Duration(6 * time.Hour)}
	must(t, s.CreateJob(ctx, j))
	got, _ := s.GetJob(ctx, "j")
	if len(got.Notifications) != 2 || time.Duration(got.ExpectEvery) != 26*time.Hour || time.Duration(got.RemindEvery) != 6*time.Hour || got.AlarmAt != nil {
		t.Fatalf("job read back: %+v", got)
	}
	byID := map[string][]string{}
	for _, n := range got.Notifications {
		byID[n.ChannelID] = n.Outcomes
	}
	if fmt.Sprint(byID[ch.ID]) != "[success]" || fmt.Sprint(byID[ch2.ID]) != "[failed cancelled]" {
		t.Fatalf("routes: %v", byID)
	}
	if err := s.Channels().Delete(ctx, ch.ID); !errors.Is(err, backup.ErrInUse) {
		t.Fatalf("delete of a routed channel: %v", err)
	}
	at := time.Now().UTC().Truncate(time.Microsecond)
	must(t, s.MarkAlarm(ctx, j.ID, backup.KindBackup, at))
	got.Name = "j2"
	must(t, s.UpdateJob(ctx, got))
	if again, _ := s.GetJob(ctx, j.ID); again.AlarmAt == nil || !again.AlarmAt.Equal(at) {
		t.Fatalf("alarm time after an update: %v", again.AlarmAt)
	}
	must(t, s.SetSystemChannel(ctx, ch2.ID, []string{"restore", "destination"}))
	sys, _ := s.SystemChannels(ctx)
	if fmt.Sprint(sys[ch2.ID]) != "[restore destination]" {
		t.Fatalf("system channels: %v", sys)
	}
	must(t, s.SetSystemChannel(ctx, ch2.ID, nil))
	if sys, _ := s.SystemChannels(ctx); len(sys) != 0 {
		t.Fatalf("system route not removed: %v", sys)
	}
	for i := range 3 {
		must(t, s.AppendNotificationLog(ctx, &backup.NotificationLogEntry{ChannelID: ch.ID, ChannelName: "ops", ChannelType: "slack",
			Event: "backup", Outcome: "success", JobName: "j2", ExecutionID: "e1", Attempt: i + 1, Status: "failed", Error: "HTTP 500", Payload: "{}"}))
	}
	log, _ := s.ListNotificationLog(ctx, store.NotificationFilter{ExecutionID: "e1", Limit: 2})
	if len(log) != 2 || log[0].Attempt != 3 || log[0].Error != "HTTP 500" {
		t.Fatalf("notification log: %+v", log)
	}
	must(t, s.DeleteJob(ctx, j.ID))
	must(t, s.Channels().Delete(ctx, ch.ID))
}

func runQueue(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	src := &backup.Endpoint{Name: "s", Type: "postgres"}
	must(t, s.Sources().Create(ctx, src))
	var jobs []*backup.Job
	for i := range 4 {
		j := &backup.Job{Name: fmt.Sprintf("j%d", i), SourceID: src.ID, Compression: "none"}
		must(t, s.CreateJob(ctx, j))
		jobs = append(jobs, j)
	}
	now := time.Now().UTC()
	enqueue := func(j *backup.Job, at time.Time) *backup.Execution {
		e := &backup.Execution{JobID: j.ID, JobName: j.Name, Kind: backup.KindBackup, Trigger: backup.TriggerSchedule, Stage: backup.StageQueued, CreatedAt: at}
		must(t, s.Enqueue(ctx, e))
		return e
	}
	a := enqueue(jobs[0], now)
	if dup := enqueue(jobs[0], now.Add(time.Millisecond)); dup.Status != backup.StatusSkipped || !strings.Contains(dup.Error, "already queued or running") {
		t.Fatalf("second trigger of a queued job: %s %q", dup.Status, dup.Error)
	}
	b := enqueue(jobs[1], now.Add(time.Second))
	later := now.Add(time.Hour)
	c := &backup.Execution{JobID: jobs[2].ID, JobName: "j2", Kind: backup.KindBackup, Trigger: backup.TriggerRetry, Stage: backup.StageQueued, CreatedAt: now, NotBefore: &later, Attempt: 2}
	must(t, s.Enqueue(ctx, c))

	first, err := s.Claim(ctx, "node-1", 1, now)
	if err != nil || first == nil || first.ID != a.ID || first.Status != backup.StatusRunning || first.Node != "node-1" {
		t.Fatalf("claim: %+v %v", first, err)
	}
	if none, _ := s.Claim(ctx, "node-2", 1, now); none != nil {
		t.Fatal("claimed beyond max 1")
	}
	second, _ := s.Claim(ctx, "node-2", 2, now)
	if second == nil || second.ID != b.ID {
		t.Fatalf("claim with max 2: %+v", second)
	}
	if none, _ := s.Claim(ctx, "node-2", 5, now); none != nil {
		t.Fatalf("claimed %s before its not_before", none.ID)
	}
	if again, _ := s.Claim(ctx, "node-2", 5, now.Add(2*time.Hour)); again == nil || again.ID != c.ID || again.Attempt != 2 {
		t.Fatalf("claim after not_before: %+v", again)
	}
	// A job with a running execution is not claimed twice.
	s.Transition(ctx, b.ID, backup.StatusRunning, backup.StatusSuccess, now, "")
	d := enqueue(jobs[0], now.Add(2*time.Second))
	if d.Status != backup.StatusSkipped {
		t.Fatalf("trigger of a running job: %s", d.Status)
	}
	ok, _ := s.RequestCancel(ctx, a.ID)
	if !ok {
		t.Fatal("cancel request not recorded")
	}
	cancels, err := s.Heartbeat(ctx, "node-1", []string{a.ID}, now.Add(time.Minute))
	if err != nil || len(cancels) != 1 || cancels[0] != a.ID {
		t.Fatalf("heartbeat: %v %v", cancels, err)
	}
	// a beat at +1m, c was claimed (and so beat) at +2h.
	stale, _ := s.StaleRunning(ctx, now.Add(90*time.Minute))
	if len(stale) != 1 || stale[0].ID != a.ID {
		t.Fatalf("stale: %d", len(stale))
	}
	// Leases: one holder at a time, taken over after expiry.
	if ok, _ := s.AcquireLease(ctx, "scheduler", "n1", 10*time.Second, now); !ok {
		t.Fatal("first lease refused")
	}
	if ok, _ := s.AcquireLease(ctx, "scheduler", "n2", 10*time.Second, now.Add(5*time.Second)); ok {
		t.Fatal("lease taken while held")
	}
	if ok, _ := s.AcquireLease(ctx, "scheduler", "n1", 10*time.Second, now.Add(5*time.Second)); !ok {
		t.Fatal("renewal refused")
	}
	if ok, _ := s.AcquireLease(ctx, "scheduler", "n2", 10*time.Second, now.Add(16*time.Second)); !ok {
		t.Fatal("expired lease not taken over")
	}
	must(t, s.ReleaseLease(ctx, "scheduler", "n2"))
	if ok, _ := s.AcquireLease(ctx, "scheduler", "n3", 10*time.Second, now.Add(17*time.Second)); !ok {
		t.Fatal("released lease not free")
	}
	// Compare-and-set of the schedule mark.
	if ok, _ := s.MarkScheduled(ctx, jobs[3].ID, backup.KindBackup, nil, now); !ok {
		t.Fatal("first mark refused")
	}
	if ok, _ := s.MarkScheduled(ctx, jobs[3].ID, backup.KindBackup, nil, now); ok {
		t.Fatal("a stale mark won")
	}
	if ok, _ := s.MarkScheduled(ctx, jobs[3].ID, backup.KindBackup, &now, now.Add(time.Minute)); !ok {
		t.Fatal("mark from the current value refused")
	}
	// A fired schedule and its run are one: of eight leaders firing the same
	// due time, one marks and enqueues, the others write nothing.
	mark, _ := s.GetJob(ctx, jobs[3].ID)
	var fired sync.WaitGroup
	var won sync.Map
	for i := range 8 {
		fired.Add(1)
		go func() {
			defer fired.Done()
			e := &backup.Execution{JobID: jobs[3].ID, JobName: "j3", Kind: backup.KindBackup, Trigger: backup.TriggerSchedule, Stage: backup.StageQueued}
			ok, err := s.EnqueueScheduled(ctx, e, mark.LastScheduledAt, now.Add(2*time.Minute))
			if err != nil {
				t.Error(err)
			}
			if ok {
				won.Store(i, e.ID)
			}
		}()
	}
	fired.Wait()
	n, firedID := 0, ""
	won.Range(func(_, v any) bool { n++; firedID = v.(string); return true })
	scheduled, _ := s.ListExecutions(ctx, store.ExecutionFilter{JobID: jobs[3].ID})
	if n != 1 || len(scheduled) != 1 || scheduled[0].ID != firedID || scheduled[0].Status != backup.StatusQueued {
		t.Fatalf("eight leaders firing one schedule: %d won, %d runs", n, len(scheduled))
	}
	if ok, _ := s.EnqueueScheduled(ctx, &backup.Execution{JobID: jobs[3].ID, JobName: "j3", Kind: backup.KindBackup, Stage: backup.StageQueued}, mark.LastScheduledAt, now.Add(3*time.Minute)); ok {
		t.Fatal("a stale mark enqueued")
	}
	s.Transition(ctx, firedID, backup.StatusQueued, backup.StatusCancelled, now, "")
	// Many claimers at once never exceed max.
	var wg sync.WaitGroup
	for i := range 8 {
		enqueue(jobs[i%4], now.Add(time.Duration(10+i)*time.Second))
	}
	s.Transition(ctx, a.ID, backup.StatusRunning, backup.StatusCancelled, now, "")
	s.Transition(ctx, c.ID, backup.StatusRunning, backup.StatusFailed, now, "")
	var mu sync.Mutex
	claimed := 0
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := s.Claim(ctx, fmt.Sprintf("n%d", i), 2, now.Add(time.Minute))
			if err != nil {
				t.Error(err)
			}
			if e != nil {
				mu.Lock()
				claimed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if claimed != 2 {
		t.Fatalf("%d claimed at once with max 2", claimed)
	}
}
