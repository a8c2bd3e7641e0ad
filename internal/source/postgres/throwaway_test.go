package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/source/sourcetest"
)

// A throwaway server takes a real dump back, counted, and goes away.
func TestThrowawayServerRestoresAndStops(t *testing.T) {
	t.Parallel()
	tw, want := sourcetest.ThrowawayRestore(t, StartThrowaway, "15.20", "pg_custom", "vtest", smallDump(t), Validate)
	got, err := tw.Source.(*Source).Count(context.Background(), "vtest", want)
	if err != nil || got["public.a"] != 5 || got[LargeObjects] != 1 {
		t.Fatalf("counted %v (%v)", got, err)
	}
	sourcetest.ThrowawayStops(t, tw)
}

// Without server programs of the backup's major (or newer), a drill says
// which package to install.
func TestThrowawayNamesTheMissingPackage(t *testing.T) {
	if _, err := serverPrograms(99, nil); err == nil || !strings.Contains(err.Error(), "install postgresql-99") {
		t.Fatalf("no PostgreSQL 99: %v", err)
	}
}
