package sourcetest

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/source"
)

// ThrowawayRestore starts a throwaway server of the given version in a
// private directory, restores dump (format, validated by validate) into it
// as database db with the dump's counts expected, and returns the server
// still running (stopped and removed at cleanup) for the test to look in,
// with the counts the dump holds.
func ThrowawayRestore(t *testing.T, start source.Starter, version, format, db string, dump []byte, validate source.Validator) (*source.Throwaway, backup.Counts) {
	t.Helper()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "dbackup-drill-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	tw, err := start(ctx, source.ThrowawayOptions{Dir: dir, Version: version, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tw.Stop() })
	rep, err := validate(bytes.NewReader(dump))
	if err != nil {
		t.Fatal(err)
	}
	opts := source.RestoreOptions{Targets: map[string]string{db: db}, Expect: backup.Contents{db: rep.Counts}}
	if err := tw.Source.Restore(ctx, format, bytes.NewReader(dump), opts, quiet); err != nil {
		t.Fatalf("restoring into the throwaway %s server: %v", version, err)
	}
	return tw, rep.Counts
}

// ThrowawayStops stops tw and fails the test if its server still answers.
func ThrowawayStops(t *testing.T, tw *source.Throwaway) {
	t.Helper()
	if err := tw.Stop(); err != nil {
		t.Fatal(err)
	}
	if tw.Source.Check(context.Background()) == nil {
		t.Fatal("the throwaway server still answers after Stop")
	}
}
