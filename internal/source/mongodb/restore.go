package mongodb

import (
	"archive/tar"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dbackup/dbackup/internal/source/dbtar"
)

// maxDocument bounds one document read from a dump (MongoDB's own limit is
// 16 MiB); anything larger is a corrupt file, not a document.
const maxDocument = 48 << 20

// Insert batches: whichever limit is reached first.
const (
	batchDocs  = 1000
	batchBytes = 8 << 20
)

// restoreDatabase reads a tar of mongorestore's layout for one database into
// db, whatever the database was called when dumped, each collection under
// its name after prefix. A collection's metadata comes before its
// documents; indexes are built after all documents.
func restoreDatabase(ctx context.Context, db *mongo.Database, r io.Reader, prefix string, log *slog.Logger) error {
	tr := dbtar.NewStrictReader(r)
	var (
		from    string              // the dumped database's directory
		created = map[string]bool{} // collections created from their metadata
		indexes = map[string][]bson.Raw{}
		order   []string
		docs    int
	)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read dump: %w", truncated(err))
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		dir, file := path.Split(path.Clean(h.Name))
		dir = strings.TrimSuffix(dir, "/")
		if dir == "" || strings.Contains(dir, "/") {
			continue // prelude.json and the like
		}
		if from == "" {
			from = dir
		} else if dir != from {
			return fmt.Errorf("the dump holds more than one database (%s and %s)", from, dir)
		}
		switch {
		case strings.HasSuffix(file, ".metadata.json"):
			meta, err := readMetadata(tr, h.Size)
			if err != nil {
				return fmt.Errorf("%s: %w", h.Name, err)
			}
			if err := createCollection(ctx, db, meta, prefix); err != nil {
				return err
			}
			created[meta.CollectionName] = true
			if meta.Type != "view" {
				indexes[meta.CollectionName] = meta.Indexes
				order = append(order, meta.CollectionName)
			}
		case strings.HasSuffix(file, ".bson"):
			name, err := url.PathUnescape(strings.TrimSuffix(file, ".bson"))
			if err != nil {
				return fmt.Errorf("%s: %w", h.Name, err)
			}
			if !created[name] {
				return fmt.Errorf("%s: documents come before the collection's metadata", h.Name)
			}
			n, err := insertAll(ctx, db.Collection(prefix+name), io.LimitReader(tr, h.Size), h.Size)
			if err != nil {
				return fmt.Errorf("restore collection %s.%s: %w", db.Name(), name, err)
			}
			log.Info(fmt.Sprintf("collection %s.%s: %d documents restored", db.Name(), name, n))
			docs += n
		}
	}
	if from == "" {
		return errors.New("the dump holds no database")
	}
	for _, name := range order {
		if err := createIndexes(ctx, db, prefix+name, indexes[name]); err != nil {
			return err
		}
	}
	log.Info(fmt.Sprintf("database %s restored from %s: %d collections, %d documents", db.Name(), from, len(created), docs))
	return nil
}

func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("the dump is truncated")
	}
	return err
}

func readMetadata(r io.Reader, size int64) (Metadata, error) {
	var m Metadata
	if size > 16<<20 {
		return m, errors.New("metadata too large")
	}
	b, err := io.ReadAll(io.LimitReader(r, size))
	if err != nil {
		return m, truncated(err)
	}
	if err := bson.UnmarshalExtJSON(b, false, &m); err != nil {
		return m, fmt.Errorf("not a collection's metadata: %w", err)
	}
	if m.CollectionName == "" {
		return m, errors.New("collection name missing")
	}
	if m.Type == "" {
		m.Type = "collection"
	}
	return m, nil
}

// createCollection creates the collection (or view) with its options under
// its name after prefix; a view reads the collection of the same prefix.
func createCollection(ctx context.Context, db *mongo.Database, m Metadata, prefix string) error {
	cmd := bson.D{{Key: "create", Value: prefix + m.CollectionName}}
	if len(m.Options) > 0 {
		elems, err := m.Options.Elements()
		if err != nil {
			return fmt.Errorf("options of %s: %w", m.CollectionName, err)
		}
		for _, e := range elems {
			v := e.Value()
			if on, ok := v.StringValueOK(); ok && e.Key() == "viewOn" {
				cmd = append(cmd, bson.E{Key: "viewOn", Value: prefix + on})
				continue
			}
			cmd = append(cmd, bson.E{Key: e.Key(), Value: v})
		}
	}
	if err := db.RunCommand(ctx, cmd).Err(); err != nil {
		return fmt.Errorf("create %s %s.%s: %w", m.Type, db.Name(), m.CollectionName, err)
	}
	return nil
}

// insertAll reads concatenated BSON documents and inserts them in batches.
func insertAll(ctx context.Context, c *mongo.Collection, r io.Reader, size int64) (int, error) {
	var (
		batch   []bson.Raw
		pending int
		n       int
		read    int64
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := c.InsertMany(ctx, batch, options.InsertMany().SetOrdered(true)); err != nil {
			return err
		}
		n += len(batch)
		batch, pending = batch[:0], 0
		return nil
	}
	var lenBuf [4]byte
	for read < size {
		if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
			return n, fmt.Errorf("document %d: %w", n+len(batch)+1, truncated(noEOF(err)))
		}
		l := int64(binary.LittleEndian.Uint32(lenBuf[:]))
		if l < 5 || l > maxDocument || read+l > size {
			return n, fmt.Errorf("document %d: invalid length %d: the dump is corrupt", n+len(batch)+1, l)
		}
		doc := make(bson.Raw, l)
		copy(doc, lenBuf[:])
		if _, err := io.ReadFull(r, doc[4:]); err != nil {
			return n, fmt.Errorf("document %d: %w", n+len(batch)+1, truncated(noEOF(err)))
		}
		if err := doc.Validate(); err != nil {
			return n, fmt.Errorf("document %d: the dump is corrupt: %w", n+len(batch)+1, err)
		}
		read += l
		batch = append(batch, doc)
		pending += int(l)
		if len(batch) >= batchDocs || pending >= batchBytes {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, flush()
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// createIndexes builds the collection's indexes besides _id.
func createIndexes(ctx context.Context, db *mongo.Database, coll string, specs []bson.Raw) error {
	var idx bson.A
	for _, spec := range specs {
		if name, _ := spec.Lookup("name").StringValueOK(); name == "_id_" {
			continue
		}
		elems, err := spec.Elements()
		if err != nil {
			return fmt.Errorf("index of %s: %w", coll, err)
		}
		var d bson.D
		for _, e := range elems {
			if e.Key() != "ns" && e.Key() != "v" { // the server picks the current index version
				d = append(d, bson.E{Key: e.Key(), Value: e.Value()})
			}
		}
		idx = append(idx, d)
	}
	if len(idx) == 0 {
		return nil
	}
	err := db.RunCommand(ctx, bson.D{{Key: "createIndexes", Value: coll}, {Key: "indexes", Value: idx}}).Err()
	if err != nil {
		return fmt.Errorf("create indexes of %s.%s: %w", db.Name(), coll, err)
	}
	return nil
}
