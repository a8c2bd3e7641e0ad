package postgres

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

// A pg_dump older than the server is refused before anything is dumped,
// with the package to install; the real one passes.
func TestOldClientRefused(t *testing.T) {
	db, _ := pgtest.NewDatabase(t, "dbackup_oldclient")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pg_dump"), []byte("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n"), 0o755)
	old, err := New(Config{Host: "127.0.0.1", Port: 5432, User: "postgres", SSLMode: "disable", BinDir: dir}, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = old.Plan(context.Background(), []string{db})
	if err == nil || !strings.Contains(err.Error(), "version 9.6.24, older than the server") || !strings.Contains(err.Error(), "install postgresql-client-") {
		t.Fatalf("old pg_dump: %v", err)
	}
	cur, _ := New(Config{Host: "127.0.0.1", Port: 5432, User: "postgres", SSLMode: "disable"}, "")
	if p, err := cur.Plan(context.Background(), []string{db}); err != nil || len(p.Warnings) != 0 {
		t.Fatalf("the installed pg_dump: %v %v", err, p.Warnings)
	}
}
