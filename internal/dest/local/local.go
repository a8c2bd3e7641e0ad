// Package local stores backups in a directory of the local filesystem.
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/plugin"
)

// Config is the local destination's configuration.
type Config struct {
	Path string `json:"path" help:"directory on this server"`
}

// Validate checks the configuration before use.
func (c *Config) Validate() error {
	if c.Path == "" {
		return errors.New("path is required")
	}
	if !filepath.IsAbs(c.Path) {
		return fmt.Errorf("path %q must be absolute", c.Path)
	}
	return nil
}

// Dir is a destination rooted at a local directory.
type Dir struct{ root string }

var _ dest.Destination = (*Dir)(nil)

// New returns a destination rooted at c.Path.
func New(c Config) (*Dir, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Dir{root: filepath.Clean(c.Path)}, nil
}

// open returns the root, refusing any access that would leave it (also
// through symbolic links), and the cleaned key.
func (d *Dir) open(key string) (*os.Root, string, error) {
	k, err := dest.CleanKey(key)
	if err != nil {
		return nil, "", err
	}
	root, err := os.OpenRoot(d.root)
	if err != nil {
		return nil, "", fmt.Errorf("local destination %s: %w", d.root, err)
	}
	return root, filepath.FromSlash(k), nil
}

// Check verifies the root exists and is a directory.
func (d *Dir) Check(context.Context) error {
	st, err := os.Stat(d.root)
	if err != nil {
		return fmt.Errorf("local destination %s: %w", d.root, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("local destination %s is not a directory", d.root)
	}
	return nil
}

// Put writes to a temporary file in the target directory, syncs it, and
// links it into place, which fails rather than overwrite an existing object.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader) (dest.ObjectInfo, error) {
	return d.store(ctx, key, r, func(root *os.Root, tmp, p string) error {
		if err := root.Link(tmp, p); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%w: %s", dest.ErrExists, key)
			}
			return err
		}
		return nil
	})
}

// Replace writes like Put and renames over any existing object.
func (d *Dir) Replace(ctx context.Context, key string, r io.Reader) (dest.ObjectInfo, error) {
	return d.store(ctx, key, r, func(root *os.Root, tmp, p string) error { return root.Rename(tmp, p) })
}

// store writes r to a synced temporary file next to key and lets commit
// move it into place; on any failure nothing new is left.
func (d *Dir) store(ctx context.Context, key string, r io.Reader, commit func(root *os.Root, tmp, p string) error) (info dest.ObjectInfo, err error) {
	defer func() { err = escaped(err, key) }()
	root, p, err := d.open(key)
	if err != nil {
		return info, err
	}
	defer root.Close()
	dir := filepath.Dir(p)
	if _, serr := root.Stat(dir); serr != nil {
		if err := root.MkdirAll(dir, 0o750); err != nil {
			return info, fmt.Errorf("create %s: %w", filepath.ToSlash(dir), err)
		}
		// A directory made for an upload that then fails goes away with it.
		defer func() {
			if err != nil {
				root.Remove(dir)
			}
		}()
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(dir, dest.TempPrefix+filepath.Base(p)+"-"+hex.EncodeToString(rnd[:]))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return info, err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
		root.Remove(tmp) // after a link only the temporary name goes; after a rename it is gone
	}()
	n, err := io.Copy(f, dest.WithContext(ctx, r))
	if err != nil {
		return info, fmt.Errorf("write %s: %w", key, err)
	}
	if err := f.Sync(); err != nil {
		return info, fmt.Errorf("sync %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return info, fmt.Errorf("close %s: %w", key, err)
	}
	f = nil
	if err := commit(root, tmp, p); err != nil {
		return info, err
	}
	if df, err := root.Open(dir); err == nil {
		df.Sync()
		df.Close()
	}
	st, err := root.Stat(p)
	if err != nil {
		return info, err
	}
	return dest.ObjectInfo{Key: key, Size: n, ModTime: st.ModTime()}, nil
}

type rootFile struct {
	*os.File
	root *os.Root
}

func (f rootFile) Close() error { f.root.Close(); return f.File.Close() }

// Open opens an object for reading.
func (d *Dir) Open(_ context.Context, key string) (_ io.ReadCloser, err error) {
	defer func() { err = escaped(err, key) }()
	root, p, err := d.open(key)
	if err != nil {
		return nil, err
	}
	f, err := root.Open(p)
	if err != nil {
		root.Close()
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", dest.ErrNotFound, key)
		}
		return nil, err
	}
	return rootFile{f, root}, nil
}

// Stat returns an object's size and modification time.
func (d *Dir) Stat(_ context.Context, key string) (_ dest.ObjectInfo, err error) {
	defer func() { err = escaped(err, key) }()
	root, p, err := d.open(key)
	if err != nil {
		return dest.ObjectInfo{}, err
	}
	defer root.Close()
	st, err := root.Stat(p)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && st.IsDir()) {
		return dest.ObjectInfo{}, fmt.Errorf("%w: %s", dest.ErrNotFound, key)
	}
	if err != nil {
		return dest.ObjectInfo{}, err
	}
	return dest.ObjectInfo{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
}

// List walks the tree below the root and returns the objects whose key
// starts with prefix, skipping in-flight uploads.
func (d *Dir) List(_ context.Context, prefix string) ([]dest.ObjectInfo, error) {
	root, err := os.OpenRoot(d.root)
	if err != nil {
		return nil, fmt.Errorf("local destination %s: %w", d.root, err)
	}
	defer root.Close()
	var out []dest.ObjectInfo
	err = fs.WalkDir(root.FS(), ".", func(key string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() || !e.Type().IsRegular() || !strings.HasPrefix(key, prefix) || dest.IsTemp(key) {
			return nil
		}
		st, err := e.Info()
		if err != nil {
			return err
		}
		out = append(out, dest.ObjectInfo{Key: key, Size: st.Size(), ModTime: st.ModTime()})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, err
}

// Delete removes an object.
func (d *Dir) Delete(_ context.Context, key string) (err error) {
	defer func() { err = escaped(err, key) }()
	root, p, err := d.open(key)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := root.Remove(p); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", dest.ErrNotFound, key)
	} else if err != nil {
		return err
	}
	return nil
}

// Close releases nothing; a directory holds no connection.
func (d *Dir) Close() error { return nil }

// escaped turns os.Root's refusal of a path that leaves the root (through
// a symbolic link) into a bad key: the request is wrong, not the server.
func escaped(err error, key string) error {
	if err != nil && strings.Contains(err.Error(), "path escapes from parent") {
		return fmt.Errorf("%w: %s leads outside the destination (a symbolic link?)", dest.ErrBadKey, key)
	}
	return err
}

// Type is the destination type name.
const Type = "local"

// Factory registers the local destination.
var Factory = plugin.Typed(Type, "Local directory", nil, func(c Config, _ map[string]string) (dest.Destination, error) {
	return New(c)
})

var _ dest.UploadAborter = (*Dir)(nil)

// AbortUploads removes the temporary files of uploads of key that a killed
// process left behind.
func (d *Dir) AbortUploads(_ context.Context, key string) (int, error) {
	root, p, err := d.open(key)
	if err != nil {
		return 0, err
	}
	defer root.Close()
	dir := filepath.Dir(p)
	f, err := root.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return 0, err
	}
	prefix := dest.TempPrefix + filepath.Base(p) + "-"
	n := 0
	for _, name := range names {
		if strings.HasPrefix(name, prefix) {
			if err := root.Remove(filepath.Join(dir, name)); err == nil {
				n++
			}
		}
	}
	return n, nil
}
