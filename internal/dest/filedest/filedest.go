// Package filedest turns a file-like protocol (SFTP, FTP, WebDAV, SMB) into
// a destination. The protocol offers directories, files and a rename; this
// package does the rest once for all of them: keys checked against escapes,
// uploads written under a temporary name in the target directory and moved
// into place only when every byte arrived, never overwriting a backup,
// complete sorted listings that skip in-flight uploads.
package filedest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/dbackup/dbackup/internal/dest"
)

// FS is what a protocol must offer. Paths are absolute, slash-separated.
// Missing files are reported as fs.ErrNotExist.
type FS interface {
	// Ping connects and authenticates, changing nothing.
	Ping(ctx context.Context) error
	MkdirAll(ctx context.Context, dir string) error
	// Create creates a new file (its name is unique) for writing.
	Create(ctx context.Context, name string) (io.WriteCloser, error)
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	Stat(ctx context.Context, name string) (fs.FileInfo, error)
	ReadDir(ctx context.Context, dir string) ([]fs.FileInfo, error)
	Remove(ctx context.Context, name string) error
	// Rename moves from to to. Unless replace, it fails with fs.ErrExist
	// when to exists; with replace, it swaps the file as atomically as the
	// protocol allows.
	Rename(ctx context.Context, from, to string, replace bool) error
	Close() error
}

// RangeFS is an FS that reads part of a file natively.
type RangeFS interface {
	OpenRange(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error)
}

// Aborter is a writer of Create that can end an upload as failed, so the
// server does not take a partial file for a whole one.
type Aborter interface{ Abort(err error) }

// Dest is a destination on an FS under a root directory.
type Dest struct {
	fs   FS
	root string
	name string // for messages: "sftp://host/path"
}

var (
	_ dest.Destination   = (*Dest)(nil)
	_ dest.UploadAborter = (*Dest)(nil)
	_ dest.RangeOpener   = (*Dest)(nil)
)

// New returns a destination rooted at root (an absolute path) of f.
func New(f FS, root, name string) *Dest {
	return &Dest{fs: f, root: path.Clean("/" + root), name: name}
}

func (d *Dest) path(key string) (string, string, error) {
	k, err := dest.CleanKey(key)
	if err != nil {
		return "", "", err
	}
	return k, path.Join(d.root, k), nil
}

// Check connects and checks that the root directory exists.
func (d *Dest) Check(ctx context.Context) error {
	if err := d.fs.Ping(ctx); err != nil {
		return err
	}
	fi, err := d.fs.Stat(ctx, d.root)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: directory %s does not exist", d.name, d.root)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", d.name, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: %s is not a directory", d.name, d.root)
	}
	return nil
}

// Put uploads under a temporary name and moves the file into place only
// after the stream ended cleanly; an existing key is never overwritten.
func (d *Dest) Put(ctx context.Context, key string, r io.Reader) (dest.ObjectInfo, error) {
	return d.put(ctx, key, r, false)
}

// Replace is Put that may replace an existing file.
func (d *Dest) Replace(ctx context.Context, key string, r io.Reader) (dest.ObjectInfo, error) {
	return d.put(ctx, key, r, true)
}

func (d *Dest) put(ctx context.Context, key string, r io.Reader, replace bool) (dest.ObjectInfo, error) {
	k, full, err := d.path(key)
	if err != nil {
		return dest.ObjectInfo{}, err
	}
	if !replace {
		if _, err := d.fs.Stat(ctx, full); err == nil {
			return dest.ObjectInfo{}, fmt.Errorf("%w: %s", dest.ErrExists, k)
		}
	}
	dir := path.Dir(full)
	if err := d.fs.MkdirAll(ctx, dir); err != nil {
		return dest.ObjectInfo{}, fmt.Errorf("%s: create directory %s: %w", d.name, dir, err)
	}
	tmp := path.Join(dir, tempName(path.Base(k)))
	w, err := d.fs.Create(ctx, tmp)
	if err != nil {
		return dest.ObjectInfo{}, fmt.Errorf("%s: create %s: %w", d.name, tmp, err)
	}
	n, err := io.Copy(w, dest.WithContext(ctx, r))
	if err == nil {
		err = ctx.Err()
	}
	if a, ok := w.(Aborter); ok && err != nil {
		a.Abort(err)
	} else if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = d.fs.Rename(ctx, tmp, full, replace)
		if errors.Is(err, fs.ErrExist) {
			err = fmt.Errorf("%w: %s", dest.ErrExists, k)
		}
	}
	if err != nil {
		d.removeTemp(context.WithoutCancel(ctx), dir, path.Base(tmp))
		return dest.ObjectInfo{}, fmt.Errorf("%s: upload %s: %w", d.name, k, err)
	}
	return dest.ObjectInfo{Key: k, Size: n, ModTime: time.Now()}, nil
}

// removeTemp removes a failed upload's temporary file and whatever the
// server derived from its name (nginx leaves "<name>.0000000042" when it
// cannot copy an upload into place).
func (d *Dest) removeTemp(ctx context.Context, dir, name string) {
	d.fs.Remove(ctx, path.Join(dir, name))
	entries, _ := d.fs.ReadDir(ctx, dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), name) {
			d.fs.Remove(ctx, path.Join(dir, e.Name()))
		}
	}
}

func tempName(base string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return dest.TempPrefix + hex.EncodeToString(b) + "-" + base
}

// Open reads a file.
func (d *Dest) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	k, full, err := d.path(key)
	if err != nil {
		return nil, err
	}
	rc, err := d.fs.Open(ctx, full)
	if err != nil {
		return nil, d.notFound(k, err)
	}
	return rc, nil
}

// OpenRange reads part of a file: natively where the protocol can, else by
// seeking the opened file.
func (d *Dest) OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	k, full, err := d.path(key)
	if err != nil {
		return nil, err
	}
	if r, ok := d.fs.(RangeFS); ok {
		rc, err := r.OpenRange(ctx, full, offset, length)
		if err != nil {
			return nil, d.notFound(k, err)
		}
		return rc, nil
	}
	rc, err := d.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	return dest.SeekRange(rc, offset, length)
}

func (d *Dest) notFound(k string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", dest.ErrNotFound, k)
	}
	return fmt.Errorf("%s: %s: %w", d.name, k, err)
}

// Stat describes a file.
func (d *Dest) Stat(ctx context.Context, key string) (dest.ObjectInfo, error) {
	k, full, err := d.path(key)
	if err != nil {
		return dest.ObjectInfo{}, err
	}
	fi, err := d.fs.Stat(ctx, full)
	if err == nil && fi.IsDir() {
		err = fs.ErrNotExist
	}
	if err != nil {
		return dest.ObjectInfo{}, d.notFound(k, err)
	}
	return dest.ObjectInfo{Key: k, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// List walks the directories under prefix; in-flight uploads are skipped.
func (d *Dest) List(ctx context.Context, prefix string) ([]dest.ObjectInfo, error) {
	start := d.root
	if i := strings.LastIndex(prefix, "/"); i > 0 {
		sub, err := dest.CleanKey(prefix[:i])
		if err != nil {
			return nil, err
		}
		start = path.Join(d.root, sub)
	}
	var out []dest.ObjectInfo
	var walk func(dir string) error
	walk = func(dir string) error {
		entries, err := d.fs.ReadDir(ctx, dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: list %s: %w", d.name, dir, err)
		}
		for _, e := range entries {
			p := path.Join(dir, e.Name())
			key := strings.TrimPrefix(p, d.root+"/")
			if d.root == "/" {
				key = strings.TrimPrefix(p, "/")
			}
			switch {
			case e.Name() == "." || e.Name() == "..":
			case e.IsDir():
				if strings.HasPrefix(key+"/", prefix) || strings.HasPrefix(prefix, key+"/") {
					if err := walk(p); err != nil {
						return err
					}
				}
			case e.Mode().IsRegular() && strings.HasPrefix(key, prefix) && !dest.IsTemp(key):
				out = append(out, dest.ObjectInfo{Key: key, Size: e.Size(), ModTime: e.ModTime()})
			}
		}
		return nil
	}
	if err := walk(start); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b dest.ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Delete removes a file.
func (d *Dest) Delete(ctx context.Context, key string) error {
	k, full, err := d.path(key)
	if err != nil {
		return err
	}
	if _, err := d.fs.Stat(ctx, full); err != nil {
		return d.notFound(k, err)
	}
	if err := d.fs.Remove(ctx, full); err != nil {
		return d.notFound(k, err)
	}
	return nil
}

// AbortUploads removes the temporary files in-flight uploads of key left.
func (d *Dest) AbortUploads(ctx context.Context, key string) (int, error) {
	k, full, err := d.path(key)
	if err != nil {
		return 0, err
	}
	entries, err := d.fs.ReadDir(ctx, path.Dir(full))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), dest.TempPrefix) && strings.Contains(e.Name(), "-"+path.Base(k)) {
			if err := d.fs.Remove(ctx, path.Join(path.Dir(full), e.Name())); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// Close closes the connection.
func (d *Dest) Close() error { return d.fs.Close() }

// PipeUpload is the writer of Create for protocols whose client reads the
// upload from a reader (an HTTP body, FTP's STOR): send runs in its own
// goroutine on the other end of a pipe. Abort breaks the pipe so that the
// server does not take the partial stream for a whole one.
type PipeUpload struct {
	pw   *io.PipeWriter
	done chan struct{}
	n    int64
	err  error // send's outcome, once done is closed
}

// NewPipeUpload starts send; it gets the bytes written and how many there
// were once they all went through.
func NewPipeUpload(send func(r io.Reader, written func() int64) error) *PipeUpload {
	pr, pw := io.Pipe()
	u := &PipeUpload{pw: pw, done: make(chan struct{})}
	go func() {
		err := send(pr, func() int64 { return u.n })
		pr.CloseWithError(err) // unblocks a writer if the server answered early
		u.err = err
		close(u.done)
	}()
	return u
}

func (u *PipeUpload) Write(p []byte) (int, error) {
	n, err := u.pw.Write(p)
	u.n += int64(n)
	if err != nil {
		<-u.done
		if u.err != nil {
			return n, u.err
		}
	}
	return n, err
}

// Close ends the stream and waits for send's outcome.
func (u *PipeUpload) Close() error {
	u.pw.Close()
	<-u.done
	return u.err
}

// Abort breaks the stream and waits for send to give up.
func (u *PipeUpload) Abort(err error) {
	u.pw.CloseWithError(err)
	<-u.done
}
