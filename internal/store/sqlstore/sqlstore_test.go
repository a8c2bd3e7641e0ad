package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/secret"
	"github.com/dbackup/dbackup/internal/store"
	"github.com/dbackup/dbackup/internal/store/storetest"
	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

func testBox(t *testing.T) *secret.Box {
	b, err := secret.NewBox([]byte("test-server-key-32-bytes-long!!!"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawDump renders every row of every table as text.
func rawDump(t *testing.T, s store.Store) string {
	db := s.(*DB)
	var b strings.Builder
	for _, table := range []string{"sources", "destinations", "channels", "encryption_profiles", "jobs", "job_destinations", "executions", "settings"} {
		rows, err := db.db.Query("SELECT * FROM " + table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			for _, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprint(&b, v, "|")
			}
		}
		rows.Close()
	}
	return b.String()
}

func TestSQLiteConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) store.Store {
			s, err := Open(context.Background(), filepath.Join(t.TempDir(), "dbackup.db"), testBox(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		RawDump: rawDump,
	})
}

func TestPostgresConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) store.Store {
			_, url := pgtest.NewDatabase(t, "dbackup_store")
			s, err := Open(context.Background(), url, testBox(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		RawDump: rawDump,
	})
}

func TestMigrationsIdempotentAcrossReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "dbackup.db")
	for range 2 {
		s, err := Open(context.Background(), path, testBox(t))
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}
