package redis

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/dbackup/dbackup/internal/source"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// servers are the server families every test runs against.
var servers = []string{"redis-server", "valkey-server"}

// server starts a private redis-server on a free loopback port.
func server(t *testing.T, password string, diskless bool) int {
	return serverOf(t, "redis-server", password, diskless)
}

// serverOf starts a private server of the given binary on a free loopback port.
func serverOf(t *testing.T, bin, password string, diskless bool) int {
	t.Helper()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	args := []string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir(),
		"--repl-diskless-sync", map[bool]string{true: "yes", false: "no"}[diskless], "--repl-diskless-sync-delay", "0"}
	if password != "" {
		args = append(args, "--requirepass", password)
	}
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s (`make services` installs it): %v", bin, err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), Password: password})
	defer c.Close()
	for i := 0; c.Ping(context.Background()).Err() != nil; i++ {
		if i > 100 {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return port
}

func client(port int, password string, db int) *goredis.Client {
	return goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), Password: password, DB: db})
}

// seed writes every data type, TTLs and keys in two databases.
func seed(t *testing.T, port int, password string) {
	ctx := context.Background()
	c := client(port, password, 0)
	defer c.Close()
	c.Set(ctx, "str", "ünïcode ✓ \x00 binary", 0)
	c.Set(ctx, "big", strings.Repeat("x", 2<<20), 0)
	c.Set(ctx, "ttl", "expires", time.Hour)
	c.RPush(ctx, "list", "a", "b", "c")
	c.HSet(ctx, "hash", "f1", "v1", "f2", "v2")
	c.SAdd(ctx, "set", "m1", "m2", "m3")
	c.ZAdd(ctx, "zset", goredis.Z{Score: 1.5, Member: "one"}, goredis.Z{Score: -2, Member: "two"})
	c.XAdd(ctx, &goredis.XAddArgs{Stream: "stream", ID: "1-1", Values: map[string]any{"k": "v"}})
	c.PFAdd(ctx, "hll", "a", "b", "c")
	for i := range 5000 {
		c.Set(ctx, fmt.Sprintf("many:%d", i), i, 0)
	}
	c1 := client(port, password, 3)
	defer c1.Close()
	c1.Set(ctx, "in-db-3", "yes", 0)
}

// describe renders every key of databases 0 and 3 with its type, value and
// whether it has a TTL.
func describe(t *testing.T, port int, password string) string {
	ctx := context.Background()
	var out []string
	for _, db := range []int{0, 3} {
		c := client(port, password, db)
		keys, _ := c.Keys(ctx, "*").Result()
		for _, k := range keys {
			typ, _ := c.Type(ctx, k).Result()
			var v any
			switch typ {
			case "string":
				v, _ = c.Get(ctx, k).Result()
			case "list":
				v, _ = c.LRange(ctx, k, 0, -1).Result()
			case "hash":
				v, _ = c.HGetAll(ctx, k).Result()
			case "set":
				m, _ := c.SMembers(ctx, k).Result()
				sort.Strings(m)
				v = m
			case "zset":
				v, _ = c.ZRangeWithScores(ctx, k, 0, -1).Result()
			case "stream":
				v, _ = c.XRange(ctx, k, "-", "+").Result()
			}
			ttl, _ := c.PTTL(ctx, k).Result()
			out = append(out, fmt.Sprintf("%d %s %s %v ttl=%v", db, k, typ, v, ttl > 0))
		}
		c.Close()
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func TestSnapshotAndRestoreEveryType(t *testing.T) {
	t.Parallel()
	for _, bin := range servers {
		for _, diskless := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/diskless=%v", bin, diskless), func(t *testing.T) {
				t.Parallel()
				testRoundTrip(t, bin, diskless)
			})
		}
	}
}

func testRoundTrip(t *testing.T, bin string, diskless bool) {
	const pw = "redis-test-pw"
	from, to := serverOf(t, bin, pw, diskless), serverOf(t, bin, pw, false)
	seed(t, from, pw)
	want := describe(t, from, pw)
	ctx := context.Background()
	src, _ := New(Config{Host: "127.0.0.1", Port: from, ServerBinary: bin}, pw)
	p, err := src.Plan(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bin == "valkey-server" && !strings.HasSuffix(p.EngineVersion, "-valkey") {
		t.Fatalf("valkey reported as %q", p.EngineVersion)
	}
	var snap bytes.Buffer
	if err := src.Dump(ctx, p, &snap, quiet); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(snap.Bytes(), []byte("REDIS")) {
		t.Fatalf("snapshot starts %q, want an RDB", snap.Bytes()[:min(9, snap.Len())])
	}
	dst, _ := New(Config{Host: "127.0.0.1", Port: to, ServerBinary: bin}, pw)
	if err := dst.Restore(ctx, "rdb", bytes.NewReader(snap.Bytes()), source.RestoreOptions{}, quiet); err != nil {
		t.Fatal(err)
	}
	if got := describe(t, to, pw); got != want {
		t.Fatalf("restored keyspace differs:\n%.500s\n---\n%.500s", got, want)
	}
	// The target now holds keys: another restore needs overwrite.
	if err := dst.Restore(ctx, "rdb", bytes.NewReader(snap.Bytes()), source.RestoreOptions{}, quiet); err == nil || !strings.Contains(err.Error(), "holds") {
		t.Fatalf("restore into a non-empty server: %v", err)
	}
	if err := dst.Restore(ctx, "rdb", bytes.NewReader(snap.Bytes()), source.RestoreOptions{Overwrite: true}, quiet); err != nil {
		t.Fatal(err)
	}
}

func TestWrongPasswordAndUnreachable(t *testing.T) {
	t.Parallel()
	port := server(t, "right", true)
	ctx := context.Background()
	s, _ := New(Config{Host: "127.0.0.1", Port: port}, "wrong")
	if err := s.Check(ctx); err == nil || !strings.Contains(err.Error(), "wrong password") {
		t.Fatalf("check: %v", err)
	}
	if err := s.Dump(ctx, source.Plan{}, io.Discard, quiet); err == nil || !strings.Contains(err.Error(), "wrong password") {
		t.Fatalf("dump: %v", err)
	}
	u, _ := New(Config{Host: "127.0.0.1", Port: 1}, "")
	if err := u.Check(ctx); err == nil || !strings.Contains(err.Error(), "cannot reach") {
		t.Fatalf("unreachable: %v", err)
	}
}

func TestCopyUntilMark(t *testing.T) {
	t.Parallel()
	mark := bytes.Repeat([]byte("m"), 40)
	for _, size := range []int{0, 1, 39, 40, 41, 70000, 200000} {
		data := bytes.Repeat([]byte("d"), size)
		var out bytes.Buffer
		n, err := copyUntilMark(io.MultiReader(bytes.NewReader(data), bytes.NewReader(mark), strings.NewReader("+trailing replication stream")), &out, mark)
		if err != nil || n != int64(size) || !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("size %d: copied %d, %v", size, n, err)
		}
	}
	if _, err := copyUntilMark(bytes.NewReader([]byte("no mark here")), io.Discard, mark); err == nil {
		t.Fatal("a stream without its end mark was accepted")
	}
}
