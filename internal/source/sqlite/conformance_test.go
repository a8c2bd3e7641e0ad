package sqlite

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/dbackup/dbackup/internal/source"
	"github.com/dbackup/dbackup/internal/source/sourcetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	var dir string
	sourcetest.Run(t, sourcetest.Harness{
		Source: func(t *testing.T) (source.Source, string) {
			dir = t.TempDir()
			path := filepath.Join(dir, "conf.db")
			db, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			db.Exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, data BLOB, n REAL)")
			db.Exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 3000) INSERT INTO items SELECT i, 'ünï ' || i, randomblob(32), i / 7.0 FROM n")
			db.Close()
			s, _ := New(Config{Path: path})
			return s, "conf.db"
		},
		Target: func(t *testing.T) string { return filepath.Join(dir, "restored.db") },
		Fingerprint: func(t *testing.T, _ source.Source, db string) string {
			if !filepath.IsAbs(db) {
				db = filepath.Join(dir, db)
			}
			conn, _ := sql.Open("sqlite", "file:"+db+"?mode=ro")
			defer conn.Close()
			var fp string
			conn.QueryRow("SELECT count(*) || ':' || sum(length(name)) || ':' || hex(sum(length(data))) || ':' || sum(n) FROM items").Scan(&fp)
			return fp
		},
	})
}
