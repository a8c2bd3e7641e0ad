package source

import (
	"errors"
	"io"
	"sync"
)

// spoolChunk is the unit a spool holds and hands on.
const spoolChunk = 256 << 10

// errSpoolClosed is what a dump writing into an abandoned spool gets.
var errSpoolClosed = errors.New("the backup stopped reading this database's dump")

// spool is a bounded in-memory pipe: one dump writes into it while the
// tar may still be busy with an earlier database, up to limit bytes, then
// the writer waits. drainTo hands everything on in order.
type spool struct {
	mu     sync.Mutex
	cond   sync.Cond
	chunks [][]byte
	free   *chunkPool
	size   int
	limit  int
	done   bool  // the dump returned
	err    error // and what it returned
	gone   bool  // the reader stopped
}

func newSpool(limit int, free *chunkPool) *spool {
	s := &spool{limit: limit, free: free}
	s.cond.L = &s.mu
	return s
}

// chunkPool keeps the chunks the spools of one dump have handed on, for
// the next database's spool: memory stays at what is in flight.
type chunkPool struct{ ch chan []byte }

func newChunkPool(n int) *chunkPool { return &chunkPool{ch: make(chan []byte, n)} }

func (p *chunkPool) get() []byte {
	select {
	case c := <-p.ch:
		return c[:0]
	default:
		return make([]byte, 0, spoolChunk)
	}
}

func (p *chunkPool) put(c []byte) {
	select {
	case p.ch <- c:
	default:
	}
}

func (s *spool) Write(p []byte) (int, error) {
	n := len(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(p) > 0 {
		for s.size >= s.limit && !s.gone {
			s.cond.Wait()
		}
		if s.gone {
			return n - len(p), errSpoolClosed
		}
		last := len(s.chunks) - 1
		if last < 0 || len(s.chunks[last]) == cap(s.chunks[last]) {
			s.chunks = append(s.chunks, s.free.get())
			last++
		}
		c := s.chunks[last]
		k := copy(c[len(c):cap(c)], p)
		s.chunks[last] = c[:len(c)+k]
		s.size += k
		p = p[k:]
		s.cond.Broadcast()
	}
	return n, nil
}

// finish records the dump's result.
func (s *spool) finish(err error) {
	s.mu.Lock()
	s.done, s.err = true, err
	s.cond.Broadcast()
	s.mu.Unlock()
}

// close abandons the spool: a dump still writing gets an error.
func (s *spool) close() {
	s.mu.Lock()
	s.gone = true
	s.chunks = nil
	s.cond.Broadcast()
	s.mu.Unlock()
}

// drainTo writes the dump to w as it comes, until the dump returned and
// everything was written; it returns the dump's error or w's.
func (s *spool) drainTo(w io.Writer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		for len(s.chunks) == 0 && !s.done {
			s.cond.Wait()
		}
		if len(s.chunks) == 0 {
			return s.err
		}
		c := s.chunks[0] // the writer starts a new chunk after this one
		s.chunks = s.chunks[1:]
		s.size -= len(c)
		s.cond.Broadcast()
		s.mu.Unlock()
		_, err := w.Write(c)
		s.mu.Lock()
		if err != nil {
			return err
		}
		s.free.put(c)
	}
}
