package sqlite

import (
	"bytes"
	"os"
	"testing"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/source/sourcetest"
)

// testdata/small.db is a VACUUM INTO snapshot with 512-byte pages: a
// rowid table of 300 rows (interior pages) with an index, a WITHOUT ROWID
// table of 300 rows (an index b-tree, rows in interior cells too), an empty
// table and a table with a space in its name.
func smallDB(t testing.TB) []byte {
	b, err := os.ReadFile("testdata/small.db")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidateSmallFile(t *testing.T) {
	t.Parallel()
	sourcetest.Validator(t, Validate, smallDB(t), backup.Counts{"a": 300, "w": 300, "e": 0, "odd name": 2})
}

func TestValidateDamagedTree(t *testing.T) {
	t.Parallel()
	b := bytes.Clone(smallDB(t))
	// Page 2 is the root of table a: make it something that is not a
	// b-tree page.
	b[512] = 0x42
	if _, err := Validate(bytes.NewReader(b)); err == nil {
		t.Fatal("a table whose root is not a b-tree page passed")
	}
}

func FuzzValidate(f *testing.F) {
	sourcetest.FuzzValidator(f, Validate, smallDB(f))
}
