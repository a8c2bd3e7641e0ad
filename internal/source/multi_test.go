package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/source/dbtar"
)

func content(db string, size int) []byte {
	return bytes.Repeat([]byte(db+" row\n"), size/len(db+" row\n")+1)[:size]
}

func TestDumpManyConcurrentKeepsEachDatabaseWholeAndInOrder(t *testing.T) {
	t.Parallel()
	sizes := map[string]int{"a": 3 << 20, "b": 20 << 20, "c": 10, "d": 9 << 20, "e": 1 << 20}
	p := Plan{Databases: []string{"a", "b", "c", "d", "e"}, Concurrency: 2}
	var running, most atomic.Int32
	var out bytes.Buffer
	err := DumpMany(context.Background(), &out, "postgres", p, "dump", "pg_custom", func(ctx context.Context, db string, w io.Writer) error {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		data := content(db, sizes[db])
		for len(data) > 0 {
			k := min(len(data), 64<<10)
			if _, err := w.Write(data[:k]); err != nil {
				return err
			}
			data = data[k:]
			time.Sleep(time.Duration(len(db)) * time.Microsecond)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if most.Load() != 2 {
		t.Errorf("%d dumps ran at once, want 2", most.Load())
	}
	tr, err := dbtar.NewReader(&out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range p.Databases {
		db, r, err := tr.Next()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		if db.Name != want || !bytes.Equal(got, content(want, sizes[want])) {
			t.Fatalf("member %s: %d bytes, want database %s whole (%d bytes)", db.Name, len(got), want, sizes[want])
		}
	}
	if _, _, err := tr.Next(); err != io.EOF {
		t.Fatalf("after the last database: %v", err)
	}
}

func TestDumpManyReportsTheFailingDumpAndStopsTheOthers(t *testing.T) {
	t.Parallel()
	p := Plan{Databases: []string{"big", "broken", "slow"}, Concurrency: 3}
	stopped := make(chan string, 3)
	start := time.Now()
	err := DumpMany(context.Background(), io.Discard, "postgres", p, "dump", "pg_custom", func(ctx context.Context, db string, w io.Writer) error {
		switch db {
		case "broken":
			time.Sleep(50 * time.Millisecond)
			return errors.New("pg_dump: error: connection lost")
		case "big":
			for {
				if _, err := w.Write(make([]byte, 64<<10)); err != nil {
					stopped <- db
					return err
				}
				if ctx.Err() != nil {
					stopped <- db
					return fmt.Errorf("signal: killed")
				}
			}
		default: // a dump that writes nothing until it is stopped
			<-ctx.Done()
			stopped <- db
			return ctx.Err()
		}
	})
	if err == nil || err.Error() != "pg_dump: error: connection lost" {
		t.Fatalf("got %v, want the broken database's own error", err)
	}
	if len(stopped) != 2 {
		t.Fatalf("%d of the 2 other dumps were stopped", len(stopped))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v to stop", d)
	}
}

func TestRestoreManyOverlapsTheToolsTails(t *testing.T) {
	t.Parallel()
	sizes := map[string]int{"a": 2 << 20, "b": 5 << 20, "c": 100, "d": 1 << 20}
	p := Plan{Databases: []string{"a", "b", "c", "d"}, Concurrency: 1}
	var tarball bytes.Buffer
	if err := DumpMany(context.Background(), &tarball, "postgres", p, "dump", "pg_custom", func(ctx context.Context, db string, w io.Writer) error {
		_, err := w.Write(content(db, sizes[db]))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	restore := func(concurrency int, failOn string) (int32, error) {
		var running, most atomic.Int32
		opts := RestoreOptions{Concurrency: concurrency, Targets: map[string]string{"a": "a2", "b": "", "d": ""}}
		err := RestoreMany(context.Background(), bytes.NewReader(tarball.Bytes()), "postgres", opts, discardLog(), func(ctx context.Context, r io.Reader, from, target string) error {
			n := running.Add(1)
			defer running.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			got, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, content(from, sizes[from])) || from == "a" && target != "a2" || from == "c" {
				return fmt.Errorf("database %s into %s: %d bytes", from, target, len(got))
			}
			if from == failOn {
				return errors.New("psql: ERROR: out of disk in " + from)
			}
			select { // the tool's work after its input: indexes, counts
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		})
		return most.Load(), err
	}
	if most, err := restore(2, ""); err != nil || most != 2 {
		t.Fatalf("concurrency 2: %d at once, %v", most, err)
	}
	if most, err := restore(1, ""); err != nil || most != 1 {
		t.Fatalf("concurrency 1: %d at once, %v", most, err)
	}
	if _, err := restore(2, "b"); err == nil || err.Error() != "psql: ERROR: out of disk in b" {
		t.Fatalf("a failing database: %v", err)
	}
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
