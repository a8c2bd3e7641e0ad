// Package desttest is the conformance suite every destination must pass.
package desttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/dest"
)

// Options tune the suite to a backend's cost.
type Options struct {
	LargeSize   int64 // bytes of the large unknown-length stream
	ManyObjects int   // objects for the listing test (> 1000 proves pagination)
}

// Run runs the suite. newDest returns an empty destination.
func Run(t *testing.T, newDest func(t *testing.T) dest.Destination, opt Options) {
	ctx := context.Background()
	if opt.LargeSize == 0 {
		opt.LargeSize = 64 << 20
	}
	if opt.ManyObjects == 0 {
		opt.ManyObjects = 1001
	}

	t.Run("RoundTripSizes", func(t *testing.T) {
		d := newDest(t)
		for _, size := range []int64{0, 1, 1 << 20, opt.LargeSize} {
			key := fmt.Sprintf("job/obj-%d.bin", size)
			want := make([]byte, size)
			rand.Read(want)
			// A pipe hides the length, as a live dump does.
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(writeSlow(pw, want)) }()
			info, err := d.Put(ctx, key, pr)
			if err != nil {
				t.Fatalf("put %d bytes: %v", size, err)
			}
			if info.Size != size {
				t.Fatalf("put reported %d bytes, want %d", info.Size, size)
			}
			st, err := d.Stat(ctx, key)
			if err != nil || st.Size != size {
				t.Fatalf("stat: %+v, %v", st, err)
			}
			got := readAll(t, d, key)
			if !bytes.Equal(got, want) {
				t.Fatalf("read back %d bytes differ from the %d written", len(got), size)
			}
		}
	})

	t.Run("RangedRead", func(t *testing.T) {
		d := newDest(t)
		data := make([]byte, 1<<20+3)
		rand.Read(data)
		put(t, d, "j/r.bin", string(data))
		size := int64(len(data))
		for _, r := range [][2]int64{{0, 10}, {1000, 70000}, {size - 5, 100}, {size / 2, 0}, {0, size}} {
			rc, err := dest.OpenRange(ctx, d, "j/r.bin", r[0], r[1])
			if err != nil {
				t.Fatalf("range %v: %v", r, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			want := data[r[0]:min(size, r[0]+r[1])]
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("range %v: %d bytes (%v), want %d", r, len(got), err, len(want))
			}
		}
		if _, err := dest.OpenRange(ctx, d, "j/missing", 0, 1); !errors.Is(err, dest.ErrNotFound) {
			t.Fatalf("range of a missing object: %v", err)
		}
	})

	t.Run("FailedPutLeavesNothing", func(t *testing.T) {
		d := newDest(t)
		boom := errors.New("pg_dump killed")
		r := io.MultiReader(bytes.NewReader(make([]byte, 3<<20)), errReader{boom})
		if _, err := d.Put(ctx, "job/half.bin", r); err == nil {
			t.Fatal("put of a failing stream succeeded")
		}
		if objs, _ := d.List(ctx, ""); len(objs) != 0 {
			t.Fatalf("a failed put left %v", objs)
		}
		if _, err := d.Stat(ctx, "job/half.bin"); !errors.Is(err, dest.ErrNotFound) {
			t.Fatalf("stat after failed put: %v", err)
		}
	})

	t.Run("CancelledPutLeavesNothing", func(t *testing.T) {
		d := newDest(t)
		cctx, cancel := context.WithCancel(ctx)
		pr, pw := io.Pipe()
		go func() {
			pw.Write(make([]byte, 1<<20))
			cancel()
			pw.Write(make([]byte, 1<<20))
			pw.Close()
		}()
		if _, err := d.Put(cctx, "job/cancelled.bin", pr); err == nil {
			t.Fatal("put succeeded after cancel")
		}
		pr.Close()
		if objs, _ := d.List(ctx, ""); len(objs) != 0 {
			t.Fatalf("a cancelled put left %v", objs)
		}
	})

	t.Run("NoOverwrite", func(t *testing.T) {
		d := newDest(t)
		put(t, d, "a/x", "first")
		if _, err := d.Put(ctx, "a/x", bytes.NewReader([]byte("second"))); !errors.Is(err, dest.ErrExists) {
			t.Fatalf("second put: %v, want ErrExists", err)
		}
		if got := string(readAll(t, d, "a/x")); got != "first" {
			t.Fatalf("object became %q", got)
		}
	})

	t.Run("Replace", func(t *testing.T) {
		d := newDest(t)
		if _, err := d.Replace(ctx, "j/x.meta.json", bytes.NewReader([]byte("v1"))); err != nil {
			t.Fatalf("replace of a new key: %v", err)
		}
		if _, err := d.Replace(ctx, "j/x.meta.json", bytes.NewReader([]byte("version 2"))); err != nil {
			t.Fatalf("replace of an existing key: %v", err)
		}
		if got := string(readAll(t, d, "j/x.meta.json")); got != "version 2" {
			t.Fatalf("after replace: %q", got)
		}
		// A replace that fails midway leaves the old object intact.
		bad := io.MultiReader(bytes.NewReader([]byte("partial")), errReader{errors.New("boom")})
		if _, err := d.Replace(ctx, "j/x.meta.json", bad); err == nil {
			t.Fatal("a failing replace succeeded")
		}
		if got := string(readAll(t, d, "j/x.meta.json")); got != "version 2" {
			t.Fatalf("after a failed replace: %q", got)
		}
		if objs, _ := d.List(ctx, ""); len(objs) != 1 {
			t.Fatalf("a failed replace left %v", objs)
		}
	})

	t.Run("ListCompleteSortedAndPrefixed", func(t *testing.T) {
		d := newDest(t)
		var want []string
		for i := range opt.ManyObjects {
			k := fmt.Sprintf("job-a/%05d.dump", i)
			put(t, d, k, "x")
			want = append(want, k)
		}
		put(t, d, "job-b/other.dump", "y")
		objs, err := d.List(ctx, "job-a/")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range objs {
			got = append(got, o.Key)
		}
		sort.Strings(want)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("list gave %d keys, want %d in order", len(got), len(want))
		}
		all, _ := d.List(ctx, "")
		if len(all) != opt.ManyObjects+1 {
			t.Fatalf("full list has %d objects, want %d", len(all), opt.ManyObjects+1)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		d := newDest(t)
		put(t, d, "j/a", "1")
		if err := d.Delete(ctx, "j/a"); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Stat(ctx, "j/a"); !errors.Is(err, dest.ErrNotFound) {
			t.Fatalf("stat after delete: %v", err)
		}
		if err := d.Delete(ctx, "j/a"); !errors.Is(err, dest.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if _, err := d.Open(ctx, "j/missing"); !errors.Is(err, dest.ErrNotFound) {
			t.Fatalf("open missing: %v", err)
		}
	})

	t.Run("EscapingKeysRefused", func(t *testing.T) {
		d := newDest(t)
		for _, k := range []string{"../x", "a/../../x", "/etc/passwd", "a//b", "", "a/./b", `a\..\b`} {
			if _, err := d.Put(ctx, k, bytes.NewReader([]byte("x"))); !errors.Is(err, dest.ErrBadKey) {
				t.Errorf("put %q: %v, want ErrBadKey", k, err)
			}
			if _, err := d.Open(ctx, k); !errors.Is(err, dest.ErrBadKey) {
				t.Errorf("open %q: %v, want ErrBadKey", k, err)
			}
			if err := d.Delete(ctx, k); !errors.Is(err, dest.ErrBadKey) {
				t.Errorf("delete %q: %v, want ErrBadKey", k, err)
			}
		}
	})

	t.Run("CheckAndProbe", func(t *testing.T) {
		d := newDest(t)
		if err := d.Check(ctx); err != nil {
			t.Fatal(err)
		}
		if objs, _ := d.List(ctx, ""); len(objs) != 0 {
			t.Fatalf("the check wrote %v", objs)
		}
		if err := dest.Probe(ctx, d); err != nil {
			t.Fatal(err)
		}
		if objs, _ := d.List(ctx, ""); len(objs) != 0 {
			t.Fatalf("the write test left %v", objs)
		}
	})
}

func writeSlow(w io.Writer, b []byte) error {
	for len(b) > 0 {
		n := min(len(b), 100_003)
		if _, err := w.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func put(t *testing.T, d dest.Destination, key, body string) {
	t.Helper()
	if _, err := d.Put(context.Background(), key, bytes.NewReader([]byte(body))); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func readAll(t *testing.T, d dest.Destination, key string) []byte {
	t.Helper()
	rc, err := d.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}

// CheckFails asserts that d's connection check fails saying want.
func CheckFails(t *testing.T, d dest.Destination, want string) {
	t.Helper()
	err := d.Check(context.Background())
	d.Close()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("check: %v, want an error saying %q", err, want)
	}
}

// Full asserts that an upload larger than d's free space fails saying
// want and leaves nothing that lists or stats.
func Full(t *testing.T, d dest.Destination, size int, want string) {
	t.Helper()
	ctx := context.Background()
	_, err := d.Put(ctx, "job/too-big.bin", bytes.NewReader(make([]byte, size)))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("upload of %d bytes into a full destination: %v, want an error saying %q", size, err, want)
	}
	if objs, err := d.List(ctx, ""); err != nil || len(objs) != 0 {
		t.Fatalf("after a failed upload the destination lists %v (%v)", objs, err)
	}
	if _, err := d.Stat(ctx, "job/too-big.bin"); !errors.Is(err, dest.ErrNotFound) {
		t.Fatalf("stat after a failed upload: %v", err)
	}
}
