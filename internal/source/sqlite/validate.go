package sqlite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/source"
)

// B-tree page types of the SQLite file format.
const (
	interiorIndex = 2
	interiorTable = 5
	leafIndex     = 10
	leafTable     = 13
)

// Validate reads a SQLite database file as it streams and returns nil only
// if it is whole: the header's magic, and exactly page size × page count
// bytes. On the way it notes every b-tree page (its type, its cells, its
// children) and reads the schema, so that at the end it counts each table's
// rows by walking its b-tree: leaf cells of a rowid table, every cell of a
// WITHOUT ROWID table. A table whose b-tree reaches a page that is not a
// b-tree page makes the file damaged.
func Validate(r io.Reader) (source.Report, error) {
	head := make([]byte, 100)
	if _, err := io.ReadFull(r, head); err != nil {
		return source.Report{}, errors.New("dump ended early: inside the SQLite header")
	}
	if string(head[:16]) != "SQLite format 3\x00" {
		return source.Report{}, errors.New("dump is damaged: it does not start with the SQLite header")
	}
	pageSize := int(binary.BigEndian.Uint16(head[16:]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return source.Report{}, fmt.Errorf("dump is damaged: page size %d", pageSize)
	}
	pages := int64(binary.BigEndian.Uint32(head[28:]))
	if pages == 0 || binary.BigEndian.Uint32(head[24:]) != binary.BigEndian.Uint32(head[92:]) {
		return source.Report{}, errors.New("dump is damaged: the header's page count is not valid (the file was not written by a complete SQLite transaction)")
	}
	if pages > 1<<31 {
		return source.Report{}, fmt.Errorf("dump is damaged: %d pages", pages)
	}
	t := &btrees{usable: pageSize - int(head[20]), kind: make([]byte, pages+1), cells: make([]uint16, pages+1),
		children: map[uint32][]uint32{}, wanted: map[uint32]bool{1: true}, roots: map[string]uint32{}}
	page := make([]byte, pageSize)
	copy(page, head)
	for pg := int64(1); pg <= pages; pg++ {
		start := 0
		if pg == 1 {
			start = 100
		}
		if _, err := io.ReadFull(r, page[start:]); err != nil {
			return source.Report{}, fmt.Errorf("dump ended early: at page %d of the %d the header announces (%d of %d bytes)", pg, pages, (pg-1)*int64(pageSize), pages*int64(pageSize))
		}
		t.page(uint32(pg), page)
	}
	return t.report(pages, pageSize)
}

type btrees struct {
	usable   int
	kind     []byte
	cells    []uint16
	children map[uint32][]uint32
	// The schema is the table b-tree rooted at page 1; its pages are read
	// as they pass. A schema page already passed when it is found
	// (possible only for schemas of hundreds of pages) leaves the rows
	// uncounted.
	wanted map[uint32]bool
	missed bool
	roots  map[string]uint32
}

func (t *btrees) page(pg uint32, p []byte) {
	off := 0
	if pg == 1 {
		off = 100
	}
	kind := p[off]
	if kind != interiorIndex && kind != interiorTable && kind != leafIndex && kind != leafTable {
		return
	}
	n := int(binary.BigEndian.Uint16(p[off+3:]))
	hdr := 8
	if kind == interiorIndex || kind == interiorTable {
		hdr = 12
	}
	if off+hdr+2*n > len(p) {
		return // not a b-tree page after all
	}
	t.kind[pg], t.cells[pg] = kind, uint16(n)
	var kids []uint32
	for i := 0; i < n; i++ {
		c := int(binary.BigEndian.Uint16(p[off+hdr+2*i:]))
		if c+4 > len(p) {
			t.kind[pg] = 0
			return
		}
		if hdr == 12 {
			kids = append(kids, binary.BigEndian.Uint32(p[c:]))
		} else if t.wanted[pg] && kind == leafTable {
			t.schemaRow(p, c)
		}
	}
	if hdr == 12 {
		kids = append(kids, binary.BigEndian.Uint32(p[off+8:]))
		t.children[pg] = kids
		if t.wanted[pg] {
			for _, k := range kids {
				if k <= pg {
					t.missed = true
				}
				t.wanted[k] = true
			}
		}
	}
}

// varint reads SQLite's big-endian variable-length integer.
func varint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < 9 && i < len(b); i++ {
		if i == 8 {
			return v<<8 | uint64(b[i]), 9
		}
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// schemaRow reads type, name and root page of a sqlite_schema row from the
// cell at c, as far as the page holds it.
func (t *btrees) schemaRow(p []byte, c int) {
	size, n := varint(p[c:])
	if n == 0 {
		return
	}
	c += n
	if _, n = varint(p[c:]); n == 0 { // rowid
		return
	}
	c += n
	local := int(size)
	if x := t.usable - 35; local > x {
		m := (t.usable-12)*32/255 - 23
		local = m + int(size-uint64(m))%(t.usable-4)
		if local > x {
			local = m
		}
	}
	rec := p[c:min(len(p), c+local)]
	hsize, n := varint(rec)
	if n == 0 || int(hsize) > len(rec) {
		return
	}
	var types []uint64
	for i := n; i < int(hsize) && len(types) < 4; {
		st, k := varint(rec[i:])
		if k == 0 {
			return
		}
		types, i = append(types, st), i+k
	}
	if len(types) < 4 {
		return
	}
	vals := rec[hsize:]
	field := func(st uint64) ([]byte, bool) {
		var l int
		switch {
		case st >= 12:
			l = int(st-12) / 2
		case st >= 1 && st <= 6:
			l = []int{0, 1, 2, 3, 4, 6, 8}[st]
		case st == 7:
			l = 8
		}
		if l > len(vals) {
			return nil, false
		}
		v := vals[:l]
		vals = vals[l:]
		return v, true
	}
	typ, ok1 := field(types[0])
	name, ok2 := field(types[1])
	_, ok3 := field(types[2])
	rootb, ok4 := field(types[3])
	if !ok1 || !ok2 || !ok3 || !ok4 || string(typ) != "table" || types[3] < 1 || types[3] > 6 {
		return
	}
	var root uint64
	for _, b := range rootb {
		root = root<<8 | uint64(b)
	}
	if root > 0 {
		t.roots[string(name)] = uint32(root)
	}
}

// rows counts the rows of the b-tree rooted at pg.
func (t *btrees) rows(pg uint32, depth int) (int64, error) {
	if int(pg) >= len(t.kind) || pg == 0 || depth > 40 {
		return 0, fmt.Errorf("page %d is out of the file", pg)
	}
	switch t.kind[pg] {
	case leafTable:
		return int64(t.cells[pg]), nil
	case leafIndex:
		return int64(t.cells[pg]), nil
	case interiorTable, interiorIndex:
		var n int64
		if t.kind[pg] == interiorIndex {
			n = int64(t.cells[pg]) // an index b-tree keeps entries in its interior cells too
		}
		for _, k := range t.children[pg] {
			c, err := t.rows(k, depth+1)
			if err != nil {
				return 0, err
			}
			n += c
		}
		return n, nil
	}
	return 0, fmt.Errorf("page %d is not a b-tree page", pg)
}

func (t *btrees) report(pages int64, pageSize int) (source.Report, error) {
	summary := fmt.Sprintf("SQLite file whole: %d pages of %d bytes", pages, pageSize)
	if t.missed {
		return source.Report{Counts: backup.Counts{}, Summary: summary + "; rows not counted (the schema's pages are out of order)"}, nil
	}
	counts := backup.Counts{}
	for name, root := range t.roots {
		n, err := t.rows(root, 0)
		if err != nil {
			return source.Report{}, fmt.Errorf("dump is damaged: table %s: %w", name, err)
		}
		counts[name] = n
	}
	return source.Report{Counts: counts, Summary: summary + ", " + counts.Summary("table", "rows")}, nil
}
