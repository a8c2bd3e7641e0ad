package mongodb

import (
	"bytes"
	"encoding/binary"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/source/sourcetest"
)

// A native dump of a real (FerretDB) database: every prefix fails, the
// whole passes with each collection's documents counted.
func TestValidateNativeDump(t *testing.T) {
	f := newFixture(t, 12)
	_, dump := f.dump(t, f.db)
	sourcetest.Validator(t, ValidateTar, dump, backup.Counts{"people": 12, "events": 5, "empty": 0})
}

// archive builds a mongodump archive as mongodump writes it: magic, header,
// prelude (one document per collection, then a terminator), then per
// collection a namespace header, its documents and a terminator, and an
// EOF namespace header with a terminator.
func archive(t *testing.T, colls map[string]int, cutEOF string) []byte {
	var b bytes.Buffer
	doc := func(v any) {
		raw, err := bson.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(raw)
	}
	term := func() { binary.Write(&b, binary.LittleEndian, uint32(archiveTerminator)) }
	b.Write(archiveMagic)
	doc(bson.D{{Key: "concurrent_collections", Value: int32(4)}, {Key: "version", Value: "0.1"}})
	names := []string{"a", "b"}
	for _, c := range names {
		doc(bson.D{{Key: "db", Value: "shop"}, {Key: "collection", Value: c}, {Key: "metadata", Value: "{}"}, {Key: "size", Value: int32(0)}, {Key: "type", Value: "collection"}})
	}
	term()
	for _, c := range names {
		doc(bson.D{{Key: "db", Value: "shop"}, {Key: "collection", Value: c}, {Key: "EOF", Value: false}, {Key: "CRC", Value: int64(0)}})
		for i := range colls[c] {
			doc(bson.D{{Key: "_id", Value: int32(i)}, {Key: "s", Value: "x"}})
		}
		term()
		if c == cutEOF {
			continue
		}
		doc(bson.D{{Key: "db", Value: "shop"}, {Key: "collection", Value: c}, {Key: "EOF", Value: true}, {Key: "CRC", Value: int64(7)}})
		term()
	}
	return b.Bytes()
}

func TestValidateArchive(t *testing.T) {
	t.Parallel()
	sourcetest.Validator(t, ValidateArchive, archive(t, map[string]int{"a": 3, "b": 2}, ""), backup.Counts{"a": 3, "b": 2})
	if _, err := ValidateArchive(bytes.NewReader(archive(t, map[string]int{"a": 3, "b": 2}, "b"))); err == nil {
		t.Fatal("an archive whose collection never ended passed")
	}
}

func FuzzValidateArchive(f *testing.F) {
	f.Add([]byte{0x6d, 0xe2, 0x99, 0x81, 5, 0, 0, 0, 0})
	sourcetest.FuzzValidator(f, ValidateArchive)
}
