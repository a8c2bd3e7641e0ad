package compress

import (
	"bytes"
	"io"
	"testing"

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
