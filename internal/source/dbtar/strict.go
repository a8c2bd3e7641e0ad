package dbtar

import (
	"archive/tar"
	"errors"
	"io"
)

// ErrNoEnd is a tar that stops without its end-of-archive marker.
var ErrNoEnd = errors.New("the tar ends without its end-of-archive marker: it was cut short")

// StrictReader is a tar.Reader that tells a whole tar from one cut short at
// a member boundary: archive/tar reports io.EOF for both, after its two
// zero blocks and when the input simply stops.
type StrictReader struct {
	*tar.Reader
	c       counter
	padding int64 // of the current member's data
	ended   bool  // the end-of-archive marker was read
}

// counter counts the bytes read, and how many of the last were zeros.
type counter struct {
	r     io.Reader
	n     int64
	zeros int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	i := n
	for i > 0 && p[i-1] == 0 {
		i--
	}
	if i == 0 {
		c.zeros += int64(n)
	} else {
		c.zeros = int64(n - i)
	}
	return n, err
}

// NewStrictReader reads a tar from r. archive/tar reads exactly the blocks
// it needs, so counting what it consumed tells whether it saw the marker.
func NewStrictReader(r io.Reader) *StrictReader {
	s := &StrictReader{c: counter{r: r}}
	s.Reader = tar.NewReader(&s.c)
	return s
}

// Next returns the next member's header, or io.EOF after a whole tar's
// end-of-archive marker (two zero blocks), or ErrNoEnd.
func (s *StrictReader) Next() (*tar.Header, error) {
	if s.ended {
		return nil, io.EOF
	}
	if _, err := io.Copy(io.Discard, s.Reader); err != nil {
		return nil, err
	}
	start := s.c.n
	h, err := s.Reader.Next()
	switch {
	case err == io.EOF && (s.c.n-start < s.padding+2*512 || s.c.zeros < 2*512):
		// The marker is two zero blocks, the last bytes read; anything
		// less (a cut after a member, or after a PAX header) is not it.
		return nil, ErrNoEnd
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, ErrNoEnd
	case err == io.EOF:
		s.ended = true
		return nil, io.EOF
	case err != nil:
		return nil, err
	}
	s.padding = (512 - h.Size%512) % 512
	return h, nil
}
