package postgres

import (
	"context"
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
