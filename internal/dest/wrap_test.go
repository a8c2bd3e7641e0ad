package dest_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/dest/memdest"
)

// flaky fails its first n calls of Stat/Delete with a transient error.
type flaky struct {
	dest.Destination
	n, calls int
	err      error
}

func (f *flaky) Stat(ctx context.Context, key string) (dest.ObjectInfo, error) {
	f.calls++
	if f.calls <= f.n {
		return dest.ObjectInfo{}, f.err
	}
	return f.Destination.Stat(ctx, key)
}

func (f *flaky) Delete(ctx context.Context, key string) error {
	f.calls++
	err := f.Destination.Delete(ctx, key)
	if f.calls <= f.n {
		return f.err // deleted, but the answer was lost
	}
	return err
}

func (f *flaky) AbortUploads(context.Context, string) (int, error) { return 7, nil }

func TestRetryingRetriesTransientOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := memdest.New()
	m.Put(ctx, "a", strings.NewReader("x"))
	reset := syscall.ECONNRESET
	f := &flaky{Destination: m, n: 2, err: reset}
	d := dest.Retrying(f, 3, time.Millisecond)
	if _, err := d.Stat(ctx, "a"); err != nil || f.calls != 3 {
		t.Fatalf("stat after 2 transient failures: %v after %d calls", err, f.calls)
	}
	f.calls, f.n = 0, 5
	if _, err := d.Stat(ctx, "a"); !errors.Is(err, reset) || f.calls != 3 {
		t.Fatalf("gives up after 3 attempts: %v after %d calls", err, f.calls)
	}
	f.calls, f.n, f.err = 0, 1, errors.New("access denied")
	if _, err := d.Stat(ctx, "a"); err == nil || f.calls != 1 {
		t.Fatalf("a permanent error is not retried: %v after %d calls", err, f.calls)
	}
	// A delete whose answer was lost is done when the retry finds nothing.
	f.calls, f.n, f.err = 0, 1, reset
	if err := d.Delete(ctx, "a"); err != nil || f.calls != 2 {
		t.Fatalf("delete: %v after %d calls", err, f.calls)
	}
	if err := d.Delete(ctx, "a"); !errors.Is(err, dest.ErrNotFound) {
		t.Fatalf("delete of a missing key: %v", err)
	}
	// Optional interfaces are reached through the wrappers.
	w := dest.Wrap(f, "x", slog.New(slog.NewTextHandler(io.Discard, nil)))
	ab, ok := dest.As[dest.UploadAborter](w)
	if n, _ := ab.AbortUploads(ctx, "k"); !ok || n != 7 {
		t.Fatal("UploadAborter hidden by the wrappers")
	}
}
