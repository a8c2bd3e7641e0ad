package mongodb

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Metadata is a collection's <coll>.metadata.json, as mongodump writes it.
type Metadata struct {
	CollectionName string     `bson:"collectionName"`
	Type           string     `bson:"type"`
	UUID           string     `bson:"uuid,omitempty"`
	Options        bson.Raw   `bson:"options"`
	Indexes        []bson.Raw `bson:"indexes"`
}

// memLimit is how much of one collection's documents is held in memory
// before they go to an unlinked temporary file (a tar member's size must be
// known before its content).
var memLimit = 16 << 20

// FileName is the escaped file name of a collection, as mongodump names it.
func FileName(coll string) string { return url.PathEscape(coll) }

// dumpDatabase writes db as a tar of mongorestore's directory layout.
func dumpDatabase(ctx context.Context, db *mongo.Database, w io.Writer, log *slog.Logger) error {
	specs, err := db.ListCollectionSpecifications(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("list collections of %s: %w", db.Name(), err)
	}
	slices.SortFunc(specs, func(a, b mongo.CollectionSpecification) int { return strings.Compare(a.Name, b.Name) })
	tw := tar.NewWriter(w)
	now := time.Now().UTC()
	total := 0
	for _, spec := range specs {
		switch {
		case strings.HasPrefix(spec.Name, "system."):
			continue
		case spec.Type == "timeseries":
			log.Warn(fmt.Sprintf("collection %s.%s is a time-series collection, which the native dump does not cover; skipped", db.Name(), spec.Name))
			continue
		}
		meta := Metadata{CollectionName: spec.Name, Type: spec.Type, Options: spec.Options}
		if meta.Options == nil {
			meta.Options = emptyDoc
		}
		if spec.UUID != nil {
			meta.UUID = hex.EncodeToString(spec.UUID.Data)
		}
		if spec.Type != "view" {
			if meta.Indexes, err = listIndexes(ctx, db.Collection(spec.Name)); err != nil {
				return err
			}
		}
		js, err := bson.MarshalExtJSON(meta, true, false)
		if err != nil {
			return err
		}
		base := db.Name() + "/" + FileName(spec.Name)
		if err := writeMember(tw, base+".metadata.json", now, int64(len(js)), bytes.NewReader(js)); err != nil {
			return err
		}
		if spec.Type == "view" {
			log.Info(fmt.Sprintf("view %s.%s: definition dumped", db.Name(), spec.Name))
			continue
		}
		n, err := dumpCollection(ctx, db.Collection(spec.Name), tw, base+".bson", now, log)
		if err != nil {
			return err
		}
		total += n
	}
	if err := tw.Close(); err != nil {
		return err
	}
	log.Info(fmt.Sprintf("database %s dumped: %d collections, %d documents", db.Name(), len(specs), total))
	return nil
}

var emptyDoc = bson.Raw{5, 0, 0, 0, 0}

func listIndexes(ctx context.Context, c *mongo.Collection) ([]bson.Raw, error) {
	cur, err := c.Indexes().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list indexes of %s: %w", c.Name(), err)
	}
	defer closeQuickly(ctx, cur.Close)
	var out []bson.Raw
	for cur.Next(ctx) {
		out = append(out, slices.Clone(cur.Current))
	}
	return out, cur.Err()
}

// dumpCollection writes every document of c, concatenated, as one member.
func dumpCollection(ctx context.Context, c *mongo.Collection, tw *tar.Writer, name string, now time.Time, log *slog.Logger) (int, error) {
	buf := &spill{limit: memLimit}
	defer buf.Close()
	cur, err := c.Find(ctx, bson.D{}, options.Find().SetBatchSize(1000))
	if err != nil {
		return 0, fmt.Errorf("read collection %s: %w", c.Name(), err)
	}
	defer closeQuickly(ctx, cur.Close)
	n := 0
	for cur.Next(ctx) {
		if _, err := buf.Write(cur.Current); err != nil {
			return n, fmt.Errorf("stage collection %s: %w", c.Name(), err)
		}
		n++
	}
	if err := cur.Err(); err != nil {
		return n, fmt.Errorf("read collection %s: %w", c.Name(), err)
	}
	r, err := buf.Reader()
	if err != nil {
		return n, err
	}
	if err := writeMember(tw, name, now, buf.n, r); err != nil {
		return n, err
	}
	log.Info(fmt.Sprintf("collection %s.%s: %d documents, %d bytes", c.Database().Name(), c.Name(), n, buf.n))
	return n, nil
}

func writeMember(tw *tar.Writer, name string, now time.Time, size int64, r io.Reader) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: now, Format: tar.FormatPAX}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, r); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// spill holds bytes in memory up to limit, then in a temporary file that is
// unlinked as soon as it is created, so nothing is left behind even if the
// process is killed.
type spill struct {
	limit int
	mem   bytes.Buffer
	f     *os.File
	n     int64
}

func (s *spill) Write(p []byte) (int, error) {
	if s.f == nil && s.mem.Len()+len(p) > s.limit {
		f, err := os.CreateTemp("", "dbackup-mongo-*")
		if err != nil {
			return 0, err
		}
		os.Remove(f.Name())
		s.f = f
		if _, err := s.mem.WriteTo(f); err != nil {
			return 0, err
		}
	}
	var n int
	var err error
	if s.f != nil {
		n, err = s.f.Write(p)
	} else {
		n, err = s.mem.Write(p)
	}
	s.n += int64(n)
	return n, err
}

// Reader returns the bytes written, from the start.
func (s *spill) Reader() (io.Reader, error) {
	if s.f == nil {
		return &s.mem, nil
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.LimitReader(s.f, s.n), nil
}

func (s *spill) Close() error {
	if s.f != nil {
		return s.f.Close()
	}
	return nil
}
