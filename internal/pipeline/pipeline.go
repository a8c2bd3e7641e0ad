package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/pipeline/compress"
	"github.com/dbackup/dbackup/internal/pipeline/crypt"
)

// Options says how the dump is turned into stored bytes.
type Options struct {
	Compression backup.Compression
	Level       int
	Key         []byte // profile key; nil stores the data unencrypted
	// Validate reads the plain dump as it streams, beside the compressor,
	// and returns nil only if the dump is whole. It runs concurrently,
	// behind a bounded queue; no destination commits unless it passed.
	Validate func(r io.Reader) error
}

// InvalidDumpError is a dump its validator refused.
type InvalidDumpError struct{ Err error }

func (e *InvalidDumpError) Error() string {
	return "the dump is not whole, nothing was kept: " + e.Err.Error()
}
func (e *InvalidDumpError) Unwrap() error { return e.Err }

// validator runs validate as a consumer that must read the stream to its
// end: bytes after the point where validate stopped are an error too.
func validator(validate func(io.Reader) error) Consumer {
	return func(r io.Reader) error {
		err := validate(r)
		if err == nil {
			if n, _ := io.Copy(io.Discard, r); n > 0 {
				err = fmt.Errorf("%d bytes follow the end of the dump", n)
			}
		}
		if err != nil {
			return &InvalidDumpError{err}
		}
		return nil
	}
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
	// Compression says what the compressor did (levels used and why), when
	// it can tell.
	Compression string
	// Timings: dump, compress and (when encrypted) encrypt, each its own
	// time (see backup.StageTiming).
	Timings []backup.StageTiming
}

// timed is a writer that adds up the time its writes take (its own work
// and everything downstream of it), from any goroutine.
type timed struct {
	w    io.Writer
	busy atomic.Int64
}

func (t *timed) Write(p []byte) (int, error) {
	start := time.Now()
	n, err := t.w.Write(p)
	t.busy.Add(int64(time.Since(start)))
	return n, err
}

// closeTimed closes c, adding the time to t.
func (t *timed) closeTimed(c io.Closer) error {
	start := time.Now()
	err := c.Close()
	t.busy.Add(int64(time.Since(start)))
	return err
}

func (t *timed) took() time.Duration { return time.Duration(t.busy.Load()) }

// seconds is a duration, never below zero, in seconds.
func seconds(d time.Duration) float64 { return max(d, 0).Seconds() }

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
	// Each stage's writer is timed; a stage's own time is its writer's
	// less the next one's.
	stored := &timed{w: &prog.Stored}
	top := stored
	var enc *crypt.Writer
	if opts.Key != nil {
		var err error
		if enc, err = crypt.NewWriter(stored, opts.Key, 0); err != nil {
			return Result{}, fan.Abort(err), err
		}
		top = &timed{w: enc}
	}
	cw, err := compress.NewWriter(opts.Compression, opts.Level, top)
	if err != nil {
		return Result{}, fan.Abort(err), err
	}
	compressed := &timed{w: cw}
	prog.Dumped.W = compressed
	var check *Fanout
	if opts.Validate != nil {
		check = NewFanout(validator(opts.Validate))
		prog.Dumped.W = io.MultiWriter(check, compressed)
	}
	dumped := &timed{w: &prog.Dumped}

	dumpStart := time.Now()
	err = dump(ctx, dumped)
	dumpWall := time.Since(dumpStart)
	if err == nil && prog.Dumped.N() == 0 {
		err = errors.New("the dump produced no data")
	}
	if check != nil {
		err = finishCheck(check, err)
	}
	if err == nil {
		err = compressed.closeTimed(cw)
	}
	if err == nil && enc != nil {
		err = top.closeTimed(enc)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%v)", cerr, err)
		}
		errs := fan.Abort(err)
		cw.Close() // releases the encoders; what it writes goes nowhere
		return Result{}, errs, err
	}
	errs := fan.Close()
	res := Result{
		DumpBytes:   prog.Dumped.N(),
		StoredBytes: prog.Stored.N(),
		SHA256:      hex.EncodeToString(hasher.Sum(nil)),
	}
	if s, ok := cw.(interface{ Summary() string }); ok {
		res.Compression = s.Summary()
	}
	// The dump's own time is the time it did not spend waiting for the
	// stages after it; compression's, the encoders' own (summed over the
	// cores) when it can tell, else its writer's less encryption's.
	compressOwn := compressed.took() - top.took()
	if b, ok := cw.(interface{ Busy() time.Duration }); ok {
		compressOwn = b.Busy()
	}
	res.Timings = []backup.StageTiming{
		{Stage: "dump", Bytes: res.DumpBytes, Seconds: seconds(dumpWall - dumped.took())},
		{Stage: "compress", Bytes: res.DumpBytes, Seconds: seconds(compressOwn)},
	}
	if enc != nil {
		res.Timings = append(res.Timings, backup.StageTiming{Stage: "encrypt", Bytes: res.StoredBytes, Seconds: seconds(top.took() - stored.took())})
	}
	return res, errs, nil
}

// finishCheck ends the validator's stream: after a whole dump it returns
// the validator's verdict; after a failed one the dump's own error, unless
// the dump failed because the validator refused it first.
func finishCheck(check *Fanout, dumpErr error) error {
	if dumpErr == nil {
		return check.Close()[0]
	}
	var invalid *InvalidDumpError
	if verr, done := check.finished(0); done && errors.As(verr, &invalid) {
		check.Abort(dumpErr)
		return invalid
	}
	check.Abort(dumpErr)
	if errors.As(dumpErr, &invalid) {
		return invalid
	}
	return dumpErr
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
