package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

func TestCancelQueuedAndRunningFromCLIAndAPI(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.NewDatabase(t, "dbackup_cancel")
	pgtest.Connect(t, db).Exec(context.Background(), "CREATE TABLE t AS SELECT g, md5(g::text) FROM generate_series(1, 100000) g")
	dir := t.TempDir()
	e := env{"DBACKUP_DATA_DIR=" + t.TempDir()}
	bin := slowPgDump(t, false)
	e.run(t, "", "source", "create", "-name", "slow", "-type", "postgres", "-config", `{"host":"127.0.0.1","user":"postgres","sslmode":"disable","bin_dir":"`+bin+`"}`)
	e.run(t, "", "destination", "create", "-name", "disk", "-type", "local", "-config", `{"path":"`+dir+`"}`)
	for _, j := range []string{"a", "b", "c"} {
		e.run(t, "", "job", "create", "-name", j, "-source", "slow", "-databases", db, "-destination", "disk", "-compression", "none")
	}
	n := e.serve(t, "n1")
	status := func(id string) string { return n.api(t, "GET", "/api/v1/executions/"+id, nil)["status"].(string) }
	running := func(id string) func() bool {
		return func() bool {
			x := n.api(t, "GET", "/api/v1/executions/"+id, nil)
			return x["status"] == "running" && x["bytes_dumped"].(float64) > 0
		}
	}
	a := n.api(t, "POST", "/api/v1/jobs/a/run", nil)["id"].(string)
	b := n.api(t, "POST", "/api/v1/jobs/b/run", nil)["id"].(string)
	waitUntil(t, 30*time.Second, "a to stream", running(a))

	// A queued execution, cancelled from the CLI (another process).
	if out := e.run(t, "", "execution", "cancel", b); !strings.Contains(out, "cancelled") || status(b) != "cancelled" {
		t.Fatalf("cancel queued from the CLI: %s, status %s", out, status(b))
	}
	// A running one, cancelled through the API (the node that runs it).
	n.api(t, "POST", "/api/v1/executions/"+a+"/cancel", nil)
	waitUntil(t, 10*time.Second, "a to be cancelled", func() bool { return status(a) == "cancelled" })

	// A running one, cancelled from the CLI: the request travels through
	// the database and the node acts on its next heartbeat.
	c := n.api(t, "POST", "/api/v1/jobs/c/run", nil)["id"].(string)
	waitUntil(t, 30*time.Second, "c to stream", running(c))
	if out := e.run(t, "", "execution", "cancel", c); !strings.Contains(out, "requested") {
		t.Fatalf("cancel running from the CLI: %s", out)
	}
	start := time.Now()
	waitUntil(t, 15*time.Second, "c to be cancelled", func() bool { return status(c) == "cancelled" })
	t.Logf("cancel from another process took %s", time.Since(start).Round(100*time.Millisecond))

	// Nothing was committed and nothing was left behind.
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}
