package redis

import (
	"context"
	"testing"

	"github.com/dbackup/dbackup/internal/source/sourcetest"
)

// Throwaway servers of Redis and Valkey take a real snapshot back,
// counted, and go away.
func TestThrowawayServerRestoresAndStops(t *testing.T) {
	t.Parallel()
	for file, version := range map[string]string{"redis7.rdb": "7.0.15", "valkey8.rdb": "8.0.1-valkey"} {
		tw, _ := sourcetest.ThrowawayRestore(t, StartThrowaway, version, "rdb", Name, rdbFile(t, file), Validate)
		c := tw.Source.(*Source).client()
		if n, _ := keyCount(context.Background(), c); n != 18 {
			t.Fatalf("%s: %d keys restored, want 18", file, n)
		}
		c.Close()
		sourcetest.ThrowawayStops(t, tw)
	}
}
