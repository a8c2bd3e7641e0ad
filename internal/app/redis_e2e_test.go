package app

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/runner"
)

// privateRedis starts a redis-server of the test's own on a free port.
func privateRedis(t *testing.T, password string) (int, *goredis.Client) {
	return privateServer(t, "redis-server", password)
}

// privateServer starts a redis-server or valkey-server of the test's own.
func privateServer(t *testing.T, binary, password string) (int, *goredis.Client) {
	t.Helper()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(binary, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--requirepass", password)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), Password: password})
	t.Cleanup(func() { c.Close() })
	for i := 0; c.Ping(context.Background()).Err() != nil; i++ {
		if i > 100 {
			t.Fatal(binary + " did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return port, c
}

func TestRedisJobBackupAndRestoreToAnotherServer(t *testing.T) {
	t.Parallel()
	const pw = "redis-canary-pw"
	fromPort, from := privateRedis(t, pw)
	toPort, to := privateRedis(t, pw)
	ctx := context.Background()
	for i := range 1000 {
		from.Set(ctx, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i), 0)
	}
	from.Set(ctx, "session", "expiring", 10*time.Minute)
	from.HSet(ctx, "user:1", "name", "Ada", "role", "admin")
	a := setup(t)
	for name, port := range map[string]int{"cache": fromPort, "replica": toPort} {
		if _, err := a.CreateEndpoint(ctx, KindSource, EndpointInput{Name: name, Type: "redis", Config: raw(map[string]any{"host": "127.0.0.1", "port": port}),
			Secrets: map[string]string{"password": pw}}); err != nil {
			t.Fatal(err)
		}
	}
	localDest(t, a, "disk", t.TempDir())
	a.CreateProfile(ctx, "k", "")
	mustJob(t, a, JobInput{Name: "cache", Source: "cache", Destinations: dests("disk"), Profile: "k"})
	e, err := a.RunJob(ctx, "cache", backup.TriggerManual, false)
	if err != nil || e.Status != backup.StatusSuccess || !strings.HasSuffix(e.BackupName, ".rdb.zst.enc") {
		t.Fatalf("backup: %v %s %s\n%s", err, e.BackupName, e.Error, logsOf(t, a, e.ID))
	}
	r := restore(t, a, runner.RestoreRequest{Destination: "disk", Key: e.BackupName, Source: "replica"})
	if r.Status != backup.StatusSuccess {
		t.Fatalf("restore: %s\n%s", r.Error, logsOf(t, a, r.ID))
	}
	if n, _ := to.DBSize(ctx).Result(); n != 1002 {
		t.Fatalf("restored %d keys, want 1002", n)
	}
	if v, _ := to.HGet(ctx, "user:1", "name").Result(); v != "Ada" {
		t.Fatalf("hash field: %q", v)
	}
	if ttl, _ := to.TTL(ctx, "session").Result(); ttl < 9*time.Minute || ttl > 10*time.Minute {
		t.Fatalf("TTL after restore: %s", ttl)
	}
	for _, id := range []string{e.ID, r.ID} {
		if strings.Contains(logsOf(t, a, id), pw) {
			t.Fatal("the password appears in a log")
		}
	}
}

// Wrong password, a database a Redis backup cannot name, and the server
// lost mid-snapshot: each run fails, says why and leaves nothing.
func TestRedisFailuresAreClearAndLeaveNothing(t *testing.T) {
	t.Parallel()
	const pw = "redis-canary-pw"
	port, c := privateRedis(t, pw)
	ctx := context.Background()
	noise := make([]byte, 8<<20) // incompressible, so the snapshot is as large
	rand.Read(noise)
	c.Set(ctx, "big", noise, 0)
	a := setup(t)
	dir := t.TempDir()
	localDest(t, a, "disk", dir)
	proxy := cutProxy(t, fmt.Sprintf("127.0.0.1:%d", port), 1<<20)
	_, proxyPort, _ := net.SplitHostPort(proxy)
	for name, in := range map[string]struct {
		port string
		pw   string
	}{"wrong-pw": {fmt.Sprint(port), "not-the-password"}, "cache": {fmt.Sprint(port), pw}, "flaky": {proxyPort, pw}} {
		if _, err := a.CreateEndpoint(ctx, KindSource, EndpointInput{Name: name, Type: "redis", Config: json.RawMessage(`{"host":"127.0.0.1","port":` + in.port + `}`),
			Secrets: map[string]string{"password": in.pw}}); err != nil {
			t.Fatal(err)
		}
	}
	mustJob(t, a, JobInput{Name: "wrong-pw", Source: "wrong-pw", Destinations: dests("disk")})
	if e := expectFailed(t, a, "wrong-pw", "wrong password", dir); strings.Contains(logsOf(t, a, e.ID), "not-the-password") {
		t.Fatal("the password appears in a log")
	}
	mustJob(t, a, JobInput{Name: "db3", Source: "cache", Databases: []string{"3"}, Destinations: dests("disk")})
	expectFailed(t, a, "db3", `database "3" does not exist`, dir)
	mustJob(t, a, JobInput{Name: "flaky", Source: "flaky", Destinations: dests("disk")})
	e := expectFailed(t, a, "flaky", "snapshot", dir)
	t.Logf("server lost mid-snapshot: %s", e.Error)
}
