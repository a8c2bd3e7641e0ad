package app

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/runner"
	"github.com/dbackup/dbackup/internal/testutil/ferrettest"
	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

func mongoSource(t *testing.T, a *App, name, host string, port int, password string) {
	t.Helper()
	_, err := a.CreateEndpoint(context.Background(), KindSource, EndpointInput{Name: name, Type: "mongodb",
		Config:  raw(map[string]any{"host": host, "port": port, "user": ferrettest.User, "auth_mechanism": ferrettest.Mechanism}),
		Secrets: map[string]string{"password": password}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMongoJobBackupRestoreAndFailures(t *testing.T) {
	t.Parallel()
	srv := ferrettest.Start(t)
	c := srv.Client(t)
	db := pgtest.Name("shop")
	ferrettest.Seed(t, c, db, 4000)
	ctx := context.Background()
	a := setup(t)
	dir := t.TempDir()
	localDest(t, a, "disk", dir)
	a.CreateProfile(ctx, "k", "")
	mongoSource(t, a, "mongo", srv.Host, srv.Port, ferrettest.Password)
	mustJob(t, a, JobInput{Name: "shop", Source: "mongo", Databases: []string{db}, Destinations: dests("disk"), Profile: "k"})
	e, err := a.RunJob(ctx, "shop", backup.TriggerManual, false)
	if err != nil || e.Status != backup.StatusSuccess || !strings.HasSuffix(e.BackupName, ".tar.zst.enc") {
		t.Fatalf("backup: %v %s %s\n%s", err, e.BackupName, e.Error, logsOf(t, a, e.ID))
	}
	target := pgtest.Name("shop_copy")
	r := restore(t, a, runner.RestoreRequest{Destination: "disk", Key: e.BackupName, Source: "mongo", Targets: map[string]string{db: target}})
	if r.Status != backup.StatusSuccess {
		t.Fatalf("restore: %s\n%s", r.Error, logsOf(t, a, r.ID))
	}
	if got, want := ferrettest.Fingerprint(t, c, target), ferrettest.Fingerprint(t, c, db); got != want {
		t.Fatalf("restored:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(ferrettest.Fingerprint(t, c, target), "people: 4000 docs") {
		t.Fatal("restored database lacks its 4000 documents")
	}

	// Failures: each ends failed, says why, and leaves nothing.
	failDir := t.TempDir()
	localDest(t, a, "disk2", failDir)
	mongoSource(t, a, "wrong-pw", srv.Host, srv.Port, "not-the-password")
	mustJob(t, a, JobInput{Name: "wrong-pw", Source: "wrong-pw", Databases: []string{db}, Destinations: dests("disk2")})
	if e := expectFailed(t, a, "wrong-pw", "wrong password", failDir); strings.Contains(logsOf(t, a, e.ID), "not-the-password") {
		t.Fatal("the password appears in a log")
	}
	mustJob(t, a, JobInput{Name: "no-db", Source: "mongo", Databases: []string{"no_such_db"}, Destinations: dests("disk2")})
	expectFailed(t, a, "no-db", `database "no_such_db" does not exist`, failDir)

	// The server goes away mid-dump: a proxy in front of it cuts every
	// connection once part of the documents has passed, and accepts no more.
	p := cutProxy(t, net.JoinHostPort(srv.Host, strconv.Itoa(srv.Port)), 600<<10)
	host, portStr, _ := net.SplitHostPort(p)
	port, _ := strconv.Atoi(portStr)
	mongoSource(t, a, "flaky", host, port, ferrettest.Password)
	mustJob(t, a, JobInput{Name: "flaky", Source: "flaky", Databases: []string{db}, Destinations: dests("disk2")})
	e = expectFailed(t, a, "flaky", "read collection people", failDir)
	t.Logf("server gone mid-dump: %s", e.Error)
}

// cutProxy forwards to addr until more than limit bytes passed (either
// way), then closes every connection and its listener: to the client, the
// server is gone.
func cutProxy(t *testing.T, addr string, limit int64) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		down  atomic.Bool
		sent  atomic.Int64
	)
	cut := func() {
		if down.Swap(true) {
			return
		}
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}
	t.Cleanup(cut)
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", addr)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			pump := func(dst, src net.Conn) {
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					if n > 0 {
						if sent.Add(int64(n)) > limit {
							cut()
							return
						}
						dst.Write(buf[:n])
					}
					if err != nil {
						dst.Close()
						return
					}
				}
			}
			go pump(out, in)
			go pump(in, out)
		}
	}()
	return ln.Addr().String()
}
