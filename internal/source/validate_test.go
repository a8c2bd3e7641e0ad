package source_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/source"
	"github.com/dbackup/dbackup/internal/source/all"
)

// A tar of several databases is whole only if every member is whole by its
// own format's validator and the manifest lists exactly what arrived.
func TestValidateManyDatabases(t *testing.T) {
	t.Parallel()
	dump, err := os.ReadFile("postgres/testdata/small.dump")
	if err != nil {
		t.Fatal(err)
	}
	p := source.Plan{Databases: []string{"shop", "crm"}, Format: "tar"}
	var buf bytes.Buffer
	err = source.DumpMany(context.Background(), &buf, "postgres", p, "dump", "pg_custom", func(_ context.Context, db string, w io.Writer) error {
		_, err := w.Write(dump)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	whole := bytes.Clone(buf.Bytes())
	v := all.Validators()
	res, err := v.Validate(p, bytes.NewReader(whole))
	if err != nil {
		t.Fatal(err)
	}
	if res.Contents["shop"]["public.a"] != 5 || res.Contents["crm"]["s2.b"] != 3 || !strings.Contains(res.Summary, "2 databases") {
		t.Fatalf("validation %+v", res)
	}
	for n := 0; n < len(whole); n += 7 {
		if _, err := v.Validate(p, bytes.NewReader(whole[:n])); err == nil {
			t.Fatalf("a tar cut after %d of %d bytes passed", n, len(whole))
		}
	}
	// The manifest must list what the plan asked for.
	if _, err := v.Validate(source.Plan{Databases: []string{"shop"}, Format: "tar"}, bytes.NewReader(whole)); err == nil {
		t.Fatal("a tar with another database than planned passed")
	}
	// A member whose own dump was cut fails, though the tar is whole.
	buf.Reset()
	source.DumpMany(context.Background(), &buf, "postgres", p, "dump", "pg_custom", func(_ context.Context, db string, w io.Writer) error {
		if db == "crm" {
			_, err := w.Write(dump[:len(dump)/2])
			return err
		}
		_, err := w.Write(dump)
		return err
	})
	if _, err := v.Validate(p, bytes.NewReader(buf.Bytes())); err == nil || !strings.Contains(err.Error(), "database crm") {
		t.Fatalf("a tar with a cut member: %v", err)
	}
	// Tables the plan announced must be in the dump.
	p.Tables = map[string][]string{"shop": {"public.a", "public.gone"}}
	if _, err := v.Validate(p, bytes.NewReader(whole)); err == nil || !strings.Contains(err.Error(), "public.gone") {
		t.Fatalf("a table missing from the dump: %v", err)
	}
}
