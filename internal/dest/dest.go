// Package dest defines the storage destination interface every backend
// implements, and the helpers they share.
package dest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key     string    `json:"key"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
}

// Destination is one storage location. Keys are slash-separated paths
// relative to the destination's root.
type Destination interface {
	// Check verifies the destination is reachable and usable, writing nothing.
	Check(ctx context.Context) error
	// Put stores everything read from r under key. The object becomes visible
	// only if r reached a clean io.EOF and every byte was stored; otherwise
	// nothing is left behind. Existing keys are never overwritten.
	Put(ctx context.Context, key string, r io.Reader) (ObjectInfo, error)
	// Replace stores r under key like Put, but atomically replaces an
	// existing object: readers see the old or the new one, never neither.
	// It is for small metadata such as sidecars.
	Replace(ctx context.Context, key string, r io.Reader) (ObjectInfo, error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List returns every object under prefix, complete and sorted by key.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	Delete(ctx context.Context, key string) error
	Close() error
}

// Errors shared by every destination.
var (
	ErrNotFound = errors.New("object not found")
	ErrExists   = errors.New("object already exists")
	ErrBadKey   = errors.New("invalid object key")
)

// CleanKey validates a key and returns it in canonical form. It refuses keys
// that are empty, absolute, or that climb out of the destination's root.
func CleanKey(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") || strings.ContainsRune(key, 0) {
		return "", fmt.Errorf("%w: %q", ErrBadKey, key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == ".." || seg == "." || seg == "" {
			return "", fmt.Errorf("%w: %q escapes or is not canonical", ErrBadKey, key)
		}
	}
	return path.Clean(key), nil
}

// TempPrefix starts the name of every in-flight upload; listings skip it.
const TempPrefix = ".dbackup-tmp-"

// IsTemp reports whether a key names an in-flight (uncommitted) upload.
func IsTemp(key string) bool { return strings.HasPrefix(path.Base(key), TempPrefix) }

// WithContext returns a reader that fails with ctx's error once ctx is done,
// so a long copy notices cancellation between reads.
func WithContext(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// WriteTo keeps the source's own WriteTo (whole blocks, no extra copy),
// checking ctx before every write.
func (c ctxReader) WriteTo(w io.Writer) (int64, error) {
	if wt, ok := c.r.(io.WriterTo); ok {
		return wt.WriteTo(ctxWriter{c.ctx, w})
	}
	return io.Copy(w, struct{ io.Reader }{c})
}

type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// UploadAborter is implemented by destinations where an interrupted Put can
// leave a temporary object behind (a local file, a partial upload).
type UploadAborter interface {
	// AbortUploads removes what in-flight uploads of key left; it reports
	// how many objects it removed.
	AbortUploads(ctx context.Context, key string) (int, error)
}

// StaleAborter is implemented by destinations where uploads can outlive
// the process that started them unseen (S3's unfinished multipart uploads
// are not objects: no listing shows them, yet they are stored and billed).
type StaleAborter interface {
	// AbortStale aborts the unfinished uploads started before before,
	// except those of keys busy says are being written; it reports how many
	// it aborted.
	AbortStale(ctx context.Context, before time.Time, busy func(key string) bool) (int, error)
}

// ErrNoChecksum says a destination cannot verify an upload by checksum;
// the caller reads the object back instead.
var ErrNoChecksum = errors.New("no provider checksum")

// ChecksumVerifier is implemented by destinations whose provider checks a
// checksum of every upload and reports it, so that an upload can be proven
// intact without downloading it.
type ChecksumVerifier interface {
	// VerifyUpload checks that the last Put of key in this process sent
	// size bytes hashing to sha256hex and that the provider holds exactly
	// those bytes. It returns the method used; ErrNoChecksum means it could
	// not tell (read the object back instead).
	VerifyUpload(ctx context.Context, key string, size int64, sha256hex string) (method string, err error)
}
