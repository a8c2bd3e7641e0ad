package postgres

import (
	"fmt"
	"testing"

	"github.com/dbackup/dbackup/internal/source"
	"github.com/dbackup/dbackup/internal/source/sourcetest"
	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	newSource := func(user, password string, port int) *Source {
		s, err := New(Config{Host: "127.0.0.1", Port: port, User: user, SSLMode: "disable"}, password)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	sourcetest.Run(t, sourcetest.Harness{
		Source: func(t *testing.T) (source.Source, string) {
			db, _ := pgtest.NewDatabase(t, "dbackup_conf")
			pgtest.SeedAwkward(t, db, 20_000)
			return newSource("postgres", "", 5432), db
		},
		Target: func(t *testing.T) string {
			n := pgtest.Name("dbackup_conf_r")
			pgtest.Drop(t, n)
			return n
		},
		Fingerprint:   func(t *testing.T, _ source.Source, db string) string { return fmt.Sprint(pgtest.TableChecksums(t, db)) },
		WrongPassword: func(t *testing.T) source.Source { return newSource("dbackup_pw", "wrong", 5432) },
		Unreachable:   func(t *testing.T) source.Source { return newSource("postgres", "", 1) },
	})
}
