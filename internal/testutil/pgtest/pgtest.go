// Package pgtest gives tests a fresh database on the PostgreSQL server of the
// machine (DBACKUP_TEST_PG_URL, default postgres@127.0.0.1:5432 with trust).
// A missing server is a test failure, never a skip.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// AdminURL is the URL of a superuser connection to the test server.
func AdminURL() string {
	if u := os.Getenv("DBACKUP_TEST_PG_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// Connect opens a connection to db on the test server ("" = admin database).
func Connect(t testing.TB, db string) *pgx.Conn {
	t.Helper()
	u, _ := url.Parse(AdminURL())
	if db != "" {
		u.Path = "/" + db
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatalf("PostgreSQL test server at %s: %v (start it with `make services`)", u.Redacted(), err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Name returns a unique database name with a prefix.
func Name(prefix string) string {
	b := make([]byte, 5)
	rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// Drop drops a database at cleanup, even if sessions are still connected.
func Drop(t testing.TB, db string) {
	t.Cleanup(func() {
		u, _ := url.Parse(AdminURL())
		conn, err := pgx.Connect(context.Background(), u.String())
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
	})
}

// NewDatabase creates an empty database, dropped at cleanup, and returns
// its name and URL.
func NewDatabase(t testing.TB, prefix string) (string, string) {
	t.Helper()
	db := Name(prefix)
	conn := Connect(t, "")
	if _, err := conn.Exec(context.Background(), "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	Drop(t, db)
	u, _ := url.Parse(AdminURL())
	u.Path = "/" + db
	return db, u.String()
}
