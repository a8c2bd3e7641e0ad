package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/store"
	"github.com/dbackup/dbackup/internal/testutil/ferrettest"
	"github.com/dbackup/dbackup/internal/testutil/mytest"
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

// foundCounts is what a drill found, by table.
func foundCounts(d *backup.Drill) map[string]int64 {
	found := map[string]int64{}
	for _, tb := range d.Tables {
		found[tb.Table] = tb.Found
	}
	return found
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
	found := foundCounts(d)
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

// A drill of an awkward MariaDB database (utf8mb4, blobs, reserved-word
// and spaced names, a view, a trigger, a routine, an event) passes in a
// throwaway server with networking off.
func TestDrillMariaDB(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mytest.NewDatabase(t, "drill_my")
	mytest.SeedAwkward(t, db, 20_000)
	a := setup(t)
	dir := drillDir(t, a)
	mysqlSource(t, a, "maria", "dbackup_pw", "dbackup-test-pw")
	localDest(t, a, "disk", t.TempDir())
	a.CreateProfile(ctx, "k", "")
	mustJob(t, a, JobInput{Name: "maria", Source: "maria", Databases: []string{db}, Destinations: dests("disk"), Profile: "k"})
	b := backupOf(t, a, "maria")
	d := passed(t, a, drillOf(t, a, "disk", b.BackupName, ""), 6)
	found := foundCounts(d)
	if found["big"] != 20_000 || found["bytes"] != 256 || found["weird table; drop"] != 2 || found["awkward"] != 2 {
		t.Fatalf("counts found: %v", found)
	}
	if d.Target != "throwaway" || !strings.Contains(d.ServerVersion, "MariaDB") {
		t.Fatalf("drill: %+v", d)
	}
	nothingLeft(t, dir)
}

// Drills of Redis and Valkey snapshots pass in throwaway servers of their
// own family, keys counted per database.
func TestDrillRedisAndValkey(t *testing.T) {
	t.Parallel()
	for _, bin := range []string{"redis-server", "valkey-server"} {
		t.Run(bin, func(t *testing.T) {
			t.Parallel()
			const pw = "drill-redis-pw"
			port, c := privateServer(t, bin, pw)
			ctx := context.Background()
			for i := range 3000 {
				c.Set(ctx, fmt.Sprintf("k%d", i), strings.Repeat("v", i%50), 0)
			}
			c.HSet(ctx, "user:1", "name", "Ada")
			c3 := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), Password: pw, DB: 3})
			defer c3.Close()
			c3.Set(ctx, "other", "db", 0)
			a := setup(t)
			dir := drillDir(t, a)
			if _, err := a.CreateEndpoint(ctx, KindSource, EndpointInput{Name: "cache", Type: "redis", Config: raw(map[string]any{"host": "127.0.0.1", "port": port}),
				Secrets: map[string]string{"password": pw}}); err != nil {
				t.Fatal(err)
			}
			localDest(t, a, "disk", t.TempDir())
			mustJob(t, a, JobInput{Name: "cache", Source: "cache", Destinations: dests("disk")})
			b := backupOf(t, a, "cache")
			d := passed(t, a, drillOf(t, a, "disk", b.BackupName, ""), 2)
			found := foundCounts(d)
			if found["db0"] != 3001 || found["db3"] != 1 {
				t.Fatalf("keys found: %v", found)
			}
			if valkey := strings.HasSuffix(d.ServerVersion, "-valkey"); valkey != (bin == "valkey-server") {
				t.Fatalf("a %s snapshot drilled on %s", bin, d.ServerVersion)
			}
			nothingLeft(t, dir)
		})
	}
}

// A drill of a SQLite backup restores it into a private file, checked and
// counted.
func TestDrillSQLite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	db.Exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, data BLOB)")
	db.Exec("CREATE TABLE \"odd name ✓\" (x)")
	db.Exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 1234) INSERT INTO items SELECT i, 'item ' || i, randomblob(64) FROM n")
	db.Close()
	a := setup(t)
	ctx := context.Background()
	dir := drillDir(t, a)
	if _, err := a.CreateEndpoint(ctx, KindSource, EndpointInput{Name: "lite", Type: "sqlite", Config: raw(map[string]string{"path": path})}); err != nil {
		t.Fatal(err)
	}
	localDest(t, a, "disk", t.TempDir())
	mustJob(t, a, JobInput{Name: "lite", Source: "lite", Destinations: dests("disk")})
	b := backupOf(t, a, "lite")
	d := passed(t, a, drillOf(t, a, "disk", b.BackupName, ""), 2)
	if d.Rows() != 1234 {
		t.Fatalf("rows found: %d, want 1234: %+v", d.Rows(), d.Tables)
	}
	nothingLeft(t, dir)
}

// MongoDB has no server dbackup can start here: its drills go to a drill
// target, a source marked as scratch (FerretDB, standing in for MongoDB),
// where the drill's database is created, counted and dropped.
func TestDrillMongoIntoScratchTarget(t *testing.T) {
	t.Parallel()
	srv := ferrettest.Start(t)
	scratchSrv := ferrettest.Start(t)
	c, sc := srv.Client(t), scratchSrv.Client(t)
	db := pgtest.Name("shop")
	ferrettest.Seed(t, c, db, 1500)
	ctx := context.Background()
	a := setup(t)
	localDest(t, a, "disk", t.TempDir())
	mongoSource(t, a, "mongo", srv.Host, srv.Port, ferrettest.Password)
	mongoSource(t, a, "staging", scratchSrv.Host, scratchSrv.Port, ferrettest.Password)

	// Without a drill target, a MongoDB job cannot ask for drills.
	if _, err := a.CreateJob(ctx, JobInput{Name: "shop", Source: "mongo", Databases: []string{db}, Destinations: dests("disk"), DrillEvery: 1}); err == nil ||
		!strings.Contains(err.Error(), "choose a drill target") {
		t.Fatalf("a MongoDB job with drills and no target: %v", err)
	}
	// Nor may the target be a source not marked as scratch.
	if _, err := a.CreateJob(ctx, JobInput{Name: "shop", Source: "mongo", Databases: []string{db}, Destinations: dests("disk"), DrillTarget: "staging"}); err == nil ||
		!strings.Contains(err.Error(), "not marked as scratch") {
		t.Fatalf("a drill target not marked as scratch: %v", err)
	}
	yes := true
	if _, err := a.UpdateEndpoint(ctx, KindSource, "staging", EndpointInput{Scratch: &yes}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.UpdateEndpoint(ctx, KindSource, "mongo", EndpointInput{Scratch: &yes}); err != nil {
		t.Fatal(err) // no job backs it up yet
	}
	no := false
	a.UpdateEndpoint(ctx, KindSource, "mongo", EndpointInput{Scratch: &no})
	mustJob(t, a, JobInput{Name: "shop", Source: "mongo", Databases: []string{db}, Destinations: dests("disk"), DrillTarget: "staging"})
	if _, err := a.UpdateEndpoint(ctx, KindSource, "mongo", EndpointInput{Scratch: &yes}); err == nil || !strings.Contains(err.Error(), "backs up source") {
		t.Fatalf("marking a backed-up source as scratch: %v", err)
	}
	b := backupOf(t, a, "shop")
	before, _ := sc.ListDatabaseNames(ctx, bson.D{})
	e := drillOf(t, a, "disk", b.BackupName, "")
	d := passed(t, a, e, 2)
	if d.Target != "staging" || d.Rows() < 1500 {
		t.Fatalf("drill: %+v", d)
	}
	after, _ := sc.ListDatabaseNames(ctx, bson.D{})
	if len(after) != len(before) {
		t.Fatalf("the drill left databases on the target: %v, before %v", after, before)
	}
	if left, _ := a.Store.ListLeftovers(ctx, ""); len(left) != 0 {
		t.Fatalf("leftover records after the drill: %+v", left)
	}
}

// rewriteBackup changes an unencrypted, uncompressed backup's data with
// edit and makes its sidecar agree (size, SHA-256) and trusted by an
// admin: data altered after the dump in a way the checksums cannot see.
func rewriteBackup(t *testing.T, a *App, dir, key string, edit func([]byte) []byte) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, key))
	if err != nil {
		t.Fatal(err)
	}
	data = edit(data)
	os.WriteFile(filepath.Join(dir, key), data, 0o600)
	path := filepath.Join(dir, key+backup.MetaSuffix)
	b, _ := os.ReadFile(path)
	var m map[string]any
	json.Unmarshal(b, &m)
	sum := sha256.Sum256(data)
	m["size"], m["sha256"], m["dump_size"] = len(data), hex.EncodeToString(sum[:]), len(data)
	delete(m, "mac")
	out, _ := json.Marshal(m)
	os.WriteFile(path, out, 0o600)
	if _, err := a.TrustBackup(context.Background(), "disk", key, nil); err != nil {
		t.Fatal(err)
	}
}

// A sidecar whose counts disagree with the data fails the drill naming the
// table; a backup the engine refuses fails it with the engine's message;
// both leave nothing behind.
func TestDrillFailsOnWrongCountsAndEngineErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pg, _ := pgtest.NewDatabase(t, "drill_lie")
	pgtest.Connect(t, pg).Exec(ctx, "CREATE TABLE orders AS SELECT generate_series(1, 300) AS id; CREATE TABLE notes (n text)")
	my := mytest.NewDatabase(t, "drill_bad")
	mytest.Open(t, my).Exec("CREATE TABLE t (id INT PRIMARY KEY)")
	mytest.Open(t, my).Exec("INSERT INTO t VALUES (1), (2), (3)")
	a := setup(t)
	dir := drillDir(t, a)
	disk := t.TempDir()
	localDest(t, a, "disk", disk)
	pgSource(t, a, "pg", "postgres", "")
	mysqlSource(t, a, "maria", "dbackup_pw", "dbackup-test-pw")
	mustJob(t, a, JobInput{Name: "pg", Source: "pg", Databases: []string{pg}, Destinations: dests("disk")})
	mustJob(t, a, JobInput{Name: "maria", Source: "maria", Databases: []string{my}, Destinations: dests("disk"), Compression: "none"})

	lie := backupOf(t, a, "pg")
	table := overstate(t, a, disk, lie.BackupName)
	e := drillOf(t, a, "disk", lie.BackupName, "")
	if e.Status != backup.StatusFailed || !strings.Contains(e.Error, table) {
		t.Fatalf("drill of a backup whose counts lie: %s %q\n%s", e.Status, e.Error, logsOf(t, a, e.ID))
	}
	differs := false
	for _, tb := range e.Drill.Tables {
		differs = differs || tb.Table == table && tb.Found == tb.Expected-1
	}
	if !differs {
		t.Fatalf("the drill does not show %s's expected and found counts: %+v", table, e.Drill.Tables)
	}
	nothingLeft(t, dir)

	bad := backupOf(t, a, "maria")
	rewriteBackup(t, a, disk, bad.BackupName, func(b []byte) []byte {
		return bytes.Replace(b, []byte("INSERT INTO `t`"), []byte("INSERT INTO `no_such_table`"), 1)
	})
	e = drillOf(t, a, "disk", bad.BackupName, "")
	if e.Status != backup.StatusFailed || !strings.Contains(e.Error, "ERROR 1100 (HY000) at line 38: Table 'no_such_table'") {
		t.Fatalf("drill of a backup MariaDB refuses: %s %q\n%s", e.Status, e.Error, logsOf(t, a, e.ID))
	}
	nothingLeft(t, dir)
	// The explorer's figures: the newest drill of each backup, failed.
	latest, err := a.Store.LatestDrills(ctx, []string{lie.BackupName, bad.BackupName})
	if err != nil || latest[lie.BackupName].Status != backup.StatusFailed || latest[bad.BackupName].Status != backup.StatusFailed {
		t.Fatalf("latest drills: %+v %v", latest, err)
	}
}

// tcpListeners returns the inodes of the host's listening TCP sockets.
func tcpListeners() map[string]bool {
	out := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\n")[1:] {
			if fs := strings.Fields(line); len(fs) > 9 && fs[3] == "0A" {
				out[fs[9]] = true
			}
		}
	}
	return out
}

// watchServers looks, until stop, for the processes running from dir and
// reports how many it saw and whether any listened on a TCP port.
func watchServers(dir string, stop <-chan struct{}) (seen *int, tcp *bool, done <-chan struct{}) {
	n, listens, fin := 0, false, make(chan struct{})
	go func() {
		defer close(fin)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			procs, _ := os.ReadDir("/proc")
			for _, p := range procs {
				cmd, err := os.ReadFile("/proc/" + p.Name() + "/cmdline")
				if err != nil || !bytes.Contains(cmd, []byte(dir+"/")) {
					continue
				}
				n++
				listening := tcpListeners()
				fds, _ := os.ReadDir("/proc/" + p.Name() + "/fd")
				for _, fd := range fds {
					link, _ := os.Readlink("/proc/" + p.Name() + "/fd/" + fd.Name())
					if inode, ok := strings.CutPrefix(link, "socket:["); ok && listening[strings.TrimSuffix(inode, "]")] {
						listens = true
					}
				}
			}
		}
	}()
	return &n, &listens, fin
}

// A drill's servers listen on no TCP port, and a drill never connects to
// the backed-up source: here that source is unreachable by then.
func TestDrillNeedsNoPortAndNoSource(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pg, _ := pgtest.NewDatabase(t, "drill_port")
	pgtest.Connect(t, pg).Exec(ctx, "CREATE TABLE t AS SELECT generate_series(1, 50000) AS id")
	my := mytest.NewDatabase(t, "drill_port")
	mytest.Open(t, my).Exec("CREATE TABLE t (id INT PRIMARY KEY)")
	const pw = "drill-port-pw"
	port, c := privateServer(t, "redis-server", pw)
	c.Set(ctx, "k", "v", 0)
	a := setup(t)
	localDest(t, a, "disk", t.TempDir())
	pgSource(t, a, "pg", "postgres", "")
	mysqlSource(t, a, "maria", "root", "")
	a.CreateEndpoint(ctx, KindSource, EndpointInput{Name: "cache", Type: "redis", Config: raw(map[string]any{"host": "127.0.0.1", "port": port}),
		Secrets: map[string]string{"password": pw}})
	for job, db := range map[string]string{"pg": pg, "maria": my, "cache": ""} {
		in := JobInput{Name: job, Source: job, Destinations: dests("disk")}
		if db != "" {
			in.Databases = []string{db}
		}
		mustJob(t, a, in)
		b := backupOf(t, a, job)
		// The source moves out of reach: a closed port on loopback.
		cfg := map[string]any{"host": "127.0.0.1", "port": 1, "user": "root", "sslmode": "disable"}
		in2 := EndpointInput{Config: raw(cfg)}
		if job == "cache" {
			in2 = EndpointInput{Config: raw(map[string]any{"host": "127.0.0.1", "port": 1}), Secrets: map[string]string{"password": pw}}
		}
		if _, err := a.UpdateEndpoint(ctx, KindSource, job, in2); err != nil {
			t.Fatal(err)
		}
		dir := drillDir(t, a)
		stop := make(chan struct{})
		seen, tcp, done := watchServers(dir, stop)
		e := drillOf(t, a, "disk", b.BackupName, "")
		close(stop)
		<-done
		passed(t, a, e, 1)
		if *seen == 0 {
			t.Fatalf("%s: never saw the drill's server running", job)
		}
		if *tcp {
			t.Fatalf("%s: the drill's server listened on a TCP port", job)
		}
	}
}

// Drills run after every Nth backup and on a drill schedule, through the
// queue; their outcomes notify the job's channels; an automatic drill of a
// backup over the size bound is skipped with the reason; a job whose
// proven recovery point is too old raises the alarm until a drill passes.
func TestDrillTriggersNotificationsAndObjective(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, src := notifyJob(t)
	drillDir(t, a)
	hook := newHook(t, 200, 0)
	channel(t, a, "ops", "webhook", map[string]any{}, map[string]string{"url": hook.URL})
	mustJob(t, a, JobInput{Name: "app", Source: "pg", Databases: []string{src}, Destinations: dests("disk"), DrillEvery: 2,
		ProvenWithin: backup.Duration(time.Hour), Notifications: []JobChannelInput{{Channel: "ops", Outcomes: []string{"success", "failed"}}}})
	waitDrill := func(trigger backup.Trigger, n int) (list []*backup.Execution) {
		t.Helper()
		waitFor(t, func() bool {
			list, _ = a.Store.ListExecutions(ctx, store.ExecutionFilter{Kind: backup.KindDrill, Trigger: trigger})
			done := 0
			for _, e := range list {
				if e.Status.Terminal() {
					done++
				}
			}
			return done >= n
		})
		return list
	}
	b1 := backupOf(t, a, "app")
	time.Sleep(300 * time.Millisecond)
	if list, _ := a.Store.ListExecutions(ctx, store.ExecutionFilter{Kind: backup.KindDrill}); len(list) != 0 {
		t.Fatalf("a drill after the first of every 2 backups: %+v", list[0])
	}
	b2 := backupOf(t, a, "app")
	d := waitDrill(backup.TriggerAfterBackup, 1)[0]
	if d.Status != backup.StatusSuccess || d.BackupName != b2.BackupName {
		t.Fatalf("drill after the 2nd backup: %s %q of %s (backups %s, %s)", d.Status, d.Error, d.BackupName, b1.BackupName, b2.BackupName)
	}
	if n, _ := a.CheckUnproven(ctx, time.Now().Add(30*time.Minute)); n != 0 {
		t.Fatalf("%d objective alarms right after a drill passed", n)
	}
	if n, _ := a.CheckUnproven(ctx, b2.CreatedAt.Add(61*time.Minute)); n != 1 {
		t.Fatalf("%d objective alarms an hour after the proven backup, want 1", n)
	}
	if n, _ := a.CheckUnproven(ctx, b2.CreatedAt.Add(62*time.Minute)); n != 0 {
		t.Fatalf("%d objective alarms a minute after the last one, want 0", n)
	}
	// A job never proven misses its objective an hour after it was made.
	mustJob(t, a, JobInput{Name: "never", Source: "pg", Databases: []string{src}, Destinations: dests("disk"), ProvenWithin: backup.Duration(time.Hour),
		Notifications: []JobChannelInput{{Channel: "ops", Outcomes: []string{"failed"}}}})
	if n, _ := a.CheckUnproven(ctx, time.Now().Add(2*time.Hour)); n != 1 {
		t.Fatalf("%d objective alarms for a job never proven, want 1", n)
	}

	// A drill schedule that is due fires once, the newest backup. The
	// schedule is every minute: start early in a minute, so that the
	// scheduler's own firing at the next one cannot meet this drill.
	for time.Now().Second() > 40 {
		time.Sleep(time.Second)
	}
	job, _ := a.Store.GetJob(ctx, "app")
	in := JobInput{Name: "app", Source: "pg", Databases: []string{src}, Destinations: dests("disk"), DrillSchedule: "* * * * *",
		Notifications: []JobChannelInput{{Channel: "ops", Outcomes: []string{"success", "failed"}}}}
	if _, err := a.UpdateJob(ctx, "app", in); err != nil {
		t.Fatal(err)
	}
	job, _ = a.Store.GetJob(ctx, job.ID)
	a.Store.MarkScheduled(ctx, job.ID, backup.KindDrill, job.DrillScheduledAt, time.Now().UTC().Add(-61*time.Second))
	s := waitDrill(backup.TriggerSchedule, 1)[0]
	if s.Status != backup.StatusSuccess || s.BackupName != b2.BackupName {
		t.Fatalf("scheduled drill: %s %q of %s", s.Status, s.Error, s.BackupName)
	}

	// Over the size bound, an automatic drill is skipped and says why.
	pgtest.Connect(t, src).Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pgcrypto; CREATE TABLE noise AS SELECT gen_random_bytes(1024) AS b FROM generate_series(1, 3000)")
	if err := a.SetSetting(ctx, "drill_max_mib", "1"); err != nil {
		t.Fatal(err)
	}
	in.DrillSchedule, in.DrillEvery = "", 1
	a.UpdateJob(ctx, "app", in)
	backupOf(t, a, "app")
	list := waitDrill(backup.TriggerAfterBackup, 2)
	if list[0].Status != backup.StatusSkipped || !strings.Contains(list[0].Error, "larger than the 1.0 MiB") || list[0].Drill == nil || list[0].Drill.Skipped == "" {
		t.Fatalf("automatic drill of a large backup: %s %q", list[0].Status, list[0].Error)
	}

	// A drill's notification leaves after its status is written (which
	// waitDrill saw): wait for the messages, then a moment for any extra.
	want := []string{"Recovery point objective missed: app", "Recovery point objective missed: never", "Restore drill passed: app", "Restore drill passed: app", "Restore drill skipped: app"}
	var titles []string
	collect := func() bool {
		a.WaitNotifications()
		_, bodies := hook.got()
		titles = nil
		for _, b := range bodies {
			var ev map[string]any
			json.Unmarshal([]byte(b), &ev)
			if ev["kind"] == "drill" || ev["kind"] == "missed" {
				titles = append(titles, fmt.Sprint(ev["title"]))
			}
		}
		return len(titles) >= len(want)
	}
	for deadline := time.Now().Add(20 * time.Second); !collect() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	collect()
	sort.Strings(titles)
	if strings.Join(titles, "|") != strings.Join(want, "|") {
		t.Fatalf("notifications:\n%s\nwant:\n%s", strings.Join(titles, "\n"), strings.Join(want, "\n"))
	}
}

// A drill cancelled while it restores ends cancelled, its server stopped
// and its directory removed.
func TestDrillCancelledRemovesItsServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := pgtest.NewDatabase(t, "drill_cancel")
	pgtest.Connect(t, db).Exec(ctx, "CREATE TABLE t AS SELECT generate_series(1, 1000) AS id")
	// PostgreSQL 15's server programs with a pg_restore that restores, then
	// hangs; the servers' user must reach them, so not under t.TempDir().
	bin, _ := os.MkdirTemp("", "dbackup-drillbin-")
	t.Cleanup(func() { os.RemoveAll(bin) })
	os.Chmod(bin, 0o755)
	for _, p := range []string{"initdb", "postgres"} {
		os.Symlink("/usr/lib/postgresql/15/bin/"+p, filepath.Join(bin, p))
	}
	os.WriteFile(filepath.Join(bin, "pg_restore"), []byte("#!/bin/sh\n/usr/lib/postgresql/15/bin/pg_restore \"$@\" || exit $?\nexec sleep 120\n"), 0o755)
	a := setup(t)
	a.Runner.ToolDirs = []string{bin}
	dir := drillDir(t, a)
	pgSource(t, a, "pg", "postgres", "")
	localDest(t, a, "disk", t.TempDir())
	mustJob(t, a, JobInput{Name: "pg", Source: "pg", Databases: []string{db}, Destinations: dests("disk")})
	b := backupOf(t, a, "pg")
	e, err := a.QueueDrill(ctx, DrillRequest{Destination: "disk", Key: b.BackupName})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(logsOf(t, a, e.ID), "pg_restore: ") })
	if _, err := a.Cancel(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	var x *backup.Execution
	waitFor(t, func() bool { x, _ = a.Store.GetExecution(ctx, e.ID); return x.Status.Terminal() })
	if x.Status != backup.StatusCancelled {
		t.Fatalf("cancelled drill: %s %q", x.Status, x.Error)
	}
	nothingLeft(t, dir)
}
