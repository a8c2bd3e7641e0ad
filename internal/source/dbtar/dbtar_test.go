package dbtar

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"io"
	"testing"
)

func TestRoundTripAndPlainTar(t *testing.T) {
	t.Parallel()
	dumps := map[string][]byte{"a": make([]byte, 10), "b": make([]byte, 0), "c": make([]byte, 3*64+5)}
	for _, d := range dumps {
		rand.Read(d)
	}
	m := Manifest{SourceType: "postgres", PartSize: 64, Databases: []Database{{"a", "001-a.dump", "pg_custom"}, {"b", "002-b.dump", "pg_custom"}, {"c", "003-c.dump", "pg_custom"}}}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range m.Databases {
		dw, _ := w.Database()
		dw.Write(dumps[db.Name])
		if err := dw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// It is a plain tar with the manifest first.
	tr := tar.NewReader(bytes.NewReader(buf.Bytes()))
	if h, _ := tr.Next(); h.Name != ManifestName {
		t.Fatalf("first member %q", h.Name)
	}
	r, err := NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		db, dr, err := r.Next()
		if err == io.EOF {
			if i != 3 {
				t.Fatalf("read %d databases", i)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if db.Name == "b" {
			continue // skipped without reading: Next must discard it
		}
		got, err := io.ReadAll(dr)
		if err != nil || !bytes.Equal(got, dumps[db.Name]) {
			t.Fatalf("%s: %d bytes, %v", db.Name, len(got), err)
		}
	}
}

func TestMissingPartDetected(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	man := []byte(`{"version":1,"databases":[{"name":"a","file":"a.dump"}]}`)
	tw.WriteHeader(&tar.Header{Name: ManifestName, Size: int64(len(man)), Mode: 0o600})
	tw.Write(man)
	for _, n := range []int{1, 3} {
		tw.WriteHeader(&tar.Header{Name: PartName("a.dump", n), Size: 1, Mode: 0o600})
		tw.Write([]byte("x"))
	}
	tw.Close()
	r, _ := NewReader(&buf)
	_, dr, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(dr); err == nil {
		t.Fatal("a missing part was not detected")
	}
}

func TestEveryCutTarIsRefused(t *testing.T) {
	t.Parallel()
	m := Manifest{SourceType: "postgres", PartSize: 600, Databases: []Database{{"a", "001-a.dump", "pg_custom"}, {"b", "002-b.dump", "pg_custom"}}}
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, m)
	for range m.Databases {
		dw, _ := w.Database()
		dw.Write(bytes.Repeat([]byte("x"), 1000))
		dw.Close()
	}
	w.Close()
	whole := buf.Bytes()
	read := func(b []byte) error {
		r, err := NewReader(bytes.NewReader(b))
		if err != nil {
			return err
		}
		for {
			_, dr, err := r.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if _, err := io.Copy(io.Discard, dr); err != nil {
				return err
			}
		}
	}
	if err := read(whole); err != nil {
		t.Fatalf("whole tar: %v", err)
	}
	// Every cut, also at each member boundary and inside the end marker.
	for n := 0; n < len(whole); n++ {
		if err := read(whole[:n]); err == nil {
			t.Fatalf("a tar cut at byte %d of %d was read as whole", n, len(whole))
		}
	}
}
