package crypt

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

func seal(t testing.TB, key, plain []byte, chunk int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, key, chunk)
	if err != nil {
		t.Fatal(err)
	}
	// Write in odd pieces so chunk boundaries fall inside writes.
	for p := plain; len(p) > 0; {
		n := min(len(p), 7)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func open(key, sealed []byte) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(sealed), key)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestRoundTripSizes(t *testing.T) {
	t.Parallel()
	key := randBytes(KeySize)
	for _, chunk := range []int{1, 16, 64} {
		for _, size := range []int{0, 1, 15, 16, 17, 63, 64, 65, 128, 129, 1000} {
			plain := randBytes(size)
			sealed := seal(t, key, plain, chunk)
			chunks := max((size+chunk-1)/chunk, 1)
			if want := HeaderSize + size + chunks*tagSize; len(sealed) != want {
				t.Errorf("chunk %d size %d: sealed %d bytes, want %d", chunk, size, len(sealed), want)
			}
			got, err := open(key, sealed)
			if err != nil {
				t.Fatalf("chunk %d size %d: %v", chunk, size, err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("chunk %d size %d: plaintext differs", chunk, size)
			}
		}
	}
}

func TestWrongKey(t *testing.T) {
	t.Parallel()
	sealed := seal(t, randBytes(KeySize), []byte("secret rows"), 0)
	if _, err := open(randBytes(KeySize), sealed); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("wrong key: got %v, want ErrWrongKey", err)
	}
}

func TestEveryTruncationDetected(t *testing.T) {
	t.Parallel()
	key := randBytes(KeySize)
	sealed := seal(t, key, randBytes(200), 32)
	for n := 0; n < len(sealed); n++ {
		if _, err := open(key, sealed[:n]); err == nil {
			t.Fatalf("truncation to %d of %d bytes was not detected", n, len(sealed))
		}
	}
}

func TestEveryBitFlipDetected(t *testing.T) {
	t.Parallel()
	key := randBytes(KeySize)
	sealed := seal(t, key, randBytes(100), 32)
	for i := range sealed {
		for bit := 0; bit < 8; bit++ {
			c := bytes.Clone(sealed)
			c[i] ^= 1 << bit
			if _, err := open(key, c); err == nil {
				t.Fatalf("flip of bit %d in byte %d was not detected", bit, i)
			}
		}
	}
}

func TestReorderAndSwapDetected(t *testing.T) {
	t.Parallel()
	key := randBytes(KeySize)
	const chunk = 16
	a := seal(t, key, randBytes(64), chunk)
	b := seal(t, key, randBytes(64), chunk)
	c := chunk + tagSize
	// Swap chunks 0 and 1 of a.
	r := bytes.Clone(a)
	copy(r[HeaderSize:], a[HeaderSize+c:HeaderSize+2*c])
	copy(r[HeaderSize+c:], a[HeaderSize:HeaderSize+c])
	if _, err := open(key, r); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reordered chunks: got %v, want ErrCorrupt", err)
	}
	// Put chunk 1 of b (same key, other backup) into a.
	s := bytes.Clone(a)
	copy(s[HeaderSize+c:], b[HeaderSize+c:HeaderSize+2*c])
	if _, err := open(key, s); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("chunk from another backup: got %v, want ErrCorrupt", err)
	}
	// Drop the final chunk at a chunk boundary.
	if _, err := open(key, a[:len(a)-c]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("missing final chunk: got %v, want ErrCorrupt", err)
	}
	// Append a chunk after the final one.
	if _, err := open(key, append(bytes.Clone(a), a[HeaderSize:HeaderSize+c]...)); err == nil {
		t.Fatal("data after the final chunk was not detected")
	}
}

func TestNotContainer(t *testing.T) {
	t.Parallel()
	if _, err := open(randBytes(KeySize), []byte("PGDMP plain dump, not encrypted, long enough for a header ......................")); !errors.Is(err, ErrNotContainer) {
		t.Fatalf("got %v, want ErrNotContainer", err)
	}
}

// vector is one test vector of docs/format.md, also read by docs/decrypt.py.
type vector struct {
	Name      string `json:"name"`
	Key       string `json:"key"`
	Salt      string `json:"salt"`
	Prefix    string `json:"nonce_prefix"`
	ChunkSize int    `json:"chunk_size"`
	Plaintext string `json:"plaintext"`
	Container string `json:"container"`
}

func makeVectors(t *testing.T) []vector {
	seq := func(n int, start byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = start + byte(i)
		}
		return b
	}
	cases := []struct {
		name  string
		chunk int
		plain []byte
	}{
		{"empty", 16, nil},
		{"one chunk", 16, []byte("hello, dbackup")},
		{"exact chunks", 16, seq(32, 0x40)},
		{"partial last chunk", 16, seq(40, 0x20)},
	}
	var out []vector
	for _, c := range cases {
		key, salt, prefix := seq(32, 0x00), seq(32, 0x80), seq(7, 0xa0)
		var buf bytes.Buffer
		w, err := newWriter(&buf, key, c.chunk, salt, prefix)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(c.plain)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		out = append(out, vector{c.name, hex.EncodeToString(key), hex.EncodeToString(salt), hex.EncodeToString(prefix),
			c.chunk, hex.EncodeToString(c.plain), hex.EncodeToString(buf.Bytes())})
	}
	return out
}

func TestVectors(t *testing.T) {
	t.Parallel()
	got := makeVectors(t)
	path := "testdata/vectors.json"
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want []vector
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(got) {
		t.Fatalf("%d vectors, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("vector %q: writer output changed; the format is frozen", want[i].Name)
		}
		key, _ := hex.DecodeString(want[i].Key)
		sealed, _ := hex.DecodeString(want[i].Container)
		plain, err := open(key, sealed)
		if err != nil || hex.EncodeToString(plain) != want[i].Plaintext {
			t.Errorf("vector %q: reader gives %x, %v", want[i].Name, plain, err)
		}
	}
}

func FuzzReader(f *testing.F) {
	key := make([]byte, KeySize)
	for _, v := range makeVectors(&testing.T{}) {
		c, _ := hex.DecodeString(v.Container)
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), key)
		if err != nil {
			return
		}
		io.Copy(io.Discard, r)
	})
}
