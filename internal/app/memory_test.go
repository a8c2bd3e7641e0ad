package app

import (
	"context"
	"math"
	"runtime/debug"
	"testing"
)

// Not parallel: the soft memory limit is the whole test process's.
func TestSoftMemoryLimitFollowsTheSettings(t *testing.T) {
	a := setup(t)
	ctx := context.Background()
	t.Cleanup(func() { debug.SetMemoryLimit(math.MaxInt64) })
	limit := func() int64 { return debug.SetMemoryLimit(-1) }
	a.SetSetting(ctx, SettingMemoryLimit, "50")
	if limit() != math.MaxInt64 {
		t.Fatal("an app that does not manage the process set its memory limit")
	}
	a.ManageMemory(ctx)
	if got := limit(); got != 50<<20 {
		t.Fatalf("limit %d, want 50 MiB for one execution at a time", got)
	}
	a.SetSetting(ctx, SettingMaxConcurrent, "3")
	if got := limit(); got != 150<<20 {
		t.Fatalf("limit %d, want 150 MiB for three executions at once", got)
	}
	a.SetSetting(ctx, SettingMemoryLimit, "0")
	if got := limit(); got != math.MaxInt64 {
		t.Fatalf("limit %d after setting 0, want none", got)
	}
	if err := a.SetSetting(ctx, SettingMemoryLimit, "-1"); err == nil {
		t.Fatal("a negative limit was accepted")
	}
}
