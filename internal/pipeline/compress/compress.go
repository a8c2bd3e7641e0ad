// Package compress wraps the compression algorithms dbackup offers behind one
// writer and one reader constructor.
package compress

import (
	"fmt"
	"io"

	"github.com/andybalholm/brotli"
	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"

	"github.com/dbackup/dbackup/internal/backup"
)

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// NewWriter compresses into w. Close flushes the stream but does not close w.
// level 0 is the algorithm's default; zstd takes backup.LevelAdaptive too
// (see Frames). A writer with a Summary method says what it did.
func NewWriter(alg backup.Compression, level int, w io.Writer) (io.WriteCloser, error) {
	if err := alg.Validate(level); err != nil {
		return nil, err
	}
	level = alg.Level(level)
	if alg == backup.CompressionZstd {
		return NewFrames(w, level)
	}
	switch alg {
	case backup.CompressionNone:
		return nopCloser{w}, nil
	case backup.CompressionGzip:
		// Parallel gzip: plain gzip output, several cores.
		return pgzip.NewWriterLevel(w, level)
	case backup.CompressionBrotli:
		return brotli.NewWriterV2(w, level), nil
	}
	return nil, fmt.Errorf("%w: compression %q", backup.ErrUnsupported, alg)
}

type zstdReader struct{ *zstd.Decoder }

func (z zstdReader) Close() error { z.Decoder.Close(); return nil }

// NewReader decompresses r. Close releases the decoder, not r.
func NewReader(alg backup.Compression, r io.Reader) (io.ReadCloser, error) {
	switch alg {
	case backup.CompressionNone:
		return io.NopCloser(r), nil
	case backup.CompressionGzip:
		return kgzip.NewReader(r)
	case backup.CompressionZstd:
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<27))
		if err != nil {
			return nil, err
		}
		return zstdReader{d}, nil
	case backup.CompressionBrotli:
		return io.NopCloser(brotli.NewReader(r)), nil
	}
	return nil, fmt.Errorf("%w: compression %q", backup.ErrUnsupported, alg)
}
