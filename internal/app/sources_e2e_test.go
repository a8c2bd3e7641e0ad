package app

import (
	"bytes"
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
	"github.com/dbackup/dbackup/internal/testutil/mytest"
	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

// argvWatch samples every process's argv until stopped, recording any that
// contains the secret and how many dump tools it saw.
type argvWatch struct {
	leaks, tools atomic.Int32
	stop         chan struct{}
	wg           sync.WaitGroup
}

func watchArgv(secret string, tools ...string) *argvWatch {
	w := &argvWatch{stop: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
			for _, p := range procs {
				b, err := os.ReadFile(p)
				if err != nil || len(b) == 0 {
					continue
				}
				if bytes.Contains(b, []byte(secret)) {
					w.leaks.Add(1)
				}
				for _, tool := range tools {
					if bytes.HasPrefix(b, []byte(tool)) || bytes.Contains(b, []byte("/"+tool+"\x00")) {
						w.tools.Add(1)
					}
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return w
}

func (w *argvWatch) done() { close(w.stop); w.wg.Wait() }

func TestNoPasswordInAnyChildArgv(t *testing.T) {
	t.Parallel()
	const pw = "dbackup-test-pw"
	// PostgreSQL, as the password-checked role, on a database it owns.
	pgdb := pgtest.Name("dbackup_argv")
	if _, err := pgtest.Connect(t, "").Exec(context.Background(), "CREATE DATABASE "+pgdb+" OWNER dbackup_pw"); err != nil {
		t.Fatal(err)
	}
	pgtest.Drop(t, pgdb)
	conn := pgtest.Connect(t, pgdb)
	conn.Exec(context.Background(), "SET ROLE dbackup_pw")
	if _, err := conn.Exec(context.Background(), "CREATE TABLE t AS SELECT g, md5(g::text) FROM generate_series(1, 200000) g"); err != nil {
		t.Fatal(err)
	}
	mydb := mytest.NewDatabase(t, "dbackup_argv")
	mytest.SeedAwkward(t, mydb, 50_000)

	a := setup(t)
	ctx := context.Background()
	pgSource(t, a, "pg", "dbackup_pw", pw)
	mysqlSource(t, a, "maria", "dbackup_pw", pw)
	localDest(t, a, "disk", t.TempDir())
	mustJob(t, a, JobInput{Name: "pg", Source: "pg", Databases: []string{pgdb}, Destinations: dests("disk")})
	mustJob(t, a, JobInput{Name: "maria", Source: "maria", Databases: []string{mydb}, Destinations: dests("disk")})
	w := watchArgv(pw, "pg_dump", "mariadb-dump", "mysqldump")
	for _, job := range []string{"pg", "maria"} {
		if e, _ := a.RunJob(ctx, job, backup.TriggerManual, false); e.Status != backup.StatusSuccess {
			w.done()
			t.Fatalf("%s: %s", job, e.Error)
		}
	}
	w.done()
	if w.tools.Load() == 0 {
		t.Fatal("the sampler never saw a dump tool: the check proved nothing")
	}
	if n := w.leaks.Load(); n > 0 {
		t.Fatalf("the password appeared in %d process command lines", n)
	}
}

// stallingDump writes a bash wrapper that lets the tool dump a little, then
// holds the pipe so the tool waits mid-dump with its connection open; a
// failure of the tool still fails the wrapper (pipefail).
func stallingDump(t *testing.T, tool, real string) string {
	bin := t.TempDir()
	script := "#!/bin/bash\nset -o pipefail\n" + real + " \"$@\" | { head -c 65536; sleep 3; cat; }\n"
	os.WriteFile(filepath.Join(bin, tool), []byte(script), 0o755)
	return bin
}

func TestServerGoneMidDump(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pgdb, _ := pgtest.NewDatabase(t, "dbackup_gone")
	pgtest.Connect(t, pgdb).Exec(ctx, "CREATE TABLE t AS SELECT g, md5(g::text) AS h FROM generate_series(1, 300000) g")
	mydb := mytest.NewDatabase(t, "dbackup_gone")
	mytest.SeedAwkward(t, mydb, 300_000)

	a := setup(t)
	dir := t.TempDir()
	localDest(t, a, "disk", dir)
	pgBin, myBin := stallingDump(t, "pg_dump", "/usr/bin/pg_dump"), stallingDump(t, "mariadb-dump", "/usr/bin/mariadb-dump")
	a.CreateEndpoint(ctx, KindSource, EndpointInput{Name: "pg", Type: "postgres", Config: raw(map[string]any{"host": "127.0.0.1", "user": "postgres", "sslmode": "disable", "bin_dir": pgBin})})
	a.CreateEndpoint(ctx, KindSource, EndpointInput{Name: "maria", Type: "mysql", Config: raw(map[string]any{"host": "127.0.0.1", "user": "root", "sslmode": "disable", "bin_dir": myBin})})
	mustJob(t, a, JobInput{Name: "pg", Source: "pg", Databases: []string{pgdb}, Destinations: dests("disk")})
	mustJob(t, a, JobInput{Name: "maria", Source: "maria", Databases: []string{mydb}, Destinations: dests("disk")})

	kill := map[string]func() error{
		"pg": func() error {
			_, err := pgtest.Connect(t, "").Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'dbackup' AND datname = $1", pgdb)
			return err
		},
		"maria": func() error {
			conn := mytest.Open(t, "")
			rows, err := conn.Query("SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()", mydb)
			if err != nil {
				return err
			}
			var ids []int64
			for rows.Next() {
				var id int64
				rows.Scan(&id)
				ids = append(ids, id)
			}
			rows.Close()
			if len(ids) == 0 {
				return fmt.Errorf("no dump connection found")
			}
			for _, id := range ids {
				conn.Exec(fmt.Sprintf("KILL %d", id))
			}
			return nil
		},
	}
	for _, job := range []string{"pg", "maria"} {
		e, err := a.StartJob(ctx, job, backup.TriggerAPI, false)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { x, _ := a.Store.GetExecution(ctx, e.ID); return x.BytesDumped > 0 })
		if err := kill[job](); err != nil {
			t.Fatalf("%s: %v", job, err)
		}
		var x *backup.Execution
		waitFor(t, func() bool { x, _ = a.Store.GetExecution(ctx, e.ID); return x.Status.Terminal() })
		if x.Status != backup.StatusFailed || !strings.Contains(x.Error, "exited with status") {
			t.Fatalf("%s after the server dropped the dump: %s %q", job, x.Status, x.Error)
		}
		t.Logf("%s: %s", job, x.Error)
	}
	assertEmpty(t, dir)
}
