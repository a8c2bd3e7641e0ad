package dest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"syscall"
	"time"
)

// Wrapper is a destination around another; Unwrap reaches the inner one,
// for its optional interfaces (see As).
type Wrapper interface{ Unwrap() Destination }

// As finds an optional interface (UploadAborter, ChecksumVerifier) on d or
// on the destination it wraps.
func As[T any](d Destination) (T, bool) {
	for {
		if t, ok := d.(T); ok {
			return t, true
		}
		w, ok := d.(Wrapper)
		if !ok {
			var zero T
			return zero, false
		}
		d = w.Unwrap()
	}
}

// Wrap puts the retry and logging wrappers around a destination, as every
// destination built from an endpoint gets them.
func Wrap(d Destination, name string, log *slog.Logger) Destination {
	return Logged(Retrying(d, 3, time.Second), name, log)
}

// Transient reports whether err is worth another attempt: the network
// failed or the service said to try again, and nothing says the request is
// wrong.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, ErrNotFound) || errors.Is(err, ErrExists) || errors.Is(err, ErrBadKey) {
		return false
	}
	var te interface{ Temporary() bool }
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) || (errors.As(err, &te) && te.Temporary())
}

type retrying struct {
	Destination
	attempts int
	backoff  time.Duration
}

// Retrying retries the operations that can be repeated safely (Check,
// Open, Stat, List, Delete) on transient errors, with a backoff that
// doubles. Put and Replace are not retried: their stream is a live dump
// that cannot be read twice (a whole run is retried by the job's retries).
func Retrying(d Destination, attempts int, backoff time.Duration) Destination {
	return &retrying{Destination: d, attempts: attempts, backoff: backoff}
}

func (r *retrying) Unwrap() Destination { return r.Destination }

func (r *retrying) retry(ctx context.Context, op func() error) error {
	wait := r.backoff
	for i := 1; ; i++ {
		err := op()
		if !Transient(err) || i >= r.attempts {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (r *retrying) Check(ctx context.Context) error {
	return r.retry(ctx, func() error { return r.Destination.Check(ctx) })
}

func (r *retrying) Open(ctx context.Context, key string) (rc io.ReadCloser, err error) {
	err = r.retry(ctx, func() error { rc, err = r.Destination.Open(ctx, key); return err })
	return rc, err
}

func (r *retrying) Stat(ctx context.Context, key string) (o ObjectInfo, err error) {
	err = r.retry(ctx, func() error { o, err = r.Destination.Stat(ctx, key); return err })
	return o, err
}

func (r *retrying) List(ctx context.Context, prefix string) (out []ObjectInfo, err error) {
	err = r.retry(ctx, func() error { out, err = r.Destination.List(ctx, prefix); return err })
	return out, err
}

// Delete treats "not found" after a failed attempt as done: the first
// attempt may have deleted the object before its answer was lost.
func (r *retrying) Delete(ctx context.Context, key string) error {
	failed := false
	return r.retry(ctx, func() error {
		err := r.Destination.Delete(ctx, key)
		if failed && errors.Is(err, ErrNotFound) {
			return nil
		}
		failed = err != nil
		return err
	})
}

type logged struct {
	Destination
	name string
	log  *slog.Logger
}

// Logged logs every operation with its duration at debug level, and every
// failure at warning level.
func Logged(d Destination, name string, log *slog.Logger) Destination {
	return &logged{Destination: d, name: name, log: log}
}

func (l *logged) Unwrap() Destination { return l.Destination }

func (l *logged) done(op, key string, start time.Time, bytes int64, err error) {
	attrs := []any{"destination", l.name, "op", op, "key", key, "duration", time.Since(start).Round(time.Millisecond)}
	if bytes >= 0 {
		attrs = append(attrs, "bytes", bytes)
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		l.log.Warn("destination operation failed", append(attrs, "error", err)...)
		return
	}
	l.log.Debug("destination operation", attrs...)
}

func (l *logged) Check(ctx context.Context) error {
	start := time.Now()
	err := l.Destination.Check(ctx)
	l.done("check", "", start, -1, err)
	return err
}

func (l *logged) Put(ctx context.Context, key string, r io.Reader) (ObjectInfo, error) {
	start := time.Now()
	o, err := l.Destination.Put(ctx, key, r)
	l.done("put", key, start, o.Size, err)
	return o, err
}

func (l *logged) Replace(ctx context.Context, key string, r io.Reader) (ObjectInfo, error) {
	start := time.Now()
	o, err := l.Destination.Replace(ctx, key, r)
	l.done("replace", key, start, o.Size, err)
	return o, err
}

func (l *logged) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := l.Destination.Open(ctx, key)
	l.done("open", key, start, -1, err)
	return rc, err
}

func (l *logged) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	start := time.Now()
	out, err := l.Destination.List(ctx, prefix)
	l.done("list", prefix, start, int64(len(out)), err)
	return out, err
}

func (l *logged) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := l.Destination.Delete(ctx, key)
	l.done("delete", key, start, -1, err)
	return err
}
