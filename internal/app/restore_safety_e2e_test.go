package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/config"
	"github.com/dbackup/dbackup/internal/runner"
	"github.com/dbackup/dbackup/internal/testutil/ferrettest"
	"github.com/dbackup/dbackup/internal/testutil/mytest"
	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

// overstate rewrites a backup's sidecar so that it claims one more row in
// one of its tables than the dump holds, and has an admin trust it: a dump
// whose restore does not give back what was counted.
func overstate(t *testing.T, a *App, dir, key string) string {
	t.Helper()
	path := filepath.Join(dir, key+backup.MetaSuffix)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	var table string
	for _, counts := range m["contents"].(map[string]any) {
		c := counts.(map[string]any)
		for name, n := range c {
			if strings.Contains(name, " with a TTL") {
				continue
			}
			c[name] = n.(float64) + 1
			table = name
			break
		}
	}
	delete(m, "mac")
	out, _ := json.MarshalIndent(m, "", "  ")
	os.WriteFile(path, out, 0o600)
	if _, err := a.TrustBackup(context.Background(), "disk", key, nil); err != nil {
		t.Fatal(err)
	}
	return table
}

// A restore whose counted rows differ from the sidecar's fails, naming the
// table, and leaves no database behind, for every engine.
func TestRestoreCountsMustMatchAndAFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	type engine struct {
		seed   func(t *testing.T, a *App) (db string)
		absent func(t *testing.T, target string) bool
		target func() string
	}
	engines := map[string]engine{
		"postgres": {
			seed: func(t *testing.T, a *App) string {
				db, _ := pgtest.NewDatabase(t, "count")
				pgtest.Connect(t, db).Exec(context.Background(), "CREATE TABLE orders AS SELECT generate_series(1, 300) AS id")
				pgSource(t, a, "src", "postgres", "")
				return db
			},
			target: func() string { return pgtest.Name("count_r") },
			absent: func(t *testing.T, target string) bool {
				var n int
				pgtest.Connect(t, "").QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = $1", target).Scan(&n)
				return n == 0
			},
		},
		"mariadb": {
			seed: func(t *testing.T, a *App) string {
				db := mytest.NewDatabase(t, "count")
				mytest.Open(t, db).Exec("CREATE TABLE orders (id INT PRIMARY KEY)")
				mytest.Open(t, db).Exec("INSERT INTO orders SELECT seq FROM seq_1_to_300")
				mysqlSource(t, a, "src", "root", "")
				return db
			},
			target: func() string { return mytest.Name("count_r") },
			absent: func(t *testing.T, target string) bool {
				var n int
				mytest.Open(t, "").QueryRow("SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?", target).Scan(&n)
				return n == 0
			},
		},
		"mongodb": func() engine {
			var srv *ferrettest.Server
			return engine{
				seed: func(t *testing.T, a *App) string {
					srv = ferrettest.Start(t)
					db := pgtest.Name("count")
					ferrettest.Seed(t, srv.Client(t), db, 50)
					mongoSource(t, a, "src", srv.Host, srv.Port, ferrettest.Password)
					return db
				},
				target: func() string { return pgtest.Name("count_r") },
				absent: func(t *testing.T, target string) bool {
					names, _ := srv.Client(t).Database(target).ListCollectionNames(context.Background(), map[string]any{})
					return len(names) == 0
				},
			}
		}(),
		"redis": func() engine {
			var to int
			var toClient interface {
				DBSize(context.Context) *goredis.IntCmd
			}
			return engine{
				seed: func(t *testing.T, a *App) string {
					from, c := privateServer(t, "redis-server", "pw")
					for i := range 300 {
						c.Set(context.Background(), fmt.Sprintf("k%d", i), i, 0)
					}
					var tc *goredis.Client
					to, tc = privateServer(t, "redis-server", "pw")
					toClient = tc
					for name, port := range map[string]int{"src": from, "dst": to} {
						a.CreateEndpoint(context.Background(), KindSource, EndpointInput{Name: name, Type: "redis", Config: raw(map[string]any{"host": "127.0.0.1", "port": port}), Secrets: map[string]string{"password": "pw"}})
					}
					return "all"
				},
				target: func() string { return "all" },
				absent: func(t *testing.T, _ string) bool { return toClient.DBSize(context.Background()).Val() == 0 },
			}
		}(),
		"sqlite": func() engine {
			var dir string
			return engine{
				seed: func(t *testing.T, a *App) string {
					dir = t.TempDir()
					path := filepath.Join(dir, "app.db")
					db := sqliteFile(t, path, 300)
					a.CreateEndpoint(context.Background(), KindSource, EndpointInput{Name: "src", Type: "sqlite", Config: raw(map[string]string{"path": path})})
					return db
				},
				target: func() string { return "copy.db" },
				absent: func(t *testing.T, target string) bool {
					entries, _ := os.ReadDir(dir)
					for _, e := range entries {
						if e.Name() != "app.db" {
							return false
						}
					}
					return true
				},
			}
		}(),
	}
	for name, eng := range engines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			a := setup(t)
			dir := t.TempDir()
			localDest(t, a, "disk", dir)
			db := eng.seed(t, a)
			mustJob(t, a, JobInput{Name: "j", Source: "src", Databases: []string{db}, Destinations: dests("disk")})
			e, err := a.RunJob(ctx, "j", backup.TriggerManual, false)
			if err != nil || e.Status != backup.StatusSuccess {
				t.Fatalf("backup: %v %s", err, e.Error)
			}
			table := overstate(t, a, dir, e.BackupName)
			target := eng.target()
			into := "src"
			if name == "redis" {
				into = "dst"
			}
			r := restore(t, a, runner.RestoreRequest{Destination: "disk", Key: e.BackupName, Source: into, Targets: map[string]string{db: target}})
			if r.Status != backup.StatusFailed || !strings.Contains(r.Error, "differs from the backup") || !strings.Contains(r.Error, table) {
				t.Fatalf("restore with fewer rows than counted: %s %q\n%s", r.Status, r.Error, logsOf(t, a, r.ID))
			}
			if !eng.absent(t, target) {
				t.Fatalf("the failed restore left %s behind", target)
			}
			if left, _ := a.Store.ListLeftovers(ctx, ""); len(left) != 0 {
				t.Fatalf("records of databases left: %+v", left)
			}
		})
	}
}

// An overwrite keeps what it replaced under a new name, with its tables,
// triggers, views, routines and events, and the restored database has
// them all; the kept one is dropped when its time is up.
func TestMariaDBOverwriteSwapsEverythingAndKeepsTheOld(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mytest.NewDatabase(t, "swap")
	mytest.SeedAwkward(t, db, 1000)
	want := mytest.Checksums(t, db)
	target := mytest.NewDatabase(t, "swap_t")
	old := mytest.Open(t, target)
	for _, q := range []string{"CREATE TABLE legacy (id INT)", "INSERT INTO legacy VALUES (1), (2), (3)",
		"CREATE TRIGGER legacy_ins BEFORE INSERT ON legacy FOR EACH ROW SET NEW.id = NEW.id * 10", "CREATE VIEW legacy_view AS SELECT id FROM legacy"} {
		if _, err := old.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	a := setup(t)
	mysqlSource(t, a, "maria", "root", "")
	dir := t.TempDir()
	localDest(t, a, "disk", dir)
	mustJob(t, a, JobInput{Name: "j", Source: "maria", Databases: []string{db}, Destinations: dests("disk")})
	e, _ := a.RunJob(ctx, "j", backup.TriggerManual, false)
	req := runner.RestoreRequest{Destination: "disk", Key: e.BackupName, Source: "maria", Targets: map[string]string{db: target}}
	lines, err := a.PreflightRestore(ctx, req)
	if err == nil || !strings.Contains(err.Error(), "already exists and holds") || !strings.Contains(err.Error(), target+"_restored") {
		t.Fatalf("pre-flight of a busy target without overwrite: %v %v", err, lines)
	}
	req.Overwrite = true
	if lines, err = a.PreflightRestore(ctx, req); err != nil || !strings.Contains(strings.Join(lines, "\n"), "it will be replaced once the restore is complete, and kept") {
		t.Fatalf("pre-flight with overwrite: %v\n%s", err, strings.Join(lines, "\n"))
	}
	r := restore(t, a, req)
	if r.Status != backup.StatusSuccess {
		t.Fatalf("overwrite: %s\n%s", r.Error, logsOf(t, a, r.ID))
	}
	if got := mytest.Checksums(t, target); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("overwritten database differs:\n got %v\nwant %v", got, want)
	}
	// The restored trigger works on its table.
	conn := mytest.Open(t, target)
	conn.Exec("INSERT INTO big VALUES (999999, 'h', 'n')")
	var audited int
	conn.QueryRow("SELECT count(*) FROM audit WHERE n = 999999").Scan(&audited)
	if audited != 1 {
		t.Fatal("the restored trigger did not fire")
	}
	left, _ := a.Store.ListLeftovers(ctx, "")
	if len(left) != 1 || left[0].State != backup.LeftoverReplaced || !strings.HasPrefix(left[0].Database, target+"_replaced_") {
		t.Fatalf("records after the overwrite: %+v", left)
	}
	kept := mytest.Open(t, left[0].Database)
	var n int
	kept.Exec("INSERT INTO legacy VALUES (4)")
	kept.QueryRow("SELECT count(*) FROM legacy_view WHERE id IN (1, 2, 3, 40)").Scan(&n)
	if n != 4 {
		t.Fatalf("the kept database lost its rows, trigger or view: %d of 4", n)
	}
	// Its time up, the cleanup drops it.
	a.SetSetting(ctx, runner.SettingKeepReplacedHours, "0")
	a.Runner.Now = func() time.Time { return time.Now().Add(25 * time.Hour) }
	if dropped, err := a.Runner.CleanLeftovers(ctx, ""); err != nil || len(dropped) != 1 {
		t.Fatalf("cleanup: %v %v", dropped, err)
	}
	var schemas int
	mytest.Open(t, "").QueryRow("SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?", left[0].Database).Scan(&schemas)
	if schemas != 0 {
		t.Fatal("the kept database outlived its time")
	}
}

// A backup killed between its data's final rename and its sidecar leaves
// a data object that no listing calls a backup; the next start removes it.
func TestNextStartRemovesDataWithoutSidecar(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := setup(t)
	dir := t.TempDir()
	localDest(t, a, "disk", dir)
	pgSource(t, a, "pg", "postgres", "")
	db := tinyDB(t)
	mustJob(t, a, JobInput{Name: "j", Source: "pg", Databases: []string{db}, Destinations: dests("disk")})
	// What such a kill leaves: the run, still running in the store with
	// its key recorded, and the data object under its final name.
	now := time.Now().UTC()
	job, _ := a.Store.GetJob(ctx, "j")
	e := &backup.Execution{JobID: job.ID, JobName: "j", Kind: backup.KindBackup, Status: backup.StatusRunning, Trigger: backup.TriggerManual,
		Stage: backup.StageVerify, CreatedAt: now, StartedAt: &now, BackupName: "j/j_killed.dump", Node: a.Cfg.NodeID}
	if err := a.Store.CreateExecution(ctx, e); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "j"), 0o700)
	os.WriteFile(filepath.Join(dir, "j", "j_killed.dump"), []byte("PGDMP whole, but never committed"), 0o600)
	if err := a.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "j", "j_killed.dump")); !os.IsNotExist(err) {
		t.Fatalf("the data object of the killed run is still there: %v", err)
	}
	x, _ := a.Store.GetExecution(ctx, e.ID)
	if x.Status != backup.StatusFailed || !strings.Contains(x.Error, "interrupted") {
		t.Fatalf("the killed run: %s %q", x.Status, x.Error)
	}
}

// sqliteFile writes a database file with a table of rows; its name is the
// database's name in a backup.
func sqliteFile(t *testing.T, path string, rows int) string {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Exec("CREATE TABLE orders(id INTEGER PRIMARY KEY, note TEXT)")
	for i := range rows {
		db.Exec("INSERT INTO orders(note) VALUES (?)", fmt.Sprintf("order %d", i))
	}
	return filepath.Base(path)
}

// Backup names and retention's days follow the scheduler time zone the UI
// shows, not the -timezone flag: one source of truth.
func TestNamesAndRetentionFollowTheSchedulerZone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := setup(t) // -timezone Europe/Berlin
	a.SetSetting(ctx, "scheduler_timezone", "America/New_York")
	localDest(t, a, "disk", t.TempDir())
	a.CreateEndpoint(ctx, KindSource, EndpointInput{Name: "lite", Type: "sqlite", Config: raw(map[string]string{"path": filepath.Join(t.TempDir(), "z.db")})})
	sqliteFile(t, mustSourcePath(t, a, "lite"), 3)
	mustJob(t, a, JobInput{Name: "z", Source: "lite", Destinations: dests("disk")})
	var names []string
	for _, at := range []string{"2026-12-01T04:30:00Z", "2026-12-01T05:30:00Z"} { // New York: 23:30 on the 30th, 00:30 on the 1st
		now, _ := time.Parse(time.RFC3339, at)
		a.Runner.Now = func() time.Time { return now }
		e, err := a.RunJob(ctx, "z", backup.TriggerManual, false)
		if err != nil || e.Status != backup.StatusSuccess {
			t.Fatalf("backup: %v %s", err, e.Error)
		}
		names = append(names, e.BackupName)
	}
	if !strings.Contains(names[0], "2026-11-30_23-30-00") {
		t.Fatalf("backup name %s is not in the scheduler time zone", names[0])
	}
	daily := json.RawMessage(`{"mode":"gfs","daily":2}`)
	plans, err := a.PlanRetention(ctx, "z", "disk", daily)
	if err != nil || plans[0].Keep != 2 {
		t.Fatalf("New York: two days, both kept: %+v %v", plans, err)
	}
	a.SetSetting(ctx, "scheduler_timezone", "Europe/Berlin")
	if plans, err = a.PlanRetention(ctx, "z", "disk", daily); err != nil || plans[0].Keep != 1 || plans[0].Delete != 1 {
		t.Fatalf("Berlin: one day, one kept: %+v %v", plans, err)
	}
}

func mustSourcePath(t *testing.T, a *App, name string) string {
	ep, err := a.Store.Sources().Get(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Path string }
	json.Unmarshal(ep.Config, &c)
	return c.Path
}

// A lost server key file is never silently replaced: with secrets sealed
// in the store, the start fails saying which key they need, and writes no
// new key.
func TestMissingServerKeyIsNotReplaced(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := config.Config{DataDir: dir, DatabaseURL: filepath.Join(dir, "dbackup.db"), SecretKeyFile: filepath.Join(dir, "server.key"), Timezone: "UTC"}
	a, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	pgSource(t, a, "pg", "u", "sealed-password")
	a.Close()
	os.Remove(cfg.SecretKeyFile)
	if _, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "is missing") {
		t.Fatalf("start without the key file: %v", err)
	}
	if _, err := os.Stat(cfg.SecretKeyFile); !os.IsNotExist(err) {
		t.Fatal("a new key file was written over sealed secrets")
	}
}
