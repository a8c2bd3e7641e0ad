package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dbackup/dbackup/internal/source"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// bank makes a WAL database of 10 accounts holding 1000 each.
func bank(t *testing.T, path string) *sql.DB {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER); CREATE TABLE moves (n INTEGER)"); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		db.Exec("INSERT INTO accounts VALUES (?, 1000)", i)
	}
	return db
}

func total(t *testing.T, path string) (sum, moves int) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.QueryRow("SELECT sum(balance) FROM accounts").Scan(&sum)
	db.QueryRow("SELECT count(*) FROM moves").Scan(&moves)
	return sum, moves
}

func TestSnapshotIsConsistentWhileWritten(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "bank.db")
	db := bank(t, path)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var transfers atomic.Int64
	wg.Add(1)
	go func() { // another connection keeps moving money between accounts
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			tx, err := db.Begin()
			if err != nil {
				continue
			}
			tx.Exec("UPDATE accounts SET balance = balance - 7 WHERE id = ?", i%10)
			tx.Exec("UPDATE accounts SET balance = balance + 7 WHERE id = ?", (i+3)%10)
			tx.Exec("INSERT INTO moves VALUES (?)", i)
			if tx.Commit() == nil {
				transfers.Add(1)
			}
		}
	}()
	s, _ := New(Config{Path: path})
	s.tempDir = t.TempDir()
	ctx := context.Background()
	for round := range 5 {
		p, err := s.Plan(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := s.Dump(ctx, p, &buf, quiet); err != nil {
			t.Fatal(err)
		}
		restored := filepath.Join(dir, "restored.db")
		os.Remove(restored)
		if err := s.Restore(ctx, "sqlite", &buf, source.RestoreOptions{Targets: map[string]string{"bank.db": restored}}, quiet); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if sum, moves := total(t, restored); sum != 10000 {
			t.Fatalf("round %d: snapshot holds a half-done transfer: sum %d after %d moves", round, sum, moves)
		}
	}
	stop.Store(true)
	wg.Wait()
	if transfers.Load() < 10 {
		t.Fatalf("the writer managed only %d transfers; the test proved nothing", transfers.Load())
	}
	if entries, _ := os.ReadDir(s.tempDir); len(entries) > 0 {
		t.Errorf("snapshot left behind: %v", entries)
	}
}

func TestRestoreChecksIntegrityAndKeepsTheOldFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	db := bank(t, path)
	db.Exec("UPDATE accounts SET balance = 1") // uncheckpointed WAL data in the old file
	s, _ := New(Config{Path: path})
	ctx := context.Background()
	p, _ := s.Plan(ctx, nil)
	var snap bytes.Buffer
	if err := s.Dump(ctx, p, &snap, quiet); err != nil {
		t.Fatal(err)
	}
	good := snap.Bytes()

	// A corrupt stream: the old file stays untouched.
	bad := bytes.Clone(good)
	for i := 4096; i < len(bad) && i < 8192; i++ {
		bad[i] = 0xAB
	}
	err := s.Restore(ctx, "sqlite", bytes.NewReader(bad), source.RestoreOptions{Overwrite: true}, quiet)
	if err == nil || !strings.Contains(err.Error(), "integrity check") {
		t.Fatalf("corrupt restore: %v", err)
	}
	if sum, _ := total(t, path); sum != 10 {
		t.Fatalf("the old database changed: sum %d", sum)
	}
	// Without overwrite an existing file is refused.
	if err := s.Restore(ctx, "sqlite", bytes.NewReader(good), source.RestoreOptions{}, quiet); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("restore over an existing file without overwrite: %v", err)
	}
	db.Exec("UPDATE accounts SET balance = 2")
	if err := s.Restore(ctx, "sqlite", bytes.NewReader(good), source.RestoreOptions{Overwrite: true}, quiet); err != nil {
		t.Fatal(err)
	}
	if sum, _ := total(t, path); sum != 10 {
		t.Fatalf("restored file: sum %d, want the snapshot's 10", sum)
	}
	kept, _ := filepath.Glob(path + ".before-restore-*")
	var main string
	for _, k := range kept {
		if !strings.HasSuffix(k, "-wal") && !strings.HasSuffix(k, "-shm") {
			main = k
		}
	}
	if main == "" {
		t.Fatalf("the previous file was not kept: %v", kept)
	}
	if sum, _ := total(t, main); sum != 20 {
		t.Fatalf("the kept file holds sum %d, want the last state 20", sum)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		if st, _ := os.Stat(path + "-wal"); st.Size() > 0 {
			t.Fatal("the old WAL was left next to the restored file")
		}
	}
}
