// Package dbtar packs the dumps of several databases into one plain tar,
// streaming, with no temporary file: `manifest.json` comes first, then each
// database's dump as consecutive members `<file>.part000001`, `.part000002`…
// (a tar header needs the size up front, which a live dump does not know).
// Concatenating a file's parts in order gives the engine's own dump file.
package dbtar

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// ManifestName is the first member of every multi-database tar.
const ManifestName = "manifest.json"

// DefaultPartSize bounds the memory a part takes while it is filled.
const DefaultPartSize = 4 << 20

// Manifest describes the databases in the tar.
type Manifest struct {
	Version       int        `json:"version"`
	SourceType    string     `json:"source_type"`
	EngineVersion string     `json:"engine_version"`
	CreatedAt     time.Time  `json:"created_at"`
	PartSize      int        `json:"part_size"`
	Databases     []Database `json:"databases"`
}

// Database is one database's entry in the manifest.
type Database struct {
	Name   string `json:"name"`
	File   string `json:"file"`   // member name before the .partNNNNNN suffix
	Format string `json:"format"` // e.g. "pg_custom"
}

// Writer writes a multi-database tar.
type Writer struct {
	tw   *tar.Writer
	m    Manifest
	next int
	now  time.Time
	buf  []byte // the part being filled, reused from database to database
}

// NewWriter writes the manifest. Every database in it must then be written,
// in order, through Database.
func NewWriter(w io.Writer, m Manifest) (*Writer, error) {
	m.Version = 1
	if m.PartSize == 0 {
		m.PartSize = DefaultPartSize
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(w)
	now := m.CreatedAt
	if err := tw.WriteHeader(&tar.Header{Name: ManifestName, Mode: 0o600, Size: int64(len(b)), ModTime: now, Format: tar.FormatPAX}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(b); err != nil {
		return nil, err
	}
	return &Writer{tw: tw, m: m, now: now}, nil
}

// Database returns a writer for the next database in the manifest. Close it
// before starting the next one.
func (w *Writer) Database() (io.WriteCloser, error) {
	if w.next >= len(w.m.Databases) {
		return nil, errors.New("dbtar: more databases than the manifest lists")
	}
	db := w.m.Databases[w.next]
	w.next++
	if w.buf == nil {
		w.buf = make([]byte, 0, w.m.PartSize)
	}
	return &partWriter{w: w, file: db.File, buf: w.buf[:0]}, nil
}

// Close finishes the tar. It fails if a database of the manifest is missing.
func (w *Writer) Close() error {
	if w.next != len(w.m.Databases) {
		return fmt.Errorf("dbtar: %d of %d databases written", w.next, len(w.m.Databases))
	}
	return w.tw.Close()
}

type partWriter struct {
	w     *Writer
	file  string
	buf   []byte
	parts int
}

func (p *partWriter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		k := copy(p.buf[len(p.buf):cap(p.buf)], b)
		p.buf = p.buf[:len(p.buf)+k]
		b = b[k:]
		if len(p.buf) == cap(p.buf) {
			if err := p.flush(); err != nil {
				return n - len(b), err
			}
		}
	}
	return n, nil
}

func (p *partWriter) flush() error {
	p.parts++
	hdr := &tar.Header{Name: PartName(p.file, p.parts), Mode: 0o600, Size: int64(len(p.buf)), ModTime: p.w.now, Format: tar.FormatPAX}
	if err := p.w.tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := p.w.tw.Write(p.buf)
	p.buf = p.buf[:0]
	return err
}

// Close writes the last part; a database always has at least one part.
func (p *partWriter) Close() error {
	if len(p.buf) > 0 || p.parts == 0 {
		return p.flush()
	}
	return nil
}

// PartName names the n-th part (from 1) of a database file.
func PartName(file string, n int) string { return fmt.Sprintf("%s.part%06d", file, n) }

func splitPart(name string) (string, int, bool) {
	i := strings.LastIndex(name, ".part")
	if i < 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(name[i+5:])
	return name[:i], n, err == nil && n > 0
}

// Reader reads a multi-database tar written by Writer.
type Reader struct {
	tr      *StrictReader
	m       Manifest
	pending *tar.Header // first header of the next database
	index   int
	cur     *dbReader
}

// NewReader reads the manifest, which must be the first member.
func NewReader(r io.Reader) (*Reader, error) {
	tr := NewStrictReader(r)
	h, err := tr.Next()
	if err != nil {
		return nil, fmt.Errorf("not a multi-database tar: %w", err)
	}
	if h.Name != ManifestName || h.Size > 16<<20 {
		return nil, fmt.Errorf("not a multi-database tar: first member is %q, want %s", h.Name, ManifestName)
	}
	var m Manifest
	if err := json.NewDecoder(io.LimitReader(tr, h.Size)).Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	if m.Version != 1 {
		return nil, fmt.Errorf("manifest.json: version %d is not supported", m.Version)
	}
	return &Reader{tr: tr, m: m}, nil
}

// Manifest returns the manifest.
func (r *Reader) Manifest() Manifest { return r.m }

// Next returns the next database and a reader of its whole dump. The
// previous database's reader must have been read to the end (or discarded).
// It returns io.EOF after the last database.
func (r *Reader) Next() (Database, io.Reader, error) {
	if r.cur != nil {
		if _, err := io.Copy(io.Discard, r.cur); err != nil {
			return Database{}, nil, err
		}
	}
	if r.index >= len(r.m.Databases) {
		if h, err := r.nextHeader(); err != io.EOF {
			return Database{}, nil, fmt.Errorf("unexpected member %q after the last database: %v", name(h), err)
		}
		return Database{}, nil, io.EOF
	}
	db := r.m.Databases[r.index]
	r.index++
	h, err := r.nextHeader()
	if err != nil {
		return db, nil, fmt.Errorf("database %s: %w", db.Name, truncated(err))
	}
	if f, n, ok := splitPart(h.Name); !ok || f != db.File || n != 1 {
		return db, nil, fmt.Errorf("database %s: found member %q, want %s", db.Name, h.Name, PartName(db.File, 1))
	}
	r.cur = &dbReader{r: r, file: db.File, part: 1}
	return db, r.cur, nil
}

func (r *Reader) nextHeader() (*tar.Header, error) {
	if h := r.pending; h != nil {
		r.pending = nil
		return h, nil
	}
	return r.tr.Next()
}

type dbReader struct {
	r    *Reader
	file string
	part int
	done bool
}

func (d *dbReader) Read(p []byte) (int, error) {
	for !d.done {
		n, err := d.r.tr.Read(p)
		if err != nil && err != io.EOF {
			return n, err
		}
		if n > 0 {
			return n, nil // the end of a part is not the end of the file
		}
		// This part is exhausted: continue with the next part of the same file.
		h, err := d.r.tr.Next()
		if err == io.EOF {
			d.done = true
			break
		}
		if err != nil {
			return 0, err
		}
		f, n2, ok := splitPart(h.Name)
		if ok && f == d.file {
			if n2 != d.part+1 {
				return 0, fmt.Errorf("%s: part %d follows part %d", d.file, n2, d.part)
			}
			d.part = n2
			continue
		}
		d.r.pending = h
		d.done = true
	}
	return 0, io.EOF
}

func name(h *tar.Header) string {
	if h == nil {
		return ""
	}
	return h.Name
}

func truncated(err error) error {
	if err == io.EOF {
		return errors.New("the tar ends before this database")
	}
	return err
}
