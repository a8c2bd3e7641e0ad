package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/dbackup/dbackup/internal/testutil/pgtest"
	"github.com/dbackup/dbackup/internal/testutil/srvtest"
)

// children lists the processes whose parent is pid.
func children(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after ")".
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && !strings.Contains(string(stat), ") Z ")
}

// A pg_dump waiting on a lock dies with its killed server, within a second,
// and releases its connection.
func TestKilledServerLeavesNoDumpTool(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.NewDatabase(t, "dbackup_orphan")
	ctx := context.Background()
	lock := pgtest.Connect(t, db)
	if _, err := lock.Exec(ctx, "CREATE TABLE t AS SELECT generate_series(1, 100) AS id"); err != nil {
		t.Fatal(err)
	}
	e := env{"DBACKUP_DATA_DIR=" + t.TempDir()}
	e.run(t, "", "source", "create", "-name", "pg", "-type", "postgres", "-config", `{"host":"127.0.0.1","user":"postgres","sslmode":"disable"}`)
	e.run(t, "", "destination", "create", "-name", "disk", "-type", "local", "-config", `{"path":"`+t.TempDir()+`"}`)
	e.run(t, "", "job", "create", "-name", "locked", "-source", "pg", "-databases", db, "-destination", "disk")
	tx, err := lock.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "LOCK TABLE t IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	n := e.serve(t, "n1")
	n.api(t, "POST", "/api/v1/jobs/locked/run", nil)
	var dumps []int
	waitUntil(t, 30*time.Second, "pg_dump to wait on the lock", func() bool {
		dumps = nil
		for _, c := range children(n.cmd.Process.Pid) {
			if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(c) + "/comm"); strings.TrimSpace(string(comm)) == "pg_dump" {
				dumps = append(dumps, c)
			}
		}
		return len(dumps) > 0
	})
	n.kill()
	killed := time.Now()
	for _, pid := range dumps {
		for alive(pid) {
			if time.Since(killed) > time.Second {
				t.Fatalf("pg_dump %d outlived its killed server by more than a second", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	admin := pgtest.Connect(t, "")
	waitUntil(t, 10*time.Second, "pg_dump's session to end", func() bool {
		var sessions int
		admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'dbackup'", db).Scan(&sessions)
		return sessions == 0
	})
}

// A server killed while a backup streams a multipart upload to MinIO:
// the next start aborts the unfinished upload.
func TestKilledServerLeavesNoUnfinishedUpload(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.NewDatabase(t, "dbackup_s3kill")
	pgtest.Connect(t, db).Exec(context.Background(), "CREATE TABLE t AS SELECT g, md5(g::text) || md5((g+1)::text) AS s FROM generate_series(1, 400000) g")
	bucket := srvtest.MinIOBucket(t)
	bin := t.TempDir()
	// A pg_dump that streams 30 MB of a real dump, then hangs: the upload is
	// past its first part.
	os.WriteFile(filepath.Join(bin, "pg_dump"), []byte("#!/bin/sh\n/usr/bin/pg_dump \"$@\" | head -c 30000000\nexec sleep 120\n"), 0o755)
	e := env{"DBACKUP_DATA_DIR=" + t.TempDir(), "DBACKUP_TOOL_DIRS=" + bin, "S3_SECRET=" + srvtest.MinIOPassword}
	e.run(t, "", "source", "create", "-name", "slow", "-type", "postgres", "-config", `{"host":"127.0.0.1","user":"postgres","sslmode":"disable","bin_dir":"`+bin+`"}`)
	e.run(t, "", "destination", "create", "-name", "s3", "-type", "s3", "-secret-env", "secret_access_key=S3_SECRET", "-config",
		`{"endpoint":"`+srvtest.MinIOEndpoint+`","bucket":"`+bucket+`","access_key_id":"`+srvtest.MinIOUser+`","path_style":true,"prefix":"backups"}`)
	e.run(t, "", "job", "create", "-name", "big", "-source", "slow", "-databases", db, "-destination", "s3", "-compression", "none")
	mc, err := minio.NewCore(strings.TrimPrefix(srvtest.MinIOEndpoint, "http://"), &minio.Options{Creds: credentials.NewStaticV4(srvtest.MinIOUser, srvtest.MinIOPassword, "")})
	if err != nil {
		t.Fatal(err)
	}
	uploads := func() int {
		res, err := mc.ListMultipartUploads(context.Background(), bucket, "", "", "", "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Uploads)
	}
	n := e.serve(t, "n1")
	n.api(t, "POST", "/api/v1/jobs/big/run", nil)
	waitUntil(t, 60*time.Second, "a multipart upload to start", func() bool { return uploads() > 0 })
	n.kill()
	if uploads() == 0 {
		t.Fatal("the killed server's upload is already gone")
	}
	e.serve(t, "n1")
	waitUntil(t, 30*time.Second, "the next start to abort the unfinished upload", func() bool { return uploads() == 0 })
}

// SIGTERM to the node running a long backup: when its grace is over, the
// run is queued again and another node completes it.
func TestGracefulStopHandsTheRunToAnotherNode(t *testing.T) {
	t.Parallel()
	src, _ := pgtest.NewDatabase(t, "dbackup_handover_src")
	pgtest.Connect(t, src).Exec(context.Background(), "CREATE TABLE t AS SELECT generate_series(1, 1000) AS id")
	metaDB, metaURL := pgtest.NewDatabase(t, "dbackup_handover_meta")
	meta := pgtest.Connect(t, metaDB)
	bin := slowPgDump(t, true) // hangs the first time only
	e := env{"DBACKUP_DATABASE_URL=" + metaURL, "DBACKUP_SECRET_KEY=" + strings.Repeat("6b", 32), "DBACKUP_DATA_DIR=" + t.TempDir(), "DBACKUP_TOOL_DIRS=" + bin}
	e.run(t, "", "source", "create", "-name", "pg", "-type", "postgres", "-config", `{"host":"127.0.0.1","user":"postgres","sslmode":"disable","bin_dir":"`+bin+`"}`)
	e.run(t, "", "destination", "create", "-name", "disk", "-type", "local", "-config", `{"path":"`+t.TempDir()+`"}`)
	e.run(t, "", "job", "create", "-name", "long", "-source", "pg", "-databases", src, "-destination", "disk")
	e.run(t, "", "setting", "set", "shutdown_grace_seconds", "1")
	nodes := map[string]*node{"n1": e.serve(t, "n1"), "n2": e.serve(t, "n2")}
	first := nodes["n1"].api(t, "POST", "/api/v1/jobs/long/run", nil)["id"].(string)
	var runner string
	waitUntil(t, 30*time.Second, "the backup to run", func() bool {
		meta.QueryRow(context.Background(), "SELECT node FROM executions WHERE id = $1 AND status = 'running'", first).Scan(&runner)
		return nodes[runner] != nil
	})
	n := nodes[runner]
	n.cmd.Process.Signal(syscall.SIGTERM)
	if err := n.cmd.Wait(); err != nil {
		t.Fatalf("node %s after SIGTERM: %v", runner, err)
	}
	var status, msg string
	meta.QueryRow(context.Background(), "SELECT status, error FROM executions WHERE id = $1", first).Scan(&status, &msg)
	if status != "failed" || !strings.Contains(msg, "queued again") {
		t.Fatalf("the run cut by SIGTERM: %s %q", status, msg)
	}
	var other, okStatus string
	waitUntil(t, 60*time.Second, "the backup to complete on the other node", func() bool {
		meta.QueryRow(context.Background(), "SELECT node, status FROM executions WHERE job_name = 'long' AND id <> $1 ORDER BY created_at DESC LIMIT 1", first).Scan(&other, &okStatus)
		return okStatus == "success"
	})
	if other == runner {
		t.Fatalf("the run was completed by the stopped node %s", other)
	}
}

// A server killed in the middle of a restore that overwrites a database:
// the database is untouched, and the next start drops the scratch database.
func TestKill9DuringOverwriteRestore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, _ := pgtest.NewDatabase(t, "dbackup_ow_src")
	pgtest.Connect(t, src).Exec(ctx, "CREATE TABLE fresh AS SELECT generate_series(1, 5000) AS id")
	target, _ := pgtest.NewDatabase(t, "dbackup_ow_target")
	pgtest.Connect(t, target).Exec(ctx, "CREATE TABLE old AS SELECT generate_series(1, 7) AS id")
	bin := t.TempDir()
	// A pg_restore that restores, then hangs: the server is killed while
	// the scratch database is complete but not yet swapped in.
	os.WriteFile(filepath.Join(bin, "pg_restore"), []byte("#!/bin/sh\n/usr/bin/pg_restore \"$@\" || exit $?\nexec sleep 120\n"), 0o755)
	dir := t.TempDir()
	e := env{"DBACKUP_DATA_DIR=" + t.TempDir(), "DBACKUP_TOOL_DIRS=" + bin}
	e.run(t, "", "source", "create", "-name", "pg", "-type", "postgres", "-config", `{"host":"127.0.0.1","user":"postgres","sslmode":"disable"}`)
	e.run(t, "", "source", "create", "-name", "slowrestore", "-type", "postgres", "-config", `{"host":"127.0.0.1","user":"postgres","sslmode":"disable","bin_dir":"`+bin+`"}`)
	e.run(t, "", "destination", "create", "-name", "disk", "-type", "local", "-config", `{"path":"`+dir+`"}`)
	e.run(t, "", "job", "create", "-name", "j", "-source", "pg", "-databases", src, "-destination", "disk")
	e.run(t, "", "job", "run", "j")
	key := strings.Fields(strings.Split(e.run(t, "", "backup", "list", "-destination", "disk"), "\n")[1])[0]

	admin := pgtest.Connect(t, "")
	scratches := func() []string {
		rows, _ := admin.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE 'dbackup_scratch_%'")
		defer rows.Close()
		var out []string
		for rows.Next() {
			var n string
			rows.Scan(&n)
			out = append(out, n)
		}
		return out
	}
	before := scratches()
	n := e.serve(t, "n1")
	n.api(t, "POST", "/api/v1/restores", map[string]any{"destination": "disk", "key": key, "source": "slowrestore",
		"targets": map[string]string{src: target}, "overwrite": true})
	var mine []string
	waitUntil(t, 30*time.Second, "the scratch database to be restored", func() bool {
		mine = nil
		for _, s := range scratches() {
			if !contains(before, s) {
				mine = append(mine, s)
			}
		}
		if len(mine) == 0 {
			return false
		}
		for _, c := range children(n.cmd.Process.Pid) { // pg_restore is done and hangs
			if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(c) + "/comm"); strings.TrimSpace(string(comm)) == "sleep" {
				return true
			}
		}
		return false
	})
	n.kill()
	var rows int
	if err := pgtest.Connect(t, mine[0]).QueryRow(ctx, "SELECT count(*) FROM fresh").Scan(&rows); err != nil || rows != 5000 {
		t.Fatalf("scratch database: %d rows, %v", rows, err)
	}
	var old int
	if err := pgtest.Connect(t, target).QueryRow(ctx, "SELECT count(*) FROM old").Scan(&old); err != nil || old != 7 {
		t.Fatalf("the database being overwritten changed: %d rows, %v", old, err)
	}
	e.serve(t, "n1")
	waitUntil(t, 30*time.Second, "the next start to drop the scratch database", func() bool {
		return !contains(scratches(), mine[0])
	})
	if err := pgtest.Connect(t, target).QueryRow(ctx, "SELECT count(*) FROM old").Scan(&old); err != nil || old != 7 {
		t.Fatalf("after the restart the database changed: %d rows, %v", old, err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// drillProcesses lists the processes that run from a drill directory:
// named on their command line, or working there.
func drillProcesses(base string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !alive(pid) {
			continue
		}
		cwd, _ := os.Readlink("/proc/" + e.Name() + "/cwd")
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.HasPrefix(cwd, base+"/") || strings.Contains(string(cmd), base+"/") {
			out = append(out, pid)
		}
	}
	return out
}

// A server killed with kill -9 while a drill restores into its throwaway
// PostgreSQL: after the next start no drill server process, socket or
// directory is left, and the drill is recorded as interrupted.
func TestKill9DuringDrill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, _ := pgtest.NewDatabase(t, "dbackup_drillkill")
	pgtest.Connect(t, src).Exec(ctx, "CREATE TABLE t AS SELECT generate_series(1, 5000) AS id")
	// Server programs of a PostgreSQL 15 whose pg_restore restores, then
	// hangs: the drill is killed with its server up and restoring. The
	// servers' user must reach them, so not under t.TempDir().
	bin, _ := os.MkdirTemp("", "dbackup-drillbin-")
	drills, _ := os.MkdirTemp("", "dbackup-drills-")
	t.Cleanup(func() { os.RemoveAll(bin); os.RemoveAll(drills) })
	os.Chmod(bin, 0o755)
	os.Chmod(drills, 0o711)
	for _, p := range []string{"initdb", "postgres", "pg_ctl"} {
		os.Symlink("/usr/lib/postgresql/15/bin/"+p, filepath.Join(bin, p))
	}
	os.WriteFile(filepath.Join(bin, "pg_restore"), []byte("#!/bin/sh\n/usr/lib/postgresql/15/bin/pg_restore \"$@\" || exit $?\nexec sleep 120\n"), 0o755)
	e := env{"DBACKUP_DATA_DIR=" + t.TempDir(), "DBACKUP_TOOL_DIRS=" + bin, "DBACKUP_DRILL_DIR=" + drills}
	e.run(t, "", "source", "create", "-name", "pg", "-type", "postgres", "-config", `{"host":"127.0.0.1","user":"postgres","sslmode":"disable"}`)
	e.run(t, "", "destination", "create", "-name", "disk", "-type", "local", "-config", `{"path":"`+t.TempDir()+`"}`)
	e.run(t, "", "job", "create", "-name", "j", "-source", "pg", "-databases", src, "-destination", "disk")
	e.run(t, "", "job", "run", "j")
	key := strings.Fields(strings.Split(e.run(t, "", "backup", "list", "-destination", "disk"), "\n")[1])[0]

	n := e.serve(t, "n1")
	id := n.api(t, "POST", "/api/v1/destinations/disk/backups/drill", map[string]string{"key": key})["id"].(string)
	var x map[string]any
	defer func() {
		if t.Failed() {
			t.Logf("the drill: %v", x)
		}
	}()
	waitUntil(t, 60*time.Second, "the drill to restore into its running server", func() bool {
		x = n.api(t, "GET", "/api/v1/executions/"+id, nil)
		return x["stage"] == "restore" && strings.Contains(fmt.Sprint(x["logs"]), "pg_restore") && len(drillProcesses(drills)) > 0
	})
	n.kill()
	n = e.serve(t, "n1")
	waitUntil(t, 30*time.Second, "the next start to remove the drill's server and directory", func() bool {
		entries, _ := os.ReadDir(drills)
		return len(entries) == 0 && len(drillProcesses(drills)) == 0
	})
	x = n.api(t, "GET", "/api/v1/executions/"+id, nil)
	if x["status"] != "failed" || !strings.Contains(fmt.Sprint(x["error"]), "interrupted") {
		t.Fatalf("the killed drill: %v %v", x["status"], x["error"])
	}
	// The next drill of the same backup runs and passes.
	e.run(t, "", "setting", "set", "max_concurrent_jobs", "1")
	os.Remove(filepath.Join(bin, "pg_restore"))
	os.Symlink("/usr/lib/postgresql/15/bin/pg_restore", filepath.Join(bin, "pg_restore"))
	again := n.api(t, "POST", "/api/v1/destinations/disk/backups/drill", map[string]string{"key": key})["id"].(string)
	waitUntil(t, 60*time.Second, "a new drill to pass", func() bool { return n.api(t, "GET", "/api/v1/executions/"+again, nil)["status"] == "success" })
}
