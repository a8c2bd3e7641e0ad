package sourcetest

import (
	"bytes"
	"maps"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/source"
)

// validate runs v over b and reports what it left unread.
func validate(v source.Validator, b []byte) (source.Report, int, error) {
	r := bytes.NewReader(b)
	rep, err := v(r)
	return rep, r.Len(), err
}

// Validator is the suite every dump validator passes on a small real dump
// of its format: the whole dump passes with the counts expected (nil: not
// compared) and leaves nothing unread; every prefix of it fails, saying the
// dump ended early or is damaged; bytes after its end are noticed (by the
// validator, or left unread for the pipeline to refuse).
func Validator(t *testing.T, v source.Validator, whole []byte, want backup.Counts) {
	t.Helper()
	rep, left, err := validate(v, whole)
	if err != nil {
		t.Fatalf("the whole dump is refused: %v", err)
	}
	if left != 0 {
		t.Fatalf("the validator stopped %d bytes before the end of a whole dump", left)
	}
	if rep.Summary == "" {
		t.Fatal("no summary")
	}
	if want != nil && !maps.Equal(rep.Counts, want) {
		t.Fatalf("counts %v, want %v", rep.Counts, want)
	}
	for n := 0; n < len(whole); n++ {
		_, _, err := validate(v, whole[:n])
		if err == nil {
			t.Fatalf("the dump cut after %d of %d bytes passed", n, len(whole))
		}
		if msg := err.Error(); !strings.Contains(msg, "ended early") && !strings.Contains(msg, "damaged") && !strings.Contains(msg, "cut") {
			t.Fatalf("cut after %d bytes: the error does not say the dump is incomplete: %v", n, err)
		}
	}
	for _, tail := range []string{"x", "\n-- more", strings.Repeat("\x00", 1024) + "y"} {
		if _, left, err := validate(v, append(bytes.Clone(whole), tail...)); err == nil && left == 0 {
			t.Fatalf("%q after the end of the dump went unnoticed", tail)
		}
	}
}

// FuzzValidator feeds a validator arbitrary input: it must not panic nor
// hang, and whatever it accepts it must count sanely.
func FuzzValidator(f *testing.F, v source.Validator, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
		f.Add(s[:len(s)/2])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, _, err := validate(v, b)
		if err != nil {
			return
		}
		for name, n := range rep.Counts {
			if n < 0 {
				t.Fatalf("negative count %d for %s", n, name)
			}
		}
	})
}
