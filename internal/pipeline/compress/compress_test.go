package compress

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
)

func TestRoundTripEveryAlgorithm(t *testing.T) {
	t.Parallel()
	plain := bytes.Repeat([]byte("row 42\tNULL\tünïcode\x00bytes\n"), 50000)
	for _, alg := range []backup.Compression{backup.CompressionNone, backup.CompressionGzip, backup.CompressionZstd, backup.CompressionBrotli} {
		for _, data := range [][]byte{nil, plain} {
			var buf bytes.Buffer
			w, err := NewWriter(alg, 0, &buf)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(data)
			if err := w.Close(); err != nil {
				t.Fatalf("%s close: %v", alg, err)
			}
			if alg != backup.CompressionNone && len(data) > 0 && buf.Len()*10 > len(data) {
				t.Errorf("%s: %d bytes compressed to %d; expected at least 10x on repetitive data", alg, len(data), buf.Len())
			}
			r, err := NewReader(alg, &buf)
			if err != nil {
				t.Fatalf("%s reader: %v", alg, err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: round trip differs (%d vs %d bytes), %v", alg, len(got), len(data), err)
			}
		}
	}
}

func TestRejectsBadLevel(t *testing.T) {
	t.Parallel()
	if _, err := NewWriter(backup.CompressionGzip, 12, io.Discard); err == nil {
		t.Fatal("gzip level 12 accepted")
	}
	if _, err := NewWriter("lz4", 0, io.Discard); err == nil {
		t.Fatal("unknown algorithm accepted")
	}
}

// mixed is compressible but not trivially so: several frames' worth.
func mixed(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%d\trow-%x\t%s\n", i, i*2654435761, strings.Repeat(string(rune('a'+i%26)), i%40))
	}
	return b.Bytes()[:n]
}

func TestFramesAreOneStreamAnyZstdReads(t *testing.T) {
	t.Parallel()
	plain := mixed(5*FrameSize + 12345)
	compress := func() []byte {
		var buf bytes.Buffer
		w, err := NewWriter(backup.CompressionZstd, 0, &buf)
		if err != nil {
			t.Fatal(err)
		}
		for p := plain; len(p) > 0; p = p[min(len(p), 100_000):] { // writes across frame boundaries
			if _, err := w.Write(p[:min(len(p), 100_000)]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if s := w.(*Frames).Summary(); !strings.Contains(s, "6 frame(s)") || !strings.Contains(s, "level 1 × 6") {
			t.Errorf("summary %q", s)
		}
		return buf.Bytes()
	}
	out := compress()
	if again := compress(); !bytes.Equal(out, again) {
		t.Fatal("a fixed level gave different output on the same input")
	}
	// The reference decoder reads the concatenated frames as one stream.
	cmd := exec.Command("zstd", "-d", "-c")
	cmd.Stdin = bytes.NewReader(out)
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("zstd -d: %v", err)
	}
	if !bytes.Equal(got, plain) {
		t.Fatalf("zstd -d gave %d bytes, want the %d written", len(got), len(plain))
	}
}

type failingWriter struct{ left int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.left < len(p) {
		return 0, errors.New("disk full")
	}
	f.left -= len(p)
	return len(p), nil
}

func TestFramesReportTheWritersError(t *testing.T) {
	t.Parallel()
	w, err := NewFrames(&failingWriter{left: 1000}, 1)
	if err != nil {
		t.Fatal(err)
	}
	plain := mixed(20 * FrameSize)
	var werr error
	for p := plain; len(p) > 0 && werr == nil; p = p[min(len(p), 1<<16):] {
		_, werr = w.Write(p[:min(len(p), 1<<16)])
	}
	if cerr := w.Close(); cerr == nil || cerr.Error() != "disk full" {
		t.Fatalf("close: %v", cerr)
	}
	if werr == nil || werr.Error() != "disk full" {
		t.Fatalf("writes went on after the writer failed: %v", werr)
	}
}

// slowWriter takes its time: the stage behind the compressor is the slow one.
type slowWriter struct{ bytes.Buffer }

func (s *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(20 * time.Millisecond)
	return s.Buffer.Write(p)
}

func TestAdaptiveLevel(t *testing.T) {
	t.Parallel()
	// A slow destination: the encoders wait on the writer, so the level
	// rises to the ceiling, and the mixed levels still read back.
	var out slowWriter
	w, err := NewWriter(backup.CompressionZstd, backup.LevelAdaptive, &out)
	if err != nil {
		t.Fatal(err)
	}
	plain := mixed(30 * FrameSize)
	w.Write(plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	s := w.(*Frames).Summary()
	if !strings.Contains(s, fmt.Sprintf("level %d × ", backup.AdaptiveCeiling)) || !strings.Contains(s, "adaptive 1..3") {
		t.Errorf("a slow writer did not raise the level: %s", s)
	}
	r, _ := NewReader(backup.CompressionZstd, &out.Buffer)
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("round trip: %d bytes, %v", len(got), err)
	}

	// The controller: waiting on busy encoders lowers the level to the
	// floor; a run of frames that find the encoders idle raises it.
	f := &Frames{adaptive: true, floor: 1, ceiling: 3, level: 3}
	for range 5 {
		f.adapt(true, true)
	}
	if f.level != 1 || f.lowered != 2 {
		t.Fatalf("level %d after waiting on the encoders (lowered %d)", f.level, f.lowered)
	}
	for range raiseAfter - 1 {
		f.adapt(false, false)
	}
	if f.level != 1 {
		t.Fatal("raised before a full run of idle frames")
	}
	f.adapt(false, false)
	f.adapt(true, false)
	if f.level != 3 || f.raised != 2 {
		t.Fatalf("level %d after idle encoders and a slow writer (raised %d)", f.level, f.raised)
	}
}
