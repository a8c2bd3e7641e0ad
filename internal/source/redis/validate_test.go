package redis

import (
	"bytes"
	"encoding/binary"
	"os"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/source/sourcetest"
)

// testdata/redis7.rdb (redis-server 7.0, RDB 10) and valkey8.rdb
// (valkey-server 8.0, RDB 11) hold every value type in both its small
// (listpack) and large encodings, an LZF-compressed string, integers, keys
// with a TTL in seconds and in milliseconds, a stream with a consumer
// group and a pending entry, a second logical database and a function.
func rdbFile(t testing.TB, name string) []byte {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidateSnapshots(t *testing.T) {
	t.Parallel()
	want := backup.Counts{"db0": 17, "db0" + ExpiringSuffix: 2, "db3": 1}
	for _, name := range []string{"redis7.rdb", "valkey8.rdb"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sourcetest.Validator(t, Validate, rdbFile(t, name), want)
		})
	}
}

func TestValidateChecksum(t *testing.T) {
	t.Parallel()
	b := rdbFile(t, "redis7.rdb")
	// One flipped bit anywhere in the data fails the CRC-64.
	for _, at := range []int{20, len(b) / 2, len(b) - 10} {
		c := bytes.Clone(b)
		c[at] ^= 0x10
		if _, err := Validate(bytes.NewReader(c)); err == nil {
			t.Fatalf("a flipped bit at byte %d passed", at)
		}
	}
	// A server with rdbchecksum off writes zero: accepted, and said.
	c := bytes.Clone(b)
	binary.LittleEndian.PutUint64(c[len(c)-8:], 0)
	rep, err := Validate(bytes.NewReader(c))
	if err != nil || !strings.Contains(rep.Summary, "rdbchecksum no") {
		t.Fatalf("zero checksum: %v %q", err, rep.Summary)
	}
}

func FuzzValidate(f *testing.F) {
	sourcetest.FuzzValidator(f, Validate, rdbFile(f, "redis7.rdb"), rdbFile(f, "valkey8.rdb"))
}
