package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

// drillOf runs a drill of a backup in the foreground and returns it.
func drillOf(t *testing.T, a *App, dest, key, target string) *backup.Execution {
	t.Helper()
	e, err := a.Drill(context.Background(), DrillRequest{Destination: dest, Key: key, Target: target})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// backupOf runs a job and fails the test unless it succeeded.
func backupOf(t *testing.T, a *App, job string) *backup.Execution {
	t.Helper()
	e, err := a.RunJob(context.Background(), job, backup.TriggerManual, false)
	if err != nil || e.Status != backup.StatusSuccess {
		t.Fatalf("backup of %s: %v %+v\n%s", job, err, e, logsOf(t, a, e.ID))
	}
	return e
}

// drillDir is a private drill directory the test can look into.
func drillDir(t *testing.T, a *App) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dbackup-drilltest-") // the servers' users must reach it: not under t.TempDir()
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o711)
	t.Cleanup(func() { os.RemoveAll(dir) })
	a.Runner.DrillDir = dir
	return dir
}

// passed fails the test unless the drill passed with every table of the
// backup found with its count; it returns the drill's result.
func passed(t *testing.T, a *App, e *backup.Execution, tables int) *backup.Drill {
	t.Helper()
	if e.Status != backup.StatusSuccess || e.Drill == nil {
		t.Fatalf("drill: %s %q\n%s", e.Status, e.Error, logsOf(t, a, e.ID))
	}
	d := e.Drill
	if len(d.Tables) < tables {
		t.Fatalf("drill counted %d tables, want at least %d: %+v", len(d.Tables), tables, d.Tables)
	}
	for _, tb := range d.Tables {
		if tb.Found != tb.Expected {
			t.Fatalf("%s.%s: expected %d, found %d", tb.Database, tb.Table, tb.Expected, tb.Found)
		}
	}
	if d.RestoreMillis <= 0 || d.BytesRead <= 0 || d.ServerVersion == "" || d.BackupCreatedAt.IsZero() {
		t.Fatalf("drill figures missing: %+v", d)
	}
	return d
}

// nothingLeft fails the test if a drill left a directory behind.
func nothingLeft(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		t.Fatalf("the drill left %s behind", filepath.Join(dir, e.Name()))
	}
}

// A drill of an awkward PostgreSQL database passes in a throwaway server
// with every table counted, and removes the server.
func TestDrillPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := pgtest.NewDatabase(t, "drill")
	pgtest.SeedAwkward(t, db, 20_000)
	conn := pgtest.Connect(t, db)
	for _, s := range []string{
		`CREATE SCHEMA "Sales Ünit"`,
		`CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')`,
		`CREATE TABLE "Sales Ünit"."Orders ""2026""" (id serial PRIMARY KEY, m mood, tags text[], doc jsonb)`,
		`INSERT INTO "Sales Ünit"."Orders ""2026""" (m, tags, doc) SELECT 'happy', ARRAY['a', NULL], '{"k": 1}' FROM generate_series(1, 77)`,
		`CREATE TABLE empty_one (id int)`,
	} {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	a := setup(t)
	dir := drillDir(t, a)
	pgSource(t, a, "pg", "postgres", "")
	localDest(t, a, "disk", t.TempDir())
	a.CreateProfile(ctx, "k", "")
	mustJob(t, a, JobInput{Name: "pg", Source: "pg", Databases: []string{db}, Destinations: dests("disk"), Profile: "k"})
	b := backupOf(t, a, "pg")

	e := drillOf(t, a, "disk", b.BackupName, "")
	d := passed(t, a, e, 46)
	found := map[string]int64{}
	for _, tb := range d.Tables {
		found[tb.Table] = tb.Found
	}
	if found[`"Sales Ünit"."Orders ""2026"""`] != 77 || found["public.big"] != 20_000 || found["public.empty_one"] != 0 {
		t.Fatalf("counts found: %v", found)
	}
	if _, ok := found["public.empty_one"]; !ok {
		t.Fatal("the empty table is not among the drill's tables")
	}
	if d.Target != "throwaway" || !strings.HasPrefix(d.ServerVersion, "15") || d.StartupMillis <= 0 {
		t.Fatalf("drill: %+v", d)
	}
	nothingLeft(t, dir)
	logs := logsOf(t, a, e.ID)
	for _, want := range []string{"throwaway postgres server", "drill passed", "throwaway server stopped"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("log lacks %q:\n%s", want, logs)
		}
	}
}
