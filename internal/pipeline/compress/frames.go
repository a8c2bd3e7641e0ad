package compress

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/dbackup/dbackup/internal/backup"
)

// FrameSize is the plain size of each independent zstd frame.
const FrameSize = 1 << 20

// raiseAfter is how many frames in a row must find the compressor idle
// before an adaptive level goes up a step.
const raiseAfter = 8

// frame is one unit of work: plain bytes in, one zstd frame out.
type frame struct {
	in, out []byte
	level   int
	encoded chan struct{}
}

// Frames compresses its input as consecutive independent zstd frames of
// FrameSize plain bytes, each by one of a pool of workers (one per core),
// written to w in order: one zstd stream any decoder reads. The writing to
// w (encryption, hashing, fan-out) happens on its own goroutine, so the
// encoders only encode.
//
// At backup.LevelAdaptive, the level of each frame moves between a floor and a
// ceiling: down a step whenever the dump had to wait for an encoder, up a
// step after raiseAfter frames in a row found one idle, or whenever the
// dump waited only on the writer behind the encoders (a slow destination
// is better fed fewer bytes).
type Frames struct {
	w        io.Writer
	encoders map[int]*zstd.Encoder
	adaptive bool
	floor    int
	ceiling  int

	level  int // level of the next frame
	calm   int // frames in a row that found a free buffer
	cur    *frame
	free   chan *frame
	jobs   chan *frame
	order  chan *frame
	done   chan struct{}
	made   int // frames allocated so far (at most cap(free))
	closed bool

	pending  atomic.Int32 // frames submitted and not yet encoded
	busy     atomic.Int64 // nanoseconds the workers spent encoding, summed
	err      atomic.Pointer[error]
	workers  sync.WaitGroup
	perLevel map[int]int
	lowered  int
	raised   int
}

// NewFrames returns a parallel frame writer at a fixed level (1..22), or,
// with backup.LevelAdaptive, one whose level adapts between
// backup.AdaptiveFloor and backup.AdaptiveCeiling.
func NewFrames(w io.Writer, level int) (*Frames, error) {
	workers := runtime.GOMAXPROCS(0)
	f := &Frames{
		w:        w,
		encoders: map[int]*zstd.Encoder{},
		adaptive: level == backup.LevelAdaptive,
		floor:    level,
		ceiling:  level,
		jobs:     make(chan *frame, workers),
		// one frame filling, one per worker, one being written
		free:     make(chan *frame, workers+2),
		order:    make(chan *frame, workers+2),
		done:     make(chan struct{}),
		perLevel: map[int]int{},
	}
	if f.adaptive {
		f.floor, f.ceiling = backup.AdaptiveFloor, backup.AdaptiveCeiling
	}
	f.level = f.ceiling
	for l := f.floor; l <= f.ceiling; l++ {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(l)),
			zstd.WithEncoderConcurrency(workers), zstd.WithWindowSize(FrameSize))
		if err != nil {
			return nil, err
		}
		f.encoders[l] = enc
	}
	f.workers.Add(workers)
	for range workers {
		go f.encode()
	}
	go f.write()
	f.cur = f.newFrame()
	return f, nil
}

func (f *Frames) newFrame() *frame {
	f.made++
	return &frame{in: make([]byte, 0, FrameSize), encoded: make(chan struct{}, 1)}
}

func (f *Frames) encode() {
	defer f.workers.Done()
	for fr := range f.jobs {
		start := time.Now()
		fr.out = f.encoders[fr.level].EncodeAll(fr.in, fr.out[:0])
		f.busy.Add(int64(time.Since(start)))
		f.pending.Add(-1)
		fr.encoded <- struct{}{}
	}
}

// write writes the encoded frames in order; after an error it only
// recycles them.
func (f *Frames) write() {
	defer close(f.done)
	for fr := range f.order {
		<-fr.encoded
		if f.err.Load() == nil {
			if _, err := f.w.Write(fr.out); err != nil {
				f.fail(err)
			}
		}
		fr.in = fr.in[:0]
		f.free <- fr
	}
}

func (f *Frames) fail(err error) { f.err.CompareAndSwap(nil, &err) }

func (f *Frames) failed() error {
	if p := f.err.Load(); p != nil {
		return *p
	}
	return nil
}

func (f *Frames) Write(p []byte) (int, error) {
	if f.closed {
		return 0, errors.New("compress: write after close")
	}
	n := len(p)
	for len(p) > 0 {
		if err := f.failed(); err != nil {
			return n - len(p), err
		}
		k := copy(f.cur.in[len(f.cur.in):cap(f.cur.in)], p)
		f.cur.in = f.cur.in[:len(f.cur.in)+k]
		p = p[k:]
		if len(f.cur.in) == cap(f.cur.in) {
			f.submit()
			f.next()
		}
	}
	return n, nil
}

// submit hands the filled frame to the encoders and the writer.
func (f *Frames) submit() {
	fr := f.cur
	fr.level = f.level
	f.perLevel[fr.level]++
	f.pending.Add(1)
	f.order <- fr
	f.jobs <- fr
	f.cur = nil
}

// next takes a free frame for the dump to fill, allocating up to the
// pool's size, and moves the level by what waiting for it showed.
func (f *Frames) next() {
	select {
	case fr := <-f.free:
		f.cur = fr
	default:
		if f.made < cap(f.free) {
			f.cur = f.newFrame()
		} else {
			// Every frame is in flight: the dump waits.
			encoderBound := f.pending.Load() > 0
			f.cur = <-f.free
			f.adapt(true, encoderBound)
			return
		}
	}
	f.adapt(false, false)
}

func (f *Frames) adapt(waited, encoderBound bool) {
	if !f.adaptive {
		return
	}
	switch {
	case waited && encoderBound:
		f.calm = 0
		if f.level > f.floor {
			f.level--
			f.lowered++
		}
	case waited:
		// The encoders kept up; what is behind them is slow.
		f.calm = 0
		f.up()
	default:
		f.calm++
		if f.calm >= raiseAfter {
			f.calm = 0
			f.up()
		}
	}
}

func (f *Frames) up() {
	if f.level < f.ceiling {
		f.level++
		f.raised++
	}
}

// Close compresses what is left, waits for every frame to be written and
// releases the encoders. It does not close the underlying writer.
func (f *Frames) Close() error {
	if f.closed {
		return f.failed()
	}
	f.closed = true
	if len(f.cur.in) > 0 || len(f.perLevel) == 0 {
		f.submit() // an empty input is still one (empty) frame
	}
	close(f.jobs)
	close(f.order)
	<-f.done
	f.workers.Wait()
	for _, enc := range f.encoders {
		enc.Close()
	}
	return f.failed()
}

// Busy is the time the workers spent encoding, summed over them: more
// than the wall time when several cores worked at once.
func (f *Frames) Busy() time.Duration { return time.Duration(f.busy.Load()) }

// Summary says which levels the frames used and, when adaptive, why.
func (f *Frames) Summary() string {
	var parts []string
	total := 0
	for l := 1; l <= 22; l++ {
		if n := f.perLevel[l]; n > 0 {
			parts = append(parts, fmt.Sprintf("level %d × %d", l, n))
			total += n
		}
	}
	s := fmt.Sprintf("zstd, %d frame(s) of up to %d KiB on %d worker(s): %s", total, FrameSize>>10, cap(f.jobs), strings.Join(parts, ", "))
	if f.adaptive {
		s += fmt.Sprintf("; adaptive %d..%d: lowered %d time(s) when the dump waited for the compressor, raised %d time(s) when it had room",
			f.floor, f.ceiling, f.lowered, f.raised)
	}
	return s
}
