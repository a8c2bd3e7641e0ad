package dest

import (
	"context"
	"fmt"
	"io"
)

// RangeOpener is implemented by destinations whose protocol reads part of
// an object without transferring what comes before (S3 and WebDAV ranges,
// FTP's REST).
type RangeOpener interface {
	// OpenRange reads length bytes of key from offset, fewer at the end of
	// the object; offset must lie within it.
	OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
}

// OpenRange reads length bytes of key from offset: natively where the
// destination can, else by seeking the opened object, else by skipping.
func OpenRange(ctx context.Context, d Destination, key string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || length < 0 {
		return nil, fmt.Errorf("%w: range %d+%d", ErrBadKey, offset, length)
	}
	if ro, ok := As[RangeOpener](d); ok {
		return ro.OpenRange(ctx, key, offset, length)
	}
	rc, err := d.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	return SeekRange(rc, offset, length)
}

// SeekRange limits an opened object to a range: it seeks when it can and
// reads past the bytes before offset when it cannot.
func SeekRange(rc io.ReadCloser, offset, length int64) (io.ReadCloser, error) {
	var err error
	if s, ok := rc.(io.Seeker); ok {
		_, err = s.Seek(offset, io.SeekStart)
	} else {
		_, err = io.CopyN(io.Discard, rc, offset)
	}
	if err != nil {
		rc.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(rc, length), rc}, nil
}
