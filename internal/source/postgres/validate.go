package postgres

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/source"
)

// The custom format's archive versions this validator reads: 1.12
// (PostgreSQL 9.0) to 1.16 (PostgreSQL 17 and 18).
const (
	minArchive = 1<<16 | 12<<8
	maxArchive = 1<<16 | 16<<8 | 255
)

// Block types and data offset states of the custom format.
const (
	blockData    = 1
	blockBlobs   = 3
	offsetNoData = 3
)

// LargeObjects is the count of large objects in a dump's counts.
const LargeObjects = "pg_largeobject"

// Validate reads a pg_dump custom-format archive as it streams and returns
// nil only if it is whole: the header, the table of contents, every data
// entry the table of contents announces (table data, large objects) with
// its end marker, and nothing after the last one, which is where the format
// ends when pg_dump writes to a pipe. It counts the rows of each table's
// COPY data (one line per row) and the large objects.
func Validate(r io.Reader) (source.Report, error) {
	a := &archive{r: bufio.NewReaderSize(r, 256<<10), where: "the archive header"}
	if err := a.header(); err != nil {
		return source.Report{}, err
	}
	if err := a.toc(); err != nil {
		return source.Report{}, err
	}
	if err := a.data(); err != nil {
		return source.Report{}, err
	}
	return a.report(), nil
}

type archive struct {
	r       *bufio.Reader
	version int
	intSize int
	offSize int
	// compressed data can be framed but not counted: dbackup's pg_dump
	// never compresses (--compress=0), so this is a foreign archive.
	compressed bool
	pgVersion  string
	entries    map[int]*dataEntry // the data entries the TOC announces
	tocRead    bool
	announced  int
	complete   int
	last       string // the last complete data entry
	where      string // what is being read, for errors
}

type dataEntry struct {
	desc, name string
	done       bool
	rows       int64
}

func (e *dataEntry) label() string {
	switch e.desc {
	case "TABLE DATA":
		return e.name
	case "BLOBS":
		return "the large objects"
	}
	return strings.ToLower(e.desc) + " " + e.name
}

// early is the error for input that stops inside a structure.
func (a *archive) early(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		last := "none did"
		if a.last != "" {
			last = "the last was " + a.last
		}
		if !a.tocRead {
			return fmt.Errorf("dump ended early: inside %s", a.where)
		}
		return fmt.Errorf("dump ended early: inside %s; the archive's table of contents announces %d data entries, %d arrived complete (%s)",
			a.where, a.announced, a.complete, last)
	}
	return err
}

func (a *archive) damaged(format string, args ...any) error {
	return fmt.Errorf("dump is damaged: "+format+" (in %s)", append(args, a.where)...)
}

func (a *archive) byte1() (int, error) {
	b, err := a.r.ReadByte()
	if err != nil {
		return 0, a.early(io.ErrUnexpectedEOF)
	}
	return int(b), nil
}

// int reads pg_dump's integer: a sign byte, then intSize bytes, least
// significant first.
func (a *archive) int() (int64, error) {
	if b, err := a.r.Peek(1 + a.intSize); err == nil {
		var v uint64
		for i := a.intSize; i >= 1; i-- {
			v = v<<8 | uint64(b[i])
		}
		a.r.Discard(1 + a.intSize)
		if v > 1<<62 {
			return 0, a.damaged("integer out of range")
		}
		if b[0] != 0 {
			return -int64(v), nil
		}
		return int64(v), nil
	}
	sign, err := a.byte1()
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := 0; i < a.intSize; i++ {
		b, err := a.byte1()
		if err != nil {
			return 0, err
		}
		v |= uint64(b) << (8 * i)
	}
	if v > 1<<62 {
		return 0, a.damaged("integer out of range")
	}
	if sign != 0 {
		return -int64(v), nil
	}
	return int64(v), nil
}

// str reads a string: its length (-1 for NULL), then its bytes. Only
// strings up to keep bytes are returned; longer ones are skipped.
func (a *archive) str(keep int) (string, bool, error) {
	n, err := a.int()
	if err != nil {
		return "", false, err
	}
	if n < 0 {
		return "", false, nil
	}
	if n > 1<<30 {
		return "", false, a.damaged("a string of %d bytes", n)
	}
	if n > int64(keep) {
		_, err := a.consume(n, false, nil)
		return "", true, err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(a.r, b); err != nil {
		return "", false, a.early(err)
	}
	return string(b), true, nil
}

// consume reads n bytes, counting newlines when asked, and keeps the last
// few in tail when tail is not nil.
func (a *archive) consume(n int64, count bool, tail *[]byte) (lines int64, err error) {
	for n > 0 {
		buf, err := a.r.Peek(int(min(n, int64(a.r.Size()))))
		if len(buf) == 0 {
			return lines, a.early(err)
		}
		if count {
			lines += int64(bytes.Count(buf, []byte{'\n'}))
		}
		if tail != nil {
			*tail = append(*tail, buf[max(0, len(buf)-len(copyEnd)):]...)
			*tail = (*tail)[max(0, len(*tail)-len(copyEnd)):]
		}
		a.r.Discard(len(buf))
		n -= int64(len(buf))
	}
	return lines, nil
}

func (a *archive) header() error {
	magic := make([]byte, 5)
	if _, err := io.ReadFull(a.r, magic); err != nil {
		return a.early(err)
	}
	if string(magic) != "PGDMP" {
		return fmt.Errorf("dump is damaged: it does not start with a pg_dump archive header (PGDMP)")
	}
	var v [3]int
	for i := range v {
		b, err := a.byte1()
		if err != nil {
			return err
		}
		v[i] = b
	}
	a.version = v[0]<<16 | v[1]<<8 | v[2]
	if a.version < minArchive || a.version > maxArchive {
		return fmt.Errorf("pg_dump archive version %d.%d is not one this dbackup reads (1.12 to 1.16)", v[0], v[1])
	}
	var err error
	if a.intSize, err = a.byte1(); err != nil {
		return err
	}
	if a.offSize, err = a.byte1(); err != nil {
		return err
	}
	if a.intSize < 1 || a.intSize > 8 || a.offSize < 1 || a.offSize > 8 {
		return a.damaged("integer size %d, offset size %d", a.intSize, a.offSize)
	}
	format, err := a.byte1()
	if err != nil {
		return err
	}
	if format != 1 {
		return a.damaged("archive format %d is not the custom format", format)
	}
	if a.version >= 1<<16|15<<8 {
		algo, err := a.byte1()
		if err != nil {
			return err
		}
		a.compressed = algo != 0
	} else {
		level, err := a.int()
		if err != nil {
			return err
		}
		a.compressed = level != 0
	}
	for range 7 { // creation date
		if _, err := a.int(); err != nil {
			return err
		}
	}
	for i := range 3 { // database name, server version, pg_dump version
		s, _, err := a.str(1024)
		if err != nil {
			return err
		}
		if i == 1 {
			a.pgVersion = s
		}
	}
	return nil
}

// toc reads the table of contents and notes every entry that announces data.
func (a *archive) toc() error {
	a.where = "the table of contents"
	n, err := a.int()
	if err != nil {
		return err
	}
	if n < 0 || n > 1<<24 {
		return a.damaged("%d entries", n)
	}
	a.entries = map[int]*dataEntry{}
	for i := int64(0); i < n; i++ {
		a.where = fmt.Sprintf("entry %d of the table of contents's %d", i+1, n)
		id, err := a.int()
		if err != nil {
			return err
		}
		if id <= 0 || id > 1<<30 {
			return a.damaged("entry id %d", id)
		}
		if _, err := a.int(); err != nil { // had a data dumper
			return err
		}
		var tag, desc, namespace string
		// tableoid, oid, tag, desc
		for _, dst := range []*string{nil, nil, &tag, &desc} {
			s, _, err := a.str(1 << 16)
			if err != nil {
				return err
			}
			if dst != nil {
				*dst = s
			}
		}
		if _, err := a.int(); err != nil { // section
			return err
		}
		// definition, drop statement, COPY statement, namespace, tablespace, table access method
		fields := []*string{nil, nil, nil, &namespace, nil}
		if a.version >= 1<<16|14<<8 {
			fields = append(fields, nil)
		}
		for _, dst := range fields {
			s, _, err := a.str(1 << 16)
			if err != nil {
				return err
			}
			if dst != nil {
				*dst = s
			}
		}
		if a.version >= 1<<16|16<<8 {
			if _, err := a.int(); err != nil { // relkind
				return err
			}
		}
		for range 2 { // owner, "with oids"
			if _, _, err := a.str(1 << 16); err != nil {
				return err
			}
		}
		for { // dependencies, ended by NULL
			_, ok, err := a.str(64)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
		}
		state, err := a.byte1()
		if err != nil {
			return err
		}
		if state < 1 || state > 3 {
			return a.damaged("data offset state %d", state)
		}
		if _, err := a.consume(int64(a.offSize), false, nil); err != nil {
			return err
		}
		if state != offsetNoData {
			if _, dup := a.entries[int(id)]; dup {
				return a.damaged("entry id %d announced twice", id)
			}
			a.entries[int(id)] = &dataEntry{desc: desc, name: TableKey(namespace, tag)}
			a.announced++
		}
	}
	return nil
}

// data reads the data blocks up to the end of the input.
func (a *archive) data() error {
	a.where, a.tocRead = "the data after the table of contents", true
	for {
		kind, err := a.r.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if kind != blockData && kind != blockBlobs {
			return a.damaged("unknown block type %d", kind)
		}
		id, err := a.int()
		if err != nil {
			return err
		}
		e := a.entries[int(id)]
		switch {
		case e == nil:
			return a.damaged("a data block for entry %d, which the table of contents does not announce", id)
		case e.done:
			return a.damaged("a second data block for %s", e.label())
		}
		a.where = "the data of " + e.label()
		if kind == blockBlobs {
			err = a.blobs(e)
		} else {
			err = a.chunks(e, e.desc == "TABLE DATA" && !a.compressed)
		}
		if err != nil {
			return err
		}
		e.done = true
		a.complete++
		a.last = e.label()
		a.where = "the data after " + e.label()
	}
	if a.complete < a.announced {
		return a.early(io.EOF)
	}
	return nil
}

// copyEnd ends the COPY data of every table in the archive: pg_dump writes
// the end-of-data marker and two blank lines after the last row.
var copyEnd = []byte("\\.\n\n\n")

// chunks reads length-prefixed chunks up to the zero length that ends
// them. Table data must end with the COPY end marker; its rows are its
// lines before the marker.
func (a *archive) chunks(e *dataEntry, tableData bool) error {
	var tail []byte // the last bytes read, for the end marker
	for {
		// pg_dump writes one small chunk per row: read the whole chunks
		// already buffered in one go.
		if done, err := a.bufferedChunks(e, tableData, &tail); err != nil || done {
			if err != nil {
				return err
			}
			break
		}
		n, err := a.int()
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		if n < 0 || n > 1<<30 {
			return a.damaged("a data chunk of %d bytes", n)
		}
		lines, err := a.consume(n, tableData, &tail)
		if err != nil {
			return err
		}
		e.rows += lines
	}
	if tableData && !a.compressed {
		if !bytes.Equal(tail, copyEnd) {
			return a.damaged("the table data does not end with COPY's end-of-data marker")
		}
		e.rows -= 3
	}
	return nil
}

// bufferedChunks reads the whole chunks (and the end marker) that are in
// the buffer; done says the end marker was among them.
func (a *archive) bufferedChunks(e *dataEntry, tableData bool, tail *[]byte) (done bool, err error) {
	buf, _ := a.r.Peek(a.r.Buffered())
	head := 1 + a.intSize
	off := 0
	for off+head <= len(buf) {
		var n int64
		for i := a.intSize; i >= 1; i-- {
			n = n<<8 | int64(buf[off+i])
		}
		if buf[off] != 0 || n > 1<<30 {
			break // the slow path reports it
		}
		if n == 0 {
			off += head
			done = true
			break
		}
		end := off + head + int(n)
		if end > len(buf) {
			break
		}
		data := buf[off+head : end]
		if tableData {
			e.rows += int64(bytes.Count(data, []byte{'\n'}))
			if len(data) >= len(copyEnd) {
				*tail = append((*tail)[:0], data[len(data)-len(copyEnd):]...)
			} else {
				*tail = append(*tail, data...)
				*tail = (*tail)[max(0, len(*tail)-len(copyEnd)):]
			}
		}
		off = end
	}
	a.r.Discard(off)
	return done, nil
}

// blobs reads large objects: an oid, its chunks, until the oid 0.
func (a *archive) blobs(e *dataEntry) error {
	for {
		oid, err := a.int()
		if err != nil {
			return err
		}
		if oid == 0 {
			return nil
		}
		if err := a.chunks(e, false); err != nil {
			return err
		}
		e.rows++
	}
}

func (a *archive) report() source.Report {
	counts := backup.Counts{}
	tables, blobs := 0, int64(0)
	for _, e := range a.entries {
		switch e.desc {
		case "TABLE DATA":
			if !a.compressed {
				counts[e.name] = e.rows
			}
			tables++
		case "BLOBS":
			blobs += e.rows
		}
	}
	if blobs > 0 {
		counts[LargeObjects] = blobs
	}
	summary := fmt.Sprintf("pg_dump custom archive %d.%d from PostgreSQL %s: all %d data entries complete, %d tables, %s rows, %d large objects",
		a.version>>16, a.version>>8&255, strings.Fields(a.pgVersion + " ?")[0], a.complete, tables, backup.Thousands(counts.Total()-blobs), blobs)
	if a.compressed {
		summary += " (compressed by pg_dump: rows not counted)"
	}
	return source.Report{Counts: counts, Summary: summary}
}

var plainIdent = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// TableKey names a table in counts: schema.table, each part double-quoted
// unless it is a plain lower-case identifier.
func TableKey(schema, table string) string {
	q := func(s string) string {
		if plainIdent.MatchString(s) {
			return s
		}
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return q(schema) + "." + q(table)
}
