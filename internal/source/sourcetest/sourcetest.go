// Package sourcetest is the conformance suite every database source passes
// against a real server.
package sourcetest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/source"
)

// Harness adapts the suite to one engine.
type Harness struct {
	// Source returns a working source and the name of a seeded database on it.
	Source func(t *testing.T) (source.Source, string)
	// Target returns a fresh name to restore into (removed at cleanup).
	Target func(t *testing.T) string
	// Restorer returns the source to restore into; nil: the dumped one.
	Restorer func(t *testing.T) source.Source
	// Fingerprint describes a database of a source; equal after a round trip.
	Fingerprint func(t *testing.T, s source.Source, db string) string
	// Password is the secret of the working source; it must not appear in
	// the logs of a dump or a restore.
	Password string
	// WrongPassword and Unreachable return sources that must fail to
	// connect; nil for engines without passwords or hosts.
	WrongPassword func(t *testing.T) source.Source
	Unreachable   func(t *testing.T) source.Source
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	ctx := context.Background()
	t.Run("CheckVersionList", func(t *testing.T) {
		s, db := h.Source(t)
		if err := s.Check(ctx); err != nil {
			t.Fatal(err)
		}
		if v, err := s.Version(ctx); err != nil || v == "" {
			t.Fatalf("version %q, %v", v, err)
		}
		dbs, err := s.ListDatabases(ctx)
		if err != nil || !slices.Contains(dbs, db) {
			t.Fatalf("databases %v do not list %s (%v)", dbs, db, err)
		}
		if _, err := s.Plan(ctx, []string{"no_such_database_x"}); err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("plan of a missing database: %v", err)
		}
	})
	t.Run("DumpRestoreRoundTrip", func(t *testing.T) {
		s, db := h.Source(t)
		p, err := s.Plan(ctx, []string{db})
		if err != nil {
			t.Fatal(err)
		}
		var dump, logs bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		if err := s.Dump(ctx, p, &dump, log); err != nil {
			t.Fatal(err)
		}
		if dump.Len() == 0 {
			t.Fatal("empty dump")
		}
		dst := s
		if h.Restorer != nil {
			dst = h.Restorer(t)
		}
		target := h.Target(t)
		if err := dst.Restore(ctx, p.Format, &dump, source.RestoreOptions{Targets: map[string]string{db: target}}, log); err != nil {
			t.Fatal(err)
		}
		if got, want := h.Fingerprint(t, dst, target), h.Fingerprint(t, s, db); got != want {
			t.Fatalf("restored %s differs:\n got %s\nwant %s", target, got, want)
		}
		if logs.Len() == 0 {
			t.Fatal("dump and restore logged nothing")
		}
		if h.Password != "" && strings.Contains(logs.String(), h.Password) {
			t.Fatalf("the password appears in the logs:\n%s", logs.String())
		}
	})
	if h.WrongPassword != nil {
		t.Run("WrongPassword", func(t *testing.T) {
			err := h.WrongPassword(t).Check(ctx)
			if err == nil || !strings.Contains(err.Error(), "wrong password") {
				t.Fatalf("wrong password: %v", err)
			}
		})
	}
	if h.Unreachable != nil {
		t.Run("Unreachable", func(t *testing.T) {
			err := h.Unreachable(t).Check(ctx)
			if err == nil || !strings.Contains(err.Error(), "cannot reach") {
				t.Fatalf("unreachable host: %v", err)
			}
		})
	}
}
