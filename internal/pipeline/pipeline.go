package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/pipeline/compress"
	"github.com/dbackup/dbackup/internal/pipeline/crypt"
)

// Options says how the dump is turned into stored bytes.
type Options struct {
	Compression backup.Compression
	Level       int
	Key         []byte // profile key; nil stores the data unencrypted
}

// Progress is updated while the pipeline runs and may be read concurrently.
type Progress struct {
	Dumped Counter // bytes produced by the dump
	Stored Counter // bytes after compression and encryption
}

// Result describes the stored bytes, identical at every destination.
type Result struct {
	DumpBytes   int64
	StoredBytes int64
	SHA256      string
}

// DumpFunc writes the whole dump to w and returns nil only if it is complete.
type DumpFunc func(ctx context.Context, w io.Writer) error

// Run streams dump → compress → encrypt → SHA-256 → every consumer, in one
// pass. It returns each consumer's error (nil = committed) and the error that
// failed the stream as a whole, in which case every consumer was aborted.
func Run(ctx context.Context, dump DumpFunc, opts Options, prog *Progress, consumers ...Consumer) (Result, []error, error) {
	if prog == nil {
		prog = &Progress{}
	}
	fan := NewFanout(consumers...)
	hasher := sha256.New()
	prog.Stored.W = io.MultiWriter(hasher, fan)
	var top io.Writer = &prog.Stored
	var enc *crypt.Writer
	if opts.Key != nil {
		var err error
		if enc, err = crypt.NewWriter(top, opts.Key, 0); err != nil {
			return Result{}, fan.Abort(err), err
		}
		top = enc
	}
	cw, err := compress.NewWriter(opts.Compression, opts.Level, top)
	if err != nil {
		return Result{}, fan.Abort(err), err
	}
	prog.Dumped.W = cw

	err = dump(ctx, &prog.Dumped)
	if err == nil && prog.Dumped.N() == 0 {
		err = errors.New("the dump produced no data")
	}
	if err == nil {
		err = cw.Close()
	}
	if err == nil && enc != nil {
		err = enc.Close()
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%v)", cerr, err)
		}
		return Result{}, fan.Abort(err), err
	}
	errs := fan.Close()
	return Result{
		DumpBytes:   prog.Dumped.N(),
		StoredBytes: prog.Stored.N(),
		SHA256:      hex.EncodeToString(hasher.Sum(nil)),
	}, errs, nil
}

// OpenOptions says how to turn stored bytes back into the dump.
type OpenOptions struct {
	Compression backup.Compression
	Key         []byte // required when the data is encrypted
	Encrypted   bool
}

// Open returns the plain dump read from stored bytes. Every byte it returns
// has been authenticated when the data is encrypted.
func Open(r io.Reader, opts OpenOptions) (io.ReadCloser, error) {
	if opts.Encrypted {
		if opts.Key == nil {
			return nil, errors.New("the backup is encrypted: an encryption key is required")
		}
		cr, err := crypt.NewReader(r, opts.Key)
		if err != nil {
			return nil, err
		}
		r = cr
	}
	return compress.NewReader(opts.Compression, r)
}
