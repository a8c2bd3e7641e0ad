package mysql

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/testutil/mytest"
)

// A dump client older than the server is refused with the fix; one of
// the other vendor is a warning; the installed one passes.
func TestOldClientRefused(t *testing.T) {
	db := mytest.NewDatabase(t, "dbackup_oldclient")
	for _, c := range []struct{ version, err, warn string }{
		{"mariadb-dump  Ver 10.19 Distrib 10.5.2-MariaDB, for debian-linux-gnu (x86_64)", "older than the server", ""},
		{"mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)", "", "dumps across vendors"},
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "mariadb-dump"), []byte("#!/bin/sh\necho '"+c.version+"'\n"), 0o755)
		s, err := New(Config{Host: "127.0.0.1", Port: 3306, User: "root", BinDir: dir}, "")
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Plan(context.Background(), []string{db})
		if c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "mariadb-client")) {
			t.Errorf("%s: %v", c.version, err)
		}
		if c.warn != "" && (err != nil || len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], c.warn)) {
			t.Errorf("%s: %v %v", c.version, err, p.Warnings)
		}
	}
	s, _ := New(Config{Host: "127.0.0.1", Port: 3306, User: "root"}, "")
	if p, err := s.Plan(context.Background(), []string{db}); err != nil || len(p.Warnings) != 0 {
		t.Fatalf("the installed client: %v %v", err, p.Warnings)
	}
}
