package app

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/source"
	"github.com/dbackup/dbackup/internal/testutil/ferrettest"
	"github.com/dbackup/dbackup/internal/testutil/mytest"
	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

// lyingSource is a source whose dump tool exits 0 after writing only part
// of its output: it dumps the real database once, then writes the first
// cut bytes of that dump and reports success (cut < 0: all of it).
type lyingSource struct {
	source.Source
	l *liar
}

type liar struct {
	mu    sync.Mutex
	whole []byte
	cut   int
}

func (s lyingSource) Dump(ctx context.Context, p source.Plan, w io.Writer, log *slog.Logger) error {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	if s.l.whole == nil {
		var b bytes.Buffer
		if err := s.Source.Dump(ctx, p, &b, log); err != nil {
			return err
		}
		s.l.whole = b.Bytes()
	}
	out := s.l.whole
	if s.l.cut >= 0 {
		out = out[:s.l.cut]
	}
	_, err := w.Write(out)
	return err
}

// cutPoints are ten places to stop a dump: right after its first bytes
// (only the header), all through it, one byte before its end, and for SQL
// exactly at the last statement boundary before the completion line.
func cutPoints(whole []byte) []int {
	l := len(whole)
	last := l - 9
	if i := bytes.LastIndex(whole, []byte(";\n")); i > 0 && bytes.Contains(whole[i:], []byte("-- Dump completed")) {
		last = i + 2
	}
	return []int{5, 64, l / 10, l / 5, l / 3, l / 2, 2 * l / 3, 9 * l / 10, last, l - 1}
}

// A dump tool that exits 0 with its output cut short, at ten points, for
// every engine, every compression, with and without encryption: every run
// fails saying the dump is not whole, and nothing is listed or left at
// the destination. The whole dump of each passes, with its rows counted in
// the sidecar.
func TestDumpCutShortIsNeverABackup(t *testing.T) {
	t.Parallel()
	engines := map[string]func(t *testing.T, a *App) (string, []string){
		"postgres": func(t *testing.T, a *App) (string, []string) {
			db, _ := pgtest.NewDatabase(t, "cut")
			conn := pgtest.Connect(t, db)
			if _, err := conn.Exec(context.Background(), `CREATE TABLE orders(id int PRIMARY KEY, note text);
				INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 2000) g;
				CREATE TABLE items(id int); INSERT INTO items SELECT generate_series(1, 300)`); err != nil {
				t.Fatal(err)
			}
			pgSource(t, a, "src", "postgres", "")
			return db, []string{"public.orders", "public.items"}
		},
		"mariadb": func(t *testing.T, a *App) (string, []string) {
			db := mytest.NewDatabase(t, "cut")
			conn := mytest.Open(t, db)
			for _, q := range []string{"CREATE TABLE orders(id int PRIMARY KEY, note text)", "CREATE TABLE items(id int)"} {
				if _, err := conn.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 2000 {
				conn.Exec("INSERT INTO orders VALUES (?, ?)", i, fmt.Sprintf("order %d; it's (here)", i))
			}
			mysqlSource(t, a, "src", "root", "")
			return db, []string{"orders", "items"}
		},
		"redis":  redisEngine("redis-server"),
		"valkey": redisEngine("valkey-server"),
		"sqlite": func(t *testing.T, a *App) (string, []string) {
			path := filepath.Join(t.TempDir(), "app.db")
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			db.Exec("CREATE TABLE orders(id INTEGER PRIMARY KEY, note TEXT)")
			for i := range 2000 {
				db.Exec("INSERT INTO orders(note) VALUES (?)", fmt.Sprintf("order %d", i))
			}
			db.Close()
			if _, err := a.CreateEndpoint(context.Background(), KindSource, EndpointInput{Name: "src", Type: "sqlite", Config: raw(map[string]string{"path": path})}); err != nil {
				t.Fatal(err)
			}
			return "app.db", []string{"orders"}
		},
		"mongodb": func(t *testing.T, a *App) (string, []string) {
			srv := ferrettest.Start(t)
			db := pgtest.Name("cut")
			ferrettest.Seed(t, srv.Client(t), db, 300)
			mongoSource(t, a, "src", srv.Host, srv.Port, ferrettest.Password)
			return db, []string{"people", "events"}
		},
		"postgres tar": func(t *testing.T, a *App) (string, []string) {
			one, _ := pgtest.NewDatabase(t, "cuta")
			two, _ := pgtest.NewDatabase(t, "cutb")
			for _, db := range []string{one, two} {
				if _, err := pgtest.Connect(t, db).Exec(context.Background(), "CREATE TABLE t(x int); INSERT INTO t SELECT generate_series(1, 500)"); err != nil {
					t.Fatal(err)
				}
			}
			pgSource(t, a, "src", "postgres", "")
			return one + "," + two, []string{"public.t"}
		},
	}
	for name, seed := range engines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			l := &liar{cut: -1}
			a := setupWith(t, func(a *App) {
				a.Sources.Wrap = func(_ *backup.Endpoint, s source.Source) source.Source { return lyingSource{s, l} }
			})
			dir := t.TempDir()
			localDest(t, a, "disk", dir)
			if _, err := a.CreateProfile(ctx, "k", ""); err != nil {
				t.Fatal(err)
			}
			db, tables := seed(t, a)
			var jobs []string
			for _, c := range []backup.Compression{backup.CompressionNone, backup.CompressionGzip, backup.CompressionZstd, backup.CompressionBrotli} {
				for _, profile := range []string{"", "k"} {
					name := fmt.Sprintf("%s-%s-enc%t", strings.ReplaceAll(t.Name()[len("TestDumpCutShortIsNeverABackup/"):], " ", "-"), c, profile != "")
					in := JobInput{Name: name, Source: "src", Destinations: dests("disk"), Compression: string(c), Profile: profile}
					if db != "" {
						in.Databases = strings.Split(db, ",")
					}
					mustJob(t, a, in)
					jobs = append(jobs, name)
				}
			}
			// The whole dump is a backup, with what it holds counted.
			e, err := a.RunJob(ctx, jobs[len(jobs)-1], backup.TriggerManual, false)
			if err != nil || e.Status != backup.StatusSuccess {
				t.Fatalf("whole dump: %v %v\n%s", err, e.Error, logsOf(t, a, e.ID))
			}
			list, err := a.ListBackups(ctx, "disk", jobs[len(jobs)-1])
			if err != nil || len(list.Backups) != 1 {
				t.Fatalf("whole dump listed as %+v (%v)", list, err)
			}
			for dbName, counts := range list.Backups[0].Meta.Contents {
				for _, table := range tables {
					if _, ok := counts[table]; !ok {
						t.Fatalf("database %s: no count for %s in %v", dbName, table, counts)
					}
				}
			}
			for _, cut := range cutPoints(l.whole) {
				for _, job := range jobs[:len(jobs)-1] {
					l.mu.Lock()
					l.cut = cut
					l.mu.Unlock()
					e, err := a.RunJob(ctx, job, backup.TriggerManual, false)
					if err != nil {
						t.Fatal(err)
					}
					if e.Status != backup.StatusFailed || !strings.Contains(e.Error, "the dump is not whole") {
						t.Fatalf("%s, dump cut at byte %d of %d: %s %q\n%s", job, cut, len(l.whole), e.Status, e.Error, logsOf(t, a, e.ID))
					}
				}
			}
			list, err = a.ListBackups(ctx, "disk", "")
			if err != nil || len(list.Backups) != 1 || len(list.Problems) != 0 {
				t.Fatalf("after the cut dumps the destination holds %d backups and %v (%v)", len(list.Backups), list.Problems, err)
			}
		})
	}
}

// redisEngine seeds a private server of the given binary.
func redisEngine(binary string) func(t *testing.T, a *App) (string, []string) {
	return func(t *testing.T, a *App) (string, []string) {
		port, c := privateServer(t, binary, "pw-cut")
		ctx := context.Background()
		for i := range 2000 {
			c.Set(ctx, fmt.Sprintf("k%d", i), fmt.Sprintf("value %d", i), 0)
		}
		c.HSet(ctx, "h", "a", "1")
		c.Do(ctx, "SELECT", 2)
		if _, err := a.CreateEndpoint(ctx, KindSource, EndpointInput{Name: "src", Type: "redis", Config: raw(map[string]any{"host": "127.0.0.1", "port": port}),
			Secrets: map[string]string{"password": "pw-cut"}}); err != nil {
			t.Fatal(err)
		}
		return "", []string{"db0"}
	}
}
