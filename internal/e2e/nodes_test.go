package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

func TestSeveralNodesOnPostgres(t *testing.T) {
	t.Parallel()
	src, _ := pgtest.NewDatabase(t, "dbackup_nodes_src")
	pgtest.Connect(t, src).Exec(context.Background(), "CREATE TABLE t AS SELECT generate_series(1, 100) AS id")
	metaDB, metaURL := pgtest.NewDatabase(t, "dbackup_nodes_meta")
	meta := pgtest.Connect(t, metaDB)
	dir := t.TempDir()
	e := env{"DBACKUP_DATABASE_URL=" + metaURL, "DBACKUP_SECRET_KEY=" + strings.Repeat("5a", 32), "DBACKUP_DATA_DIR=" + t.TempDir()}
	bin := slowPgDump(t, true)
	e.run(t, "", "source", "create", "-name", "pg", "-type", "postgres", "-config", `{"host":"127.0.0.1","user":"postgres","sslmode":"disable"}`)
	e.run(t, "", "source", "create", "-name", "hangs-once", "-type", "postgres", "-config", `{"host":"127.0.0.1","user":"postgres","sslmode":"disable","bin_dir":"`+bin+`"}`)
	e.run(t, "", "destination", "create", "-name", "disk", "-type", "local", "-config", `{"path":"`+dir+`"}`)
	e.run(t, "", "setting", "set", "max_concurrent_jobs", "3")
	for i := range 100 {
		e.run(t, "", "job", "create", "-name", fmt.Sprintf("j%03d", i), "-source", "pg", "-databases", src, "-destination", "disk", "-compression", "none")
	}
	nodes := map[string]*node{}
	for _, id := range []string{"n1", "n2", "n3"} {
		nodes[id] = e.serve(t, id, "-stale-after", "5s")
	}

	// 100 executions, triggered through all three nodes: each runs exactly once.
	var wg sync.WaitGroup
	ids := make([]string, 100)
	for i := range 100 {
		n := nodes[fmt.Sprintf("n%d", i%3+1)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i] = n.api(t, "POST", fmt.Sprintf("/api/v1/jobs/j%03d/run", i), nil)["id"].(string)
		}()
	}
	wg.Wait()
	waitUntil(t, 3*time.Minute, "100 executions to finish", func() bool {
		var open int
		meta.QueryRow(context.Background(), "SELECT count(*) FROM executions WHERE status IN ('queued','running')").Scan(&open)
		return open == 0
	})
	var ok, ran, backups int
	meta.QueryRow(context.Background(), "SELECT count(*), count(DISTINCT node) FROM executions WHERE status = 'success'").Scan(&ok, &ran)
	if ok != 100 || ran < 2 {
		t.Fatalf("%d of 100 succeeded, on %d nodes", ok, ran)
	}
	list := e.run(t, "", "backup", "list", "-destination", "disk")
	backups = strings.Count(list, "\n") - 1
	if backups != 100 {
		t.Fatalf("%d backups for 100 executions: an execution ran twice or not at all", backups)
	}

	// Killing the leader moves scheduling to another node.
	var leader string
	meta.QueryRow(context.Background(), "SELECT holder FROM leases WHERE name = 'scheduler'").Scan(&leader)
	if nodes[leader] == nil {
		t.Fatalf("leader %q is not one of the nodes", leader)
	}
	killedAt := time.Now()
	nodes[leader].kill()
	var next string
	waitUntil(t, 30*time.Second, "another node to take the scheduler lease", func() bool {
		meta.QueryRow(context.Background(), "SELECT holder FROM leases WHERE name = 'scheduler'").Scan(&next)
		return next != leader && nodes[next] != nil
	})
	e.run(t, "", "job", "create", "-name", "minutely", "-source", "pg", "-databases", src, "-destination", "disk", "-schedule", "* * * * *")
	waitUntil(t, 150*time.Second, "the new leader to fire a schedule", func() bool {
		var n int
		meta.QueryRow(context.Background(), "SELECT count(*) FROM executions WHERE job_name = 'minutely' AND trigger_type = 'schedule' AND status = 'success'").Scan(&n)
		return n >= 1
	})
	t.Logf("leader %s killed; %s scheduled after %s", leader, next, time.Since(killedAt).Round(time.Second))

	// Killing the worker of a running backup: it is failed as interrupted
	// and retried on a live node.
	e.run(t, "", "job", "create", "-name", "victim", "-source", "hangs-once", "-databases", src, "-destination", "disk")
	first := nodes[next].api(t, "POST", "/api/v1/jobs/victim/run", nil)["id"].(string)
	var worker string
	waitUntil(t, 30*time.Second, "the victim to run", func() bool {
		meta.QueryRow(context.Background(), "SELECT node FROM executions WHERE id = $1 AND status = 'running'", first).Scan(&worker)
		return worker != ""
	})
	nodes[worker].kill()
	waitUntil(t, 150*time.Second, "the victim's retry to succeed elsewhere", func() bool {
		var n int
		meta.QueryRow(context.Background(), "SELECT count(*) FROM executions WHERE job_name = 'victim' AND attempt = 2 AND status = 'success' AND node <> $1", worker).Scan(&n)
		return n == 1
	})
	var status, msg string
	meta.QueryRow(context.Background(), "SELECT status, error FROM executions WHERE id = $1", first).Scan(&status, &msg)
	if status != "failed" || !strings.Contains(msg, "stopped responding") {
		t.Fatalf("the killed worker's run: %s %q", status, msg)
	}
}
