package mongodb

import (
	"context"
	"testing"

	"github.com/dbackup/dbackup/internal/source"
	"github.com/dbackup/dbackup/internal/source/sourcetest"
	"github.com/dbackup/dbackup/internal/testutil/ferrettest"
	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

// newSource is a source for srv as the test user (password given).
func newSource(t testing.TB, srv *ferrettest.Server, password string) *Source {
	t.Helper()
	s, err := New(Config{Host: srv.Host, Port: srv.Port, User: ferrettest.User, AuthMechanism: ferrettest.Mechanism}, password)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	srv := ferrettest.Start(t)
	c := srv.Client(t)
	sourcetest.Run(t, sourcetest.Harness{
		Source: func(t *testing.T) (source.Source, string) {
			db := pgtest.Name("conf")
			ferrettest.Seed(t, c, db, 3000)
			t.Cleanup(func() { c.Database(db).Drop(context.Background()) })
			return newSource(t, srv, ferrettest.Password), db
		},
		Target: func(t *testing.T) string {
			db := pgtest.Name("conf_r")
			t.Cleanup(func() { c.Database(db).Drop(context.Background()) })
			return db
		},
		Fingerprint:   func(t *testing.T, _ source.Source, db string) string { return ferrettest.Fingerprint(t, c, db) },
		Password:      ferrettest.Password,
		WrongPassword: func(t *testing.T) source.Source { return newSource(t, srv, "wrong") },
		Unreachable: func(t *testing.T) source.Source {
			s, _ := New(Config{Host: "127.0.0.1", Port: 1}, "")
			return s
		},
	})
}
