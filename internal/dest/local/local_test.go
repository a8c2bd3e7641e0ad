package local

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/dest/desttest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	desttest.Run(t, func(t *testing.T) dest.Destination {
		d, err := New(Config{Path: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}, desttest.Options{LargeSize: 300 << 20})
}

func TestSymlinkInsideRootCannotEscape(t *testing.T) {
	t.Parallel()
	root, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "job")); err != nil {
		t.Fatal(err)
	}
	d, _ := New(Config{Path: root})
	if _, err := d.Put(context.Background(), "job/evil", bytes.NewReader([]byte("x"))); err == nil {
		t.Fatal("put through a symlink leaving the root succeeded")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("wrote outside the root: %v", entries)
	}
}

func TestUnwritableDirectoryFailsClearly(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		// root ignores permission bits; make the path a file instead.
		f := filepath.Join(t.TempDir(), "file")
		os.WriteFile(f, nil, 0o600)
		d, _ := New(Config{Path: f})
		if err := d.Check(context.Background()); err == nil {
			t.Fatal("a file as root directory passed Check")
		}
		return
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o500)
	d, _ := New(Config{Path: dir})
	if _, err := d.Put(context.Background(), "j/x", bytes.NewReader([]byte("x"))); err == nil {
		t.Fatal("put into a read-only directory succeeded")
	}
}

func TestAbortUploadsRemovesOnlyThatKeysTempFiles(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "job"), 0o750)
	for _, name := range []string{".dbackup-tmp-a.dump.zst-1f2e", ".dbackup-tmp-a.dump.zst-9a9a", ".dbackup-tmp-b.dump-1111", "a.dump.zst"} {
		os.WriteFile(filepath.Join(root, "job", name), []byte("x"), 0o600)
	}
	d, _ := New(Config{Path: root})
	n, err := d.AbortUploads(context.Background(), "job/a.dump.zst")
	if err != nil || n != 2 {
		t.Fatalf("removed %d, %v", n, err)
	}
	left, _ := os.ReadDir(filepath.Join(root, "job"))
	if len(left) != 2 {
		t.Fatalf("left %v", left)
	}
}
