// Package redis backs up Redis and Valkey. A backup is the server's own RDB
// snapshot, taken natively over the replication protocol (SYNC) and streamed
// as it arrives. A restore loads the snapshot into a throwaway server on a
// private socket and copies every key, with its TTL, into the target with
// DUMP/RESTORE, so it needs no RDB parser and works into a running server.
package redis

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/plugin"
	"github.com/dbackup/dbackup/internal/source"
	"github.com/dbackup/dbackup/internal/source/proc"
)

// Type is the source type name (Redis and Valkey alike).
const Type = "redis"

// Name is the one "database" of a Redis source in plans and restores.
const Name = "all"

// Config is a Redis or Valkey server; the password is a secret.
type Config struct {
	Host string `json:"host" help:"server name or address, or the path of its Unix socket on this host"`
	Port int    `json:"port" help:"default 6379"`
	// User is an ACL user (empty: the default user).
	User string `json:"user,omitempty" help:"ACL user (empty: the default user)"`
	TLS  bool   `json:"tls,omitempty"`
	// ServerBinary loads snapshots for restores: redis-server or valkey-server.
	ServerBinary string `json:"server_binary,omitempty" host:"program" choices:"|redis-server|valkey-server" help:"loads snapshots for restores: redis-server or valkey-server (from PATH or a tool directory)"`
}

// Source is one server.
type Source struct {
	cfg      Config
	password string
}

var _ source.Source = (*Source)(nil)

// Factory registers Redis/Valkey.
var Factory = plugin.Typed(Type, "Redis / Valkey", []string{"password"}, func(c Config, secrets map[string]string) (source.Source, error) {
	return New(c, secrets["password"])
})

// New validates c.
func New(c Config, password string) (*Source, error) {
	if c.Host == "" {
		return nil, fmt.Errorf("%w: host is required", backup.ErrInvalid)
	}
	if c.Port == 0 {
		c.Port = 6379
	}
	return &Source{cfg: c, password: password}, nil
}

// A host that is a path is the server's Unix socket on this host.
func (s *Source) network() string {
	if strings.HasPrefix(s.cfg.Host, "/") {
		return "unix"
	}
	return "tcp"
}

func (s *Source) addr() string {
	if s.network() == "unix" {
		return s.cfg.Host
	}
	return net.JoinHostPort(s.cfg.Host, fmt.Sprint(s.cfg.Port))
}

func (s *Source) client() *goredis.Client {
	o := &goredis.Options{Network: s.network(), Addr: s.addr(), Username: s.cfg.User, Password: s.password, DialTimeout: 15 * time.Second}
	if s.cfg.TLS {
		o.TLSConfig = &tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12}
	}
	return goredis.NewClient(o)
}

func (s *Source) explain(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "WRONGPASS"), strings.Contains(msg, "invalid password"), strings.Contains(msg, "NOAUTH"):
		return fmt.Errorf("authentication failed for %s: wrong password or user", s.addr())
	case strings.Contains(msg, "connect"), strings.Contains(msg, "dial"):
		return fmt.Errorf("cannot reach redis at %s: %w", s.addr(), err)
	}
	return fmt.Errorf("redis %s: %w", s.addr(), err)
}

// Check pings the server.
func (s *Source) Check(ctx context.Context) error {
	c := s.client()
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		return s.explain(err)
	}
	return nil
}

// Version returns the server version, e.g. "7.0.15" or "8.0.1-valkey".
func (s *Source) Version(ctx context.Context) (string, error) {
	c := s.client()
	defer c.Close()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return "", s.explain(err)
	}
	version, valkey := "", ""
	for _, line := range strings.Split(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		switch k {
		case "redis_version":
			if version == "" {
				version = v
			}
		case "valkey_version":
			version, valkey = v, "-valkey"
		}
	}
	if version == "" {
		return "", errors.New("the server did not report its version")
	}
	return version + valkey, nil
}

// ListDatabases names the whole keyspace: a snapshot holds every database.
func (s *Source) ListDatabases(ctx context.Context) ([]string, error) {
	if err := s.Check(ctx); err != nil {
		return nil, err
	}
	return []string{Name}, nil
}

// Plan accepts no name or "all".
func (s *Source) Plan(ctx context.Context, dbs []string) (source.Plan, error) {
	if len(dbs) > 1 || (len(dbs) == 1 && dbs[0] != Name) {
		return source.Plan{}, fmt.Errorf("database %q does not exist: a Redis backup covers the whole keyspace (%q)", strings.Join(dbs, ","), Name)
	}
	v, err := s.Version(ctx)
	if err != nil {
		return source.Plan{}, err
	}
	return source.Plan{Databases: []string{Name}, Format: "rdb", Ext: "rdb", EngineVersion: v}, nil
}

// Dump streams the server's snapshot: AUTH over the connection (never on a
// command line), SYNC, and the RDB payload as it arrives.
func (s *Source) Dump(ctx context.Context, p source.Plan, w io.Writer, log *slog.Logger) error {
	d := net.Dialer{Timeout: 15 * time.Second}
	var conn net.Conn
	var err error
	if s.cfg.TLS {
		conn, err = tls.DialWithDialer(&d, "tcp", s.addr(), &tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12})
	} else {
		conn, err = d.DialContext(ctx, s.network(), s.addr())
	}
	if err != nil {
		return s.explain(err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	r := bufio.NewReaderSize(conn, 256<<10)
	if s.password != "" {
		args := []string{"AUTH", s.password}
		if s.cfg.User != "" {
			args = []string{"AUTH", s.cfg.User, s.password}
		}
		conn.Write(command(args...))
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "+OK") {
			return s.explain(fmt.Errorf("%s", strings.TrimSpace(strings.TrimPrefix(line, "-"))))
		}
	}
	log.Info("requesting a snapshot with SYNC from " + s.addr())
	if _, err := conn.Write(command("SYNC")); err != nil {
		return s.explain(err)
	}
	n, err := readSnapshot(r, w)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("snapshot from %s: %w", s.addr(), err)
	}
	log.Info(fmt.Sprintf("snapshot received: %d bytes", n))
	return nil
}

// Restore loads the snapshot into a throwaway server and copies each of
// its logical databases into a free scratch database of the target, then
// swaps it in (SWAPDB) once complete and counted. A target that holds keys
// is refused unless overwrite; the replaced keys are kept in the scratch
// database's index unless the user asked to drop them.
func (s *Source) Restore(ctx context.Context, format string, r io.Reader, opts source.RestoreOptions, log *slog.Logger) error {
	if format != "rdb" {
		return fmt.Errorf("%w: redis cannot restore format %q", backup.ErrUnsupported, format)
	}
	target := s.client()
	defer target.Close()
	if err := target.Ping(ctx).Err(); err != nil {
		return s.explain(err)
	}
	t, err := s.Inspect(ctx, Name)
	if err != nil {
		return err
	}
	if t.Holds != "" && !opts.Overwrite {
		return fmt.Errorf("the target server holds %s; allow overwrite to replace its databases (the replaced keys are kept in a spare database)", t.Holds)
	}
	dir, err := os.MkdirTemp("", "dbackup-redis-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o700)
	f, err := os.OpenFile(filepath.Join(dir, "dump.rdb"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	version, _ := s.Version(ctx)
	tmp, stopServer, err := s.loadSnapshot(ctx, dir, version, log)
	if err != nil {
		return err
	}
	defer stopServer()
	dbs, err := keyspace(ctx, tmp)
	if err != nil {
		return err
	}
	used := map[int]bool{}
	for d := range dbs {
		used[d] = true
	}
	var copied int64
	for d := range 16 {
		if _, ok := dbs[d]; !ok {
			continue
		}
		n, err := s.restoreDB(ctx, tmp, target, d, used, opts, log)
		if err != nil {
			return err
		}
		copied += n
	}
	log.Info(fmt.Sprintf("restored %d keys into %s", copied, s.addr()))
	return nil
}

// Markers name a scratch database (a restore in progress) and a kept one
// (the keys an overwrite replaced); only a database holding one is ever
// flushed by a cleanup.
const (
	scratchMarker = "__dbackup_restore_scratch__"
	keptMarker    = "__dbackup_restore_replaced__"
)

// restoreDB copies logical database d of the snapshot into a free scratch
// database, counts it and swaps it in.
func (s *Source) restoreDB(ctx context.Context, tmp, target *goredis.Client, d int, used map[int]bool, opts source.RestoreOptions, log *slog.Logger) (int64, error) {
	scratch, err := freeDB(ctx, target, used)
	if err != nil {
		return 0, err
	}
	used[scratch] = true
	name := fmt.Sprintf("db%d", scratch)
	if opts.Track != nil {
		if err := opts.Track.Scratch(ctx, name); err != nil {
			return 0, err
		}
	}
	conn := target.Conn()
	defer conn.Close()
	if err := conn.Select(ctx, scratch).Err(); err != nil {
		return 0, err
	}
	if err := conn.Set(ctx, scratchMarker, time.Now().UTC().Format(time.RFC3339), 0).Err(); err != nil {
		return 0, fmt.Errorf("mark scratch database %d: %w", scratch, err)
	}
	fail := func(err error) (int64, error) {
		if derr := s.DropDatabase(context.WithoutCancel(ctx), name); derr == nil && opts.Track != nil {
			opts.Track.Gone(context.WithoutCancel(ctx), name)
		}
		return 0, err
	}
	log.Info(fmt.Sprintf("restoring database %d into scratch database %d; database %d is replaced only once it is complete and counted", d, scratch, d))
	n, err := copyDB(ctx, tmp, d, target, scratch)
	if err != nil {
		return fail(err)
	}
	if want := opts.Expect[Name]; want != nil {
		db := fmt.Sprintf("db%d", d)
		opts.Report(Name, backup.Counts{db: want[db]}, backup.Counts{db: n})
	}
	if err := checkCount(opts.Expect[Name], d, n); err != nil {
		return fail(err)
	}
	old, err := dbSize(ctx, target, d)
	if err != nil {
		return fail(err)
	}
	keep := old > 0 && !opts.DropReplaced
	if keep && opts.Track != nil {
		if err := opts.Track.Kept(ctx, name); err != nil {
			return fail(err)
		}
	}
	_, err = conn.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Del(ctx, scratchMarker)
		p.SwapDB(ctx, d, scratch)
		if keep {
			p.Set(ctx, keptMarker, fmt.Sprintf("database %d replaced at %s", d, time.Now().UTC().Format(time.RFC3339)), 0)
		} else {
			p.FlushDB(ctx)
		}
		return nil
	})
	if err != nil {
		return fail(fmt.Errorf("swap database %d in (SWAPDB): %w", d, err))
	}
	if opts.Track != nil && !keep {
		opts.Track.Gone(context.WithoutCancel(ctx), name)
	}
	if keep {
		log.Info(fmt.Sprintf("database %d restored (%d keys); the %d keys it held are kept in database %d", d, n, old, scratch))
	} else {
		log.Info(fmt.Sprintf("database %d restored (%d keys)", d, n))
	}
	return n, nil
}

// checkCount compares the keys restored into database d with the
// snapshot's count: keys with a TTL may have expired since.
func checkCount(want backup.Counts, d int, got int64) error {
	if want == nil {
		return nil
	}
	db := fmt.Sprintf("db%d", d)
	total, ttl := want[db], want[db+ExpiringSuffix]
	if got > total || got < total-ttl {
		return fmt.Errorf("the restored database %d differs from the backup: %s holds %d keys, the backup %d (%d of them with a TTL, which may have expired)", d, db, got, total, ttl)
	}
	return nil
}

// freeDB finds an empty logical database that the snapshot does not use.
func freeDB(ctx context.Context, c *goredis.Client, used map[int]bool) (int, error) {
	for d := 15; d >= 0; d-- {
		if used[d] {
			continue
		}
		n, err := dbSize(ctx, c, d)
		if err != nil {
			continue // fewer databases configured
		}
		if n == 0 {
			return d, nil
		}
	}
	return 0, errors.New("the target has no empty logical database to restore into first (a restore writes a spare database and swaps it in with SWAPDB)")
}

func dbSize(ctx context.Context, c *goredis.Client, d int) (int64, error) {
	conn := c.Conn()
	defer conn.Close()
	if err := conn.Select(ctx, d).Err(); err != nil {
		return 0, err
	}
	return conn.DBSize(ctx).Result()
}

// keyspace lists the logical databases that hold keys, with their counts.
func keyspace(ctx context.Context, c *goredis.Client) (map[int]int64, error) {
	info, err := c.Info(ctx, "keyspace").Result()
	if err != nil {
		return nil, err
	}
	out := map[int]int64{}
	for _, line := range strings.Split(info, "\n") {
		var d int
		var n int64
		if _, err := fmt.Sscanf(strings.TrimSpace(line), "db%d:keys=%d", &d, &n); err == nil {
			out[d] = n
		}
	}
	return out, nil
}

// Inspect tells whether the server holds keys ("all" is its one database).
func (s *Source) Inspect(ctx context.Context, _ string) (source.Target, error) {
	c := s.client()
	defer c.Close()
	n, err := keyCount(ctx, c)
	if err != nil {
		return source.Target{}, s.explain(err)
	}
	t := source.Target{Exists: true, Fixed: true}
	if n > 0 {
		t.Holds = fmt.Sprintf("%d keys", n)
	}
	return t, nil
}

// DropDatabase flushes a logical database ("db15") a restore left, but only
// while it holds a restore's marker: a database someone else started using
// since is left alone.
func (s *Source) DropDatabase(ctx context.Context, name string) error {
	var d int
	if _, err := fmt.Sscanf(name, "db%d", &d); err != nil {
		return fmt.Errorf("%q is not a logical database", name)
	}
	c := s.client()
	defer c.Close()
	conn := c.Conn()
	defer conn.Close()
	if err := conn.Select(ctx, d).Err(); err != nil {
		return s.explain(err)
	}
	n, err := conn.Exists(ctx, scratchMarker, keptMarker).Result()
	if err != nil {
		return s.explain(err)
	}
	if n == 0 {
		return nil // not ours (any more)
	}
	return conn.FlushDB(ctx).Err()
}

func keyCount(ctx context.Context, c *goredis.Client) (int64, error) {
	info, err := c.Info(ctx, "keyspace").Result()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, line := range strings.Split(info, "\n") {
		if _, v, ok := strings.Cut(strings.TrimSpace(line), ":keys="); ok {
			var n int64
			fmt.Sscan(strings.SplitN(v, ",", 2)[0], &n)
			total += n
		}
	}
	return total, nil
}

// loadSnapshot starts a server with no network port that loads
// dir/dump.rdb: the source's server_binary, else the flavour of the target
// (valkey-server for Valkey) and then the other one, since a Redis 7.0
// cannot read the RDB 11 that Valkey writes.
func (s *Source) loadSnapshot(ctx context.Context, dir, targetVersion string, log *slog.Logger) (*goredis.Client, func(), error) {
	bins := []string{s.cfg.ServerBinary}
	if s.cfg.ServerBinary == "" {
		bins = []string{"redis-server", "valkey-server"}
		if strings.HasSuffix(targetVersion, "-valkey") {
			bins = []string{"valkey-server", "redis-server"}
		}
	}
	var errs []string
	for _, bin := range bins {
		if _, err := exec.LookPath(bin); err != nil && !strings.Contains(bin, "/") {
			continue
		}
		c, stop, err := s.loadWith(ctx, bin, dir)
		if err == nil {
			log.Info("snapshot loaded into a temporary " + bin)
			return c, stop, nil
		}
		errs = append(errs, err.Error())
	}
	if len(errs) == 0 {
		return nil, nil, errors.New("no redis-server or valkey-server to load the snapshot with: install one, or set server_binary")
	}
	return nil, nil, errors.New(strings.Join(errs, "; "))
}

func (s *Source) loadWith(ctx context.Context, bin, dir string) (*goredis.Client, func(), error) {
	sock := filepath.Join(dir, "redis.sock")
	os.Remove(sock)
	srv, err := proc.StartServer(proc.Cmd{Path: bin, Args: []string{"--port", "0", "--unixsocket", sock, "--unixsocketperm", "700", "--dir", dir,
		"--dbfilename", "dump.rdb", "--appendonly", "no", "--save", "", "--daemonize", "no", "--databases", "16"}}, nil, filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, nil, err
	}
	c := goredis.NewClient(&goredis.Options{Network: "unix", Addr: sock, DialTimeout: time.Second, MaxRetries: -1})
	stop := func() { c.Close(); srv.Stop(syscall.SIGKILL, time.Second) }
	if err := srv.Ready(ctx, 5*time.Minute, func() bool { return c.Ping(ctx).Err() == nil }); err != nil {
		stop()
		return nil, nil, fmt.Errorf("%s could not load the snapshot: %w", filepath.Base(bin), err)
	}
	return c, stop, nil
}

// copyDB copies every key of database fromDB into database toDB with
// DUMP/RESTORE, keeping the remaining TTL; keys that expired meanwhile are
// skipped.
func copyDB(ctx context.Context, from *goredis.Client, fromDB int, to *goredis.Client, toDB int) (int64, error) {
	src, dst := from.Conn(), to.Conn()
	defer src.Close()
	defer dst.Close()
	if err := src.Select(ctx, fromDB).Err(); err != nil {
		return 0, err
	}
	if err := dst.Select(ctx, toDB).Err(); err != nil {
		return 0, fmt.Errorf("select database %d on the target: %w", toDB, err)
	}
	var copied int64
	var cursor uint64
	for {
		keys, next, err := src.Scan(ctx, cursor, "*", 1000).Result()
		if err != nil {
			return copied, err
		}
		for _, k := range keys {
			payload, err := src.Dump(ctx, k).Result()
			if errors.Is(err, goredis.Nil) {
				continue
			}
			if err != nil {
				return copied, fmt.Errorf("dump key %q: %w", k, err)
			}
			ttl, err := src.PTTL(ctx, k).Result()
			if err != nil {
				return copied, err
			}
			if ttl == -2*time.Nanosecond || (ttl >= 0 && ttl < time.Millisecond) {
				continue // gone
			}
			if ttl < 0 {
				ttl = 0
			}
			if err := dst.RestoreReplace(ctx, k, ttl, payload).Err(); err != nil {
				return copied, fmt.Errorf("restore key %q: %w", k, err)
			}
			copied++
		}
		if cursor = next; cursor == 0 {
			return copied, nil
		}
	}
}

// Close releases nothing: connections are opened per call.
func (s *Source) Close() error { return nil }
