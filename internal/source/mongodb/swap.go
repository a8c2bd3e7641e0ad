package mongodb

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/source"
)

var _ source.Swapper = (*Source)(nil)

// A restore's scratch and kept "databases" are collections of the target
// database under a prefix: MongoDB renames collections only within a
// database here (FerretDB has no cross-database rename). Their names are
// "<db>/<prefix>"; a plain name is a whole database.
const (
	scratchPrefix = "dbackup_scratch_"
	keptPrefix    = "dbackup_replaced_"
)

func splitName(name string) (db, prefix string) {
	db, prefix, _ = strings.Cut(name, "/")
	return db, prefix
}

// ours tells the collections a restore made (scratch or kept) apart.
func ours(coll string) bool {
	return strings.HasPrefix(coll, scratchPrefix) || strings.HasPrefix(coll, keptPrefix)
}

// userCollections lists db's collections that are neither system
// collections nor a restore's, with their types.
func userCollections(ctx context.Context, db *mongo.Database, prefix string) ([]mongo.CollectionSpecification, error) {
	specs, err := db.ListCollectionSpecifications(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("list collections of %s: %w", db.Name(), err)
	}
	var out []mongo.CollectionSpecification
	for _, s := range specs {
		switch {
		case strings.HasPrefix(s.Name, "system."):
		case prefix == "" && !ours(s.Name), prefix != "" && strings.HasPrefix(s.Name, prefix):
			out = append(out, s)
		}
	}
	return out, nil
}

// Inspect tells whether db holds collections.
func (s *Source) Inspect(ctx context.Context, db string) (t source.Target, err error) {
	err = s.with(ctx, func(c *mongo.Client) error {
		specs, err := userCollections(ctx, c.Database(db), "")
		if len(specs) > 0 {
			t = source.Target{Exists: true, Holds: fmt.Sprintf("%d collections", len(specs))}
		}
		return err
	})
	return t, err
}

// ScratchName names the collections of a restore in progress.
func (s *Source) ScratchName(target string) string {
	return target + "/" + scratchPrefix + source.RandomSuffix() + "_"
}

// KeptName names the collections an overwrite replaced.
func (s *Source) KeptName(target string, t time.Time) string {
	return target + "/" + keptPrefix + t.UTC().Format("20060102T150405") + "_"
}

// CreateDatabase does nothing: collections appear as they are restored.
func (s *Source) CreateDatabase(context.Context, string) error { return nil }

// DropDatabase drops the collections under a prefix, or a whole database.
func (s *Source) DropDatabase(ctx context.Context, name string) error {
	db, prefix := splitName(name)
	return s.with(ctx, func(c *mongo.Client) error {
		d := c.Database(db)
		if prefix == "" {
			return d.Drop(ctx)
		}
		specs, err := userCollections(ctx, d, prefix)
		for _, sp := range specs {
			if err == nil {
				err = d.Collection(sp.Name).Drop(ctx)
			}
		}
		return err
	})
}

// Load restores one database's dump (native or a mongodump archive, as the
// dump says itself) into the collections under name's prefix.
func (s *Source) Load(ctx context.Context, r io.Reader, from, name string, log *slog.Logger) error {
	db, prefix := splitName(name)
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(len(archiveMagic))
	if bytes.Equal(head, archiveMagic) {
		return s.toolRestore(ctx, br, from, db, prefix, log)
	}
	return s.with(ctx, func(c *mongo.Client) error { return restoreDatabase(ctx, c.Database(db), br, prefix, log) })
}

// Count counts the documents of the collections want names.
func (s *Source) Count(ctx context.Context, name string, want backup.Counts) (got backup.Counts, err error) {
	db, prefix := splitName(name)
	got = backup.Counts{}
	err = s.with(ctx, func(c *mongo.Client) error {
		d := c.Database(db)
		specs, err := userCollections(ctx, d, prefix)
		if err != nil {
			return err
		}
		for _, sp := range specs {
			coll := strings.TrimPrefix(sp.Name, prefix)
			if _, ok := want[coll]; !ok || sp.Type == "view" {
				continue
			}
			n, err := d.Collection(sp.Name).CountDocuments(ctx, bson.D{})
			if err != nil {
				return fmt.Errorf("count %s: %w", coll, err)
			}
			got[coll] = n
		}
		return nil
	})
	return got, err
}

// Swap renames the target's collections under the kept prefix and the
// scratch collections to their names, one collection at a time. Views
// cannot be renamed: they are created again and the old ones dropped.
func (s *Source) Swap(ctx context.Context, scratch, target, kept string) error {
	_, from := splitName(scratch)
	_, to := splitName(kept)
	return s.with(ctx, func(c *mongo.Client) error {
		d := c.Database(target)
		admin := c.Database("admin")
		rename := func(a, b string) error {
			return admin.RunCommand(ctx, bson.D{{Key: "renameCollection", Value: target + "." + a}, {Key: "to", Value: target + "." + b}}).Err()
		}
		if kept != "" {
			old, err := userCollections(ctx, d, "")
			if err != nil {
				return err
			}
			for _, sp := range old {
				if sp.Type == "view" {
					err = d.Collection(sp.Name).Drop(ctx)
				} else {
					err = rename(sp.Name, to+sp.Name)
				}
				if err != nil {
					return fmt.Errorf("move %s.%s aside: %w", target, sp.Name, err)
				}
			}
		}
		fresh, err := userCollections(ctx, d, from)
		if err != nil {
			return err
		}
		for _, sp := range fresh {
			name := strings.TrimPrefix(sp.Name, from)
			if sp.Type == "view" {
				continue
			}
			if err := rename(sp.Name, name); err != nil {
				return fmt.Errorf("put %s.%s in place: %w", target, name, err)
			}
		}
		for _, sp := range fresh {
			if sp.Type != "view" {
				continue
			}
			m := Metadata{CollectionName: strings.TrimPrefix(sp.Name, from), Type: "view", Options: unprefixView(sp.Options, from)}
			if err := createCollection(ctx, d, m, ""); err != nil {
				return err
			}
			if err := d.Collection(sp.Name).Drop(ctx); err != nil {
				return err
			}
		}
		return nil
	})
}

// unprefixView returns a scratch view's options reading the collection
// without the scratch prefix.
func unprefixView(opts bson.Raw, prefix string) bson.Raw {
	var d bson.D
	if err := bson.Unmarshal(opts, &d); err != nil {
		return opts
	}
	for i, e := range d {
		if on, ok := e.Value.(string); ok && e.Key == "viewOn" {
			d[i].Value = strings.TrimPrefix(on, prefix)
		}
	}
	b, err := bson.Marshal(d)
	if err != nil {
		return opts
	}
	return b
}
