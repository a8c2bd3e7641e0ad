package postgres

import (
	"bytes"
	"os"
	"testing"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/source/sourcetest"
)

// testdata/small.dump is `pg_dump -Fc -Z0` (PostgreSQL 15) of a database
// with rows holding newlines, an odd table name, an empty table, a second
// schema, a sequence, a materialized view and a large object.
func smallDump(t testing.TB) []byte {
	b, err := os.ReadFile("testdata/small.dump")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidateSmallDump(t *testing.T) {
	t.Parallel()
	sourcetest.Validator(t, Validate, smallDump(t), backup.Counts{
		"public.a": 5, `public."We ird"`: 0, "public.empty": 0, "s2.b": 3, LargeObjects: 1,
	})
}

func TestValidateRefusesOtherFiles(t *testing.T) {
	t.Parallel()
	b := smallDump(t)
	for name, in := range map[string][]byte{
		"plain SQL":       []byte("--\n-- PostgreSQL database dump\n--\n"),
		"tar format":      append([]byte("PGDMP"), 1, 14, 0, 4, 8, 3),
		"newer archive":   append([]byte("PGDMP"), 1, 17, 0, 4, 8, 1),
		"data entry lost": b[:len(b)-1],
	} {
		if _, err := Validate(bytes.NewReader(in)); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func FuzzValidate(f *testing.F) {
	sourcetest.FuzzValidator(f, Validate, smallDump(f))
}
