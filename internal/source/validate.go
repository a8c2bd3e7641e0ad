package source

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/source/dbtar"
)

// Report is what a validator proved about one database's dump.
type Report struct {
	Counts  backup.Counts
	Summary string // what was seen, in words, for the log and the sidecar
}

// Validator reads one database's dump in its engine's format as it
// streams and returns nil only if the dump is whole: a tool can exit 0
// after writing part of its output. It counts what the dump holds. It
// reads to the end; bytes after the format's end are an error.
type Validator func(r io.Reader) (Report, error)

// Validators are the validators by data format (Plan.Format).
type Validators map[string]Validator

// Validation is what validating a whole planned dump found.
type Validation struct {
	Contents backup.Contents
	Summary  string
}

// Validate reads the dump of plan p: one database's dump in its format, or
// the tar of several, each member by its own format's validator and the
// manifest against what arrived. Every table the plan announced must be
// in the dump. There is no dump without a validator.
func (v Validators) Validate(p Plan, r io.Reader) (Validation, error) {
	var out Validation
	if p.Format == "tar" {
		res, err := v.validateTar(r, p)
		if err != nil {
			return out, err
		}
		out = res
	} else {
		fn, ok := v[p.Format]
		if !ok {
			return out, fmt.Errorf("no validator for the data format %q", p.Format)
		}
		if len(p.Databases) != 1 {
			return out, fmt.Errorf("a %s dump holds one database, the plan has %d", p.Format, len(p.Databases))
		}
		rep, err := fn(r)
		if err != nil {
			return out, err
		}
		out = Validation{Contents: backup.Contents{p.Databases[0]: rep.Counts}, Summary: rep.Summary}
	}
	return out, checkPlanned(p, out.Contents)
}

func (v Validators) validateTar(r io.Reader, p Plan) (Validation, error) {
	tr, err := dbtar.NewReader(r)
	if err != nil {
		return Validation{}, fmt.Errorf("dump is damaged: %w", err)
	}
	m := tr.Manifest()
	names := make([]string, len(m.Databases))
	for i, db := range m.Databases {
		names[i] = db.Name
	}
	if !slices.Equal(names, p.Databases) {
		return Validation{}, fmt.Errorf("dump is damaged: the tar's manifest lists %v, the plan %v", names, p.Databases)
	}
	out := Validation{Contents: backup.Contents{}}
	var parts []string
	for i := 0; ; i++ {
		db, dr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Validation{}, fmt.Errorf("dump ended early: %d of the %d databases the manifest lists arrived whole: %w", i, len(m.Databases), err)
		}
		fn, ok := v[db.Format]
		if !ok {
			return Validation{}, fmt.Errorf("no validator for the data format %q of database %s", db.Format, db.Name)
		}
		rep, err := fn(dr)
		if err != nil {
			return Validation{}, fmt.Errorf("database %s: %w", db.Name, err)
		}
		if n, _ := io.Copy(io.Discard, dr); n > 0 {
			return Validation{}, fmt.Errorf("database %s: %d bytes follow the end of its dump", db.Name, n)
		}
		out.Contents[db.Name] = rep.Counts
		parts = append(parts, db.Name+": "+rep.Summary)
	}
	out.Summary = fmt.Sprintf("tar of %d databases, each whole (%s)", len(m.Databases), strings.Join(parts, "; "))
	return out, nil
}

// checkPlanned fails when a table the plan announced is not in the dump.
func checkPlanned(p Plan, c backup.Contents) error {
	for _, db := range p.Databases {
		for _, table := range p.Tables[db] {
			if _, ok := c[db][table]; !ok {
				return fmt.Errorf("dump is incomplete: table %s of database %s existed when the dump started and is not in it", table, db)
			}
		}
	}
	return nil
}
