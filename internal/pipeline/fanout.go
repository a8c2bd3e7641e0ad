// Package pipeline streams one dump through compression, encryption and
// hashing to several destinations at once, with no temporary file.
package pipeline

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// ErrNoConsumers is returned by Fanout.Write once every consumer has failed.
var ErrNoConsumers = errors.New("every destination failed")

const (
	fanoutBlock = 256 << 10 // bytes per queued block
	fanoutDepth = 8         // queued blocks per consumer: 2 MiB at most
)

// Fanout copies one byte stream to several consumers running concurrently.
// Each consumer reads through its own bounded queue, so a slow one holds the
// producer back by at most its queue, and a consumer that returns an error is
// dropped while the others go on. A consumer sees io.EOF only after Close; on
// Abort it sees the abort error, so it must never commit on anything but EOF.
type Fanout struct {
	branches []*branch
	pending  *block
	free     chan *block // blocks every consumer is done with
	abort    chan struct{}
	abortErr error
	wg       sync.WaitGroup
	closed   bool
}

type branch struct {
	ch     chan *block
	done   chan struct{}
	err    error
	eof    bool // the consumer read the clean end of the stream
	cur    []byte
	curBlk *block
	f      *Fanout
}

// block is one queued piece of the stream, shared by the consumers it was
// sent to and reused once the last of them has read it.
type block struct {
	buf  []byte
	refs atomic.Int32
}

func (f *Fanout) release(blk *block) {
	if blk != nil && blk.refs.Add(-1) == 0 {
		select {
		case f.free <- blk:
		default:
		}
	}
}

func (f *Fanout) newBlock() *block {
	select {
	case blk := <-f.free:
		blk.buf = blk.buf[:0]
		return blk
	default:
		return &block{buf: make([]byte, 0, fanoutBlock)}
	}
}

// next moves the branch to its next block; false at the end of the stream.
func (b *branch) next() (bool, error) {
	b.f.release(b.curBlk)
	b.curBlk, b.cur = nil, nil
	select {
	case <-b.f.abort:
		return false, b.f.abortErr
	case blk, ok := <-b.ch:
		if !ok {
			b.eof = true
			return false, nil
		}
		b.curBlk, b.cur = blk, blk.buf
		return true, nil
	}
}

// Consumer reads the whole stream from r; returning nil commits its copy.
type Consumer func(r io.Reader) error

// NewFanout starts one goroutine per consumer.
func NewFanout(consumers ...Consumer) *Fanout {
	f := &Fanout{abort: make(chan struct{}), free: make(chan *block, fanoutDepth*len(consumers)+2)}
	f.pending = f.newBlock()
	for _, c := range consumers {
		b := &branch{ch: make(chan *block, fanoutDepth), done: make(chan struct{}), f: f}
		f.branches = append(f.branches, b)
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer close(b.done)
			b.err = c(b)
			if b.err == nil && !b.eof {
				b.err = errors.New("destination stopped reading before the end of the stream")
			}
		}()
	}
	return f
}

// Read implements io.Reader for one consumer.
func (b *branch) Read(p []byte) (int, error) {
	for len(b.cur) == 0 {
		more, err := b.next()
		if err != nil {
			return 0, err
		}
		if !more {
			return 0, io.EOF
		}
	}
	n := copy(p, b.cur)
	b.cur = b.cur[n:]
	return n, nil
}

// WriteTo hands whole queued blocks to w, sparing io.Copy a buffer copy.
func (b *branch) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(b.cur) == 0 {
			more, err := b.next()
			if err != nil || !more {
				return total, err
			}
		}
		n, err := w.Write(b.cur)
		total += int64(n)
		b.cur = b.cur[n:]
		if err != nil {
			return total, err
		}
	}
}

// Write queues p for every consumer still alive.
func (f *Fanout) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		buf := f.pending.buf
		k := copy(buf[len(buf):cap(buf)], p)
		f.pending.buf = buf[:len(buf)+k]
		p = p[k:]
		if len(f.pending.buf) == cap(f.pending.buf) {
			if err := f.send(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

func (f *Fanout) send() error {
	blk := f.pending
	blk.refs.Store(int32(len(f.branches)))
	alive := 0
	var last error
	for _, b := range f.branches {
		sent := false
		select {
		case <-b.done:
		default:
			select {
			case b.ch <- blk:
				sent = true
			case <-b.done:
			}
		}
		if !sent {
			f.release(blk)
		}
		select {
		case <-b.done:
			last = b.err
		default:
			alive++
		}
	}
	f.pending = f.newBlock()
	if alive == 0 {
		return fmt.Errorf("%w: %w", ErrNoConsumers, last)
	}
	return nil
}

// finished reports whether consumer i has returned, and its error.
func (f *Fanout) finished(i int) (error, bool) {
	select {
	case <-f.branches[i].done:
		return f.branches[i].err, true
	default:
		return nil, false
	}
}

// Close ends the stream, waits for every consumer and returns their results
// in order. A nil entry means that consumer read everything and committed.
func (f *Fanout) Close() []error {
	if !f.closed {
		f.closed = true
		if len(f.pending.buf) > 0 {
			f.send() // errors are reported per consumer below
		}
		for _, b := range f.branches {
			close(b.ch)
		}
	}
	return f.wait()
}

// Abort makes every consumer's next read fail with err and waits for them.
func (f *Fanout) Abort(err error) []error {
	if err == nil {
		err = errors.New("aborted")
	}
	if !f.closed {
		f.closed = true
		f.abortErr = err
		close(f.abort)
	}
	return f.wait()
}

func (f *Fanout) wait() []error {
	f.wg.Wait()
	errs := make([]error, len(f.branches))
	for i, b := range f.branches {
		errs[i] = b.err
	}
	return errs
}

// Counter counts bytes written through it; safe to read while writing.
type Counter struct {
	W io.Writer
	n atomic.Int64
}

func (c *Counter) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// N returns the bytes written so far.
func (c *Counter) N() int64 { return c.n.Load() }
