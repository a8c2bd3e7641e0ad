package app

import (
	"context"
	"math"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"
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

// Notifications may start while someone waits for them (a run finishing
// while the test or Close waits): the wait covers them, with no race.
func TestWaitNotificationsWhileMoreStart(t *testing.T) {
	t.Parallel()
	var f inFlight
	var sent atomic.Int32
	start := func() {
		f.add()
		go func() {
			defer f.done()
			time.Sleep(time.Millisecond)
			sent.Add(1)
		}()
	}
	start()
	waited := make(chan struct{})
	go func() {
		for range 50 {
			f.wait()
		}
		close(waited)
	}()
	for range 100 {
		start()
	}
	<-waited
	f.wait()
	if sent.Load() != 101 {
		t.Fatalf("the last wait returned with %d of 101 sent", sent.Load())
	}
}
