package mysql

import (
	"context"
	"testing"

	"github.com/dbackup/dbackup/internal/source/sourcetest"
)

// A throwaway server takes a real dump back, counted, and goes away.
func TestThrowawayServerRestoresAndStops(t *testing.T) {
	t.Parallel()
	tw, want := sourcetest.ThrowawayRestore(t, StartThrowaway, "10.11.19-MariaDB", "sql", "vt", smallDump(t), Validate)
	if got, err := tw.Source.(*Source).Count(context.Background(), "vt", want); err != nil || got["t"] != 3 {
		t.Fatalf("counted %v (%v)", got, err)
	}
	sourcetest.ThrowawayStops(t, tw)
}
