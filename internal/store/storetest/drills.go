package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
)

// runDrills checks what drills need of a store: scratch sources, the
// jobs' drill settings, drills queued beside backups, one drill of a
// backup at a time, their results, and the points they prove.
func runDrills(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	src := &backup.Endpoint{Name: "prod", Type: "postgres"}
	scratch := &backup.Endpoint{Name: "staging", Type: "postgres", Scratch: true}
	must(t, s.Sources().Create(ctx, src))
	must(t, s.Sources().Create(ctx, scratch))
	if got, _ := s.Sources().Get(ctx, "staging"); !got.Scratch {
		t.Fatal("a scratch source read back without its mark")
	}
	j := &backup.Job{Name: "j", SourceID: src.ID, Compression: "none", DrillEvery: 3, DrillSchedule: "0 4 * * 0",
		DrillTargetID: scratch.ID, ProvenWithin: backup.Duration(26 * time.Hour)}
	must(t, s.CreateJob(ctx, j))
	got, _ := s.GetJob(ctx, j.ID)
	if got.DrillEvery != 3 || got.DrillSchedule != "0 4 * * 0" || got.DrillTargetID != scratch.ID || time.Duration(got.ProvenWithin) != 26*time.Hour {
		t.Fatalf("drill settings read back wrong: %+v", got)
	}
	if err := s.Sources().Delete(ctx, scratch.ID); !errors.Is(err, backup.ErrInUse) {
		t.Fatalf("deleting a job's drill target: %v", err)
	}
	got.DrillTargetID = ""
	must(t, s.UpdateJob(ctx, got))
	if again, _ := s.GetJob(ctx, j.ID); again.DrillTargetID != "" || again.DrillEvery != 3 {
		t.Fatalf("drill settings after an update: %+v", again)
	}

	now := time.Now().UTC().Truncate(time.Millisecond)
	at := now
	if ok, _ := s.MarkScheduled(ctx, j.ID, backup.KindDrill, nil, at); !ok {
		t.Fatal("first drill schedule mark refused")
	}
	must(t, s.MarkAlarm(ctx, j.ID, backup.KindDrill, at))
	if again, _ := s.GetJob(ctx, j.ID); again.DrillScheduledAt == nil || !again.DrillScheduledAt.Equal(at) ||
		again.ProvenAlarmAt == nil || again.LastScheduledAt != nil || again.AlarmAt != nil {
		t.Fatalf("drill marks mixed with the backup marks: %+v", again)
	}

	// A drill is queued and claimed beside a running backup of its job;
	// a second drill of the same backup is skipped, of another backup not.
	bk := &backup.Execution{JobID: j.ID, JobName: j.Name, Kind: backup.KindBackup, Trigger: backup.TriggerManual, Stage: backup.StageQueued, CreatedAt: now}
	must(t, s.Enqueue(ctx, bk))
	if e, _ := s.Claim(ctx, "n1", 5, now); e == nil || e.ID != bk.ID {
		t.Fatalf("backup not claimed: %+v", e)
	}
	drill := func(key string, created time.Time) *backup.Execution {
		e := &backup.Execution{JobID: j.ID, JobName: j.Name, Kind: backup.KindDrill, Trigger: backup.TriggerManual, Stage: backup.StageQueued,
			CreatedAt: created, BackupName: key, Destinations: []backup.DestResult{{DestinationID: "d", Key: key}}}
		must(t, s.Enqueue(ctx, e))
		return e
	}
	d1 := drill("j/a.sql", now.Add(time.Millisecond))
	if d1.Status != backup.StatusQueued {
		t.Fatalf("a drill beside a running backup of its job: %s %q", d1.Status, d1.Error)
	}
	if dup := drill("j/a.sql", now.Add(2*time.Millisecond)); dup.Status != backup.StatusSkipped || !strings.Contains(dup.Error, "j/a.sql") {
		t.Fatalf("a second drill of one backup: %s %q", dup.Status, dup.Error)
	}
	d2 := drill("j/b.sql", now.Add(3*time.Millisecond))
	if e, _ := s.Claim(ctx, "n1", 5, now.Add(time.Second)); e == nil || e.ID != d1.ID || e.Kind != backup.KindDrill {
		t.Fatalf("drill not claimed beside the backup: %+v", e)
	}
	if e, _ := s.Claim(ctx, "n1", 5, now.Add(time.Second)); e != nil {
		t.Fatalf("a second drill of one job claimed while one runs: %s", e.ID)
	}

	// Results: written with the progress, read back, the newest per backup.
	d1.Drill = &backup.Drill{Target: "throwaway", ServerVersion: "15.20", BackupCreatedAt: now.Add(-time.Hour), RestoreMillis: 1500,
		Tables: []backup.DrillTable{{Database: "app", Table: "public.t", Expected: 3, Found: 3}}}
	must(t, s.UpdateExecution(ctx, d1))
	s.Transition(ctx, d1.ID, backup.StatusRunning, backup.StatusSuccess, now.Add(2*time.Second), "")
	if e, _ := s.Claim(ctx, "n1", 5, now.Add(3*time.Second)); e == nil || e.ID != d2.ID {
		t.Fatalf("the next drill of the job after the first ended: %+v", e)
	}
	d2.Drill = &backup.Drill{Target: "throwaway", BackupCreatedAt: now, Tables: []backup.DrillTable{{Database: "app", Table: "public.t", Expected: 3, Found: 2}}}
	must(t, s.UpdateExecution(ctx, d2))
	s.Transition(ctx, d2.ID, backup.StatusRunning, backup.StatusFailed, now.Add(4*time.Second), "public.t differs")
	latest, err := s.LatestDrills(ctx, []string{"j/a.sql", "j/b.sql", "j/never.sql"})
	if err != nil || len(latest) != 2 || latest["j/a.sql"].ID != d1.ID || latest["j/a.sql"].Drill.Tables[0].Found != 3 ||
		latest["j/b.sql"].Status != backup.StatusFailed {
		t.Fatalf("latest drills: %+v %+v %v", latest["j/a.sql"], latest["j/b.sql"], err)
	}
	// Only a passed drill proves its backup's point in time.
	points, err := s.ProvenPoints(ctx, []string{j.ID, "other"})
	if err != nil || len(points) != 1 || !points[j.ID].Equal(now.Add(-time.Hour)) {
		t.Fatalf("proven points: %v %v", points, err)
	}
	if l, _ := s.LatestExecutions(ctx, backup.KindDrill, []string{j.ID}); l[j.ID] == nil || l[j.ID].ID != d2.ID {
		t.Fatalf("latest drill of the job: %+v", l[j.ID])
	}
	// The recovery overview's jobs: those with drill settings, an objective,
	// or drills; not the others.
	plain := &backup.Job{Name: "plain", SourceID: src.ID, Compression: "none"}
	objective := &backup.Job{Name: "objective", SourceID: src.ID, Compression: "none", ProvenWithin: backup.Duration(time.Hour)}
	must(t, s.CreateJob(ctx, plain))
	must(t, s.CreateJob(ctx, objective))
	got.DrillEvery, got.DrillSchedule, got.ProvenWithin = 0, "", 0
	must(t, s.UpdateJob(ctx, got)) // no settings left, but drilled
	if list, err := s.DrillJobs(ctx); err != nil || len(list) != 2 || list[0].Name != "j" || list[1].Name != "objective" {
		t.Fatalf("drill jobs: %v %v", list, err)
	}
}
