package mongodb

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/source"
	"github.com/dbackup/dbackup/internal/source/dbtar"
)

// ValidateTar reads a mongo_tar (the native dump of one database) as it
// streams and returns nil only if it is whole: the tar's end-of-archive
// marker, every collection's metadata followed by its documents (views have
// none), and each documents member exactly a sequence of whole BSON
// documents of the size the dumper wrote in its header. It counts the
// documents of each collection.
func ValidateTar(r io.Reader) (source.Report, error) {
	tr := dbtar.NewStrictReader(r)
	counts := backup.Counts{}
	var dir, pending string // pending: a collection whose documents are due
	views := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return source.Report{}, fmt.Errorf("dump ended early: after %d collections: %w", len(counts), err)
		}
		d, file := path.Split(h.Name)
		d = strings.TrimSuffix(d, "/")
		if dir == "" {
			dir = d
		}
		if d != dir || d == "" {
			return source.Report{}, fmt.Errorf("dump is damaged: member %q is not in the database's directory %q", h.Name, dir)
		}
		switch {
		case strings.HasSuffix(file, ".metadata.json"):
			if pending != "" {
				return source.Report{}, fmt.Errorf("dump is damaged: the documents of collection %s are missing", pending)
			}
			m, err := readMetadata(tr, h.Size)
			if err != nil {
				return source.Report{}, fmt.Errorf("dump is damaged: %s: %w", h.Name, err)
			}
			if m.Type == "view" {
				views++
				continue
			}
			pending = m.CollectionName
		case strings.HasSuffix(file, ".bson"):
			name, err := url.PathUnescape(strings.TrimSuffix(file, ".bson"))
			if err != nil || name != pending {
				return source.Report{}, fmt.Errorf("dump is damaged: documents %q without their collection's metadata", h.Name)
			}
			n, err := countDocuments(tr, h.Size)
			if err != nil {
				return source.Report{}, fmt.Errorf("collection %s: %w", name, err)
			}
			counts[name] = n
			pending = ""
		default:
			return source.Report{}, fmt.Errorf("dump is damaged: unexpected member %q", h.Name)
		}
	}
	switch {
	case dir == "":
		return source.Report{}, errors.New("dump is damaged: the tar holds no database")
	case pending != "":
		return source.Report{}, fmt.Errorf("dump ended early: the documents of collection %s are missing", pending)
	}
	return source.Report{Counts: counts, Summary: fmt.Sprintf("mongo_tar of database %s ends with the tar's end marker: %s, %d views, every document whole",
		dir, counts.Summary("collection", "documents"), views)}, nil
}

// countDocuments reads size bytes that must be whole BSON documents.
func countDocuments(r io.Reader, size int64) (int64, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, size), 256<<10)
	var n int64
	var off int64
	for off < size {
		head, err := br.Peek(4)
		if err != nil {
			return n, fmt.Errorf("dump ended early: a document is cut at byte %d of %d", off, size)
		}
		l := int64(binary.LittleEndian.Uint32(head))
		if l < 5 || l > maxDocument || off+l > size {
			return n, fmt.Errorf("dump is damaged: a document of %d bytes at byte %d of %d", l, off, size)
		}
		if _, err := br.Discard(int(l) - 1); err != nil {
			return n, fmt.Errorf("dump ended early: inside the document at byte %d of %d", off, size)
		}
		if last, err := br.ReadByte(); err != nil {
			return n, fmt.Errorf("dump ended early: inside the document at byte %d of %d", off, size)
		} else if last != 0 {
			return n, fmt.Errorf("dump is damaged: the document at byte %d does not end with its terminator", off)
		}
		off += l
		n++
	}
	return n, nil
}

// Archive terminator and the namespace header of a mongodump archive.
const archiveTerminator = 0xffffffff

type archiveNamespace struct {
	Database   string `bson:"db"`
	Collection string `bson:"collection"`
	EOF        bool   `bson:"EOF"`
	CRC        int64  `bson:"CRC"`
}

type archivePrelude struct {
	Database   string `bson:"db"`
	Collection string `bson:"collection"`
	Type       string `bson:"type"`
}

// ValidateArchive reads a mongodump archive as it streams and returns nil
// only if it is whole: the magic, the header, the prelude that lists the
// collections, and for every collection listed (not views) its documents
// ended by an EOF block; every document whole. It counts the documents.
func ValidateArchive(r io.Reader) (source.Report, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	magic := make([]byte, 4)
	if _, err := io.ReadFull(br, magic); err != nil {
		return source.Report{}, errors.New("dump ended early: inside the archive's magic number")
	}
	if string(magic) != string(archiveMagic) {
		return source.Report{}, errors.New("dump is damaged: it does not start with a mongodump archive's magic number")
	}
	if _, _, err := readDocument(br); err != nil { // the header
		return source.Report{}, fmt.Errorf("the archive header: %w", err)
	}
	want := map[string]bool{}
	for { // the prelude: one document per collection, then a terminator
		doc, end, err := readDocument(br)
		if err != nil {
			return source.Report{}, fmt.Errorf("the archive prelude: %w", err)
		}
		if end {
			break
		}
		var p archivePrelude
		if err := bson.Unmarshal(doc, &p); err != nil {
			return source.Report{}, fmt.Errorf("dump is damaged: the archive prelude: %w", err)
		}
		if p.Type != "view" && p.Collection != "" {
			want[p.Collection] = true
		}
	}
	counts, done := backup.Counts{}, map[string]bool{}
	for {
		if _, err := br.Peek(1); err == io.EOF {
			break
		}
		doc, end, err := readDocument(br)
		if err != nil || end {
			return source.Report{}, fmt.Errorf("dump is damaged: a namespace header was expected: %v", err)
		}
		var ns archiveNamespace
		if err := bson.Unmarshal(doc, &ns); err != nil {
			return source.Report{}, fmt.Errorf("dump is damaged: a namespace header: %w", err)
		}
		for {
			_, end, err := readDocument(br)
			if err != nil {
				return source.Report{}, fmt.Errorf("collection %s: %w", ns.Collection, err)
			}
			if end {
				break
			}
			if ns.EOF {
				return source.Report{}, fmt.Errorf("dump is damaged: documents after the end of collection %s", ns.Collection)
			}
			counts[ns.Collection]++
		}
		if ns.EOF {
			done[ns.Collection] = true
		}
	}
	for c := range want {
		if !done[c] {
			return source.Report{}, fmt.Errorf("dump ended early: collection %s never ended (%d of %d collections complete)", c, len(done), len(want))
		}
		counts[c] += 0
	}
	return source.Report{Counts: counts, Summary: fmt.Sprintf("mongodump archive with every collection ended: %s", counts.Summary("collection", "documents"))}, nil
}

// readDocument reads one BSON document, or the terminator (end).
func readDocument(br *bufio.Reader) (doc []byte, end bool, err error) {
	head, err := br.Peek(4)
	if err != nil {
		return nil, false, errors.New("dump ended early: inside the archive")
	}
	l := binary.LittleEndian.Uint32(head)
	if l == archiveTerminator {
		br.Discard(4)
		return nil, true, nil
	}
	if l < 5 || l > maxDocument {
		return nil, false, fmt.Errorf("dump is damaged: a document of %d bytes", l)
	}
	doc = make([]byte, l)
	if _, err := io.ReadFull(br, doc); err != nil {
		return nil, false, errors.New("dump ended early: inside a document")
	}
	if doc[l-1] != 0 {
		return nil, false, errors.New("dump is damaged: a document without its terminator")
	}
	return doc, false, nil
}
