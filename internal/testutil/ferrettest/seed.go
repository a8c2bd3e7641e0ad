package ferrettest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Seed fills db with three collections: "people" with docs documents of
// many BSON types and nested documents, a unique and a compound index;
// "events" with a few documents; "empty" with none but an index.
func Seed(t testing.TB, c *mongo.Client, db string, docs int) {
	t.Helper()
	ctx := context.Background()
	d := c.Database(db)
	base := time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)
	batch := make([]any, 0, 1000)
	flush := func(coll string) {
		if len(batch) > 0 {
			if _, err := d.Collection(coll).InsertMany(ctx, batch); err != nil {
				t.Fatalf("seed %s: %v", coll, err)
			}
			batch = batch[:0]
		}
	}
	for i := range docs {
		oid := bson.NewObjectIDFromTimestamp(base.Add(time.Duration(i) * time.Second))
		batch = append(batch, bson.D{
			{Key: "_id", Value: oid},
			{Key: "n", Value: int32(i)},
			{Key: "big", Value: int64(i) << 40},
			{Key: "ratio", Value: float64(i) / 7},
			{Key: "name", Value: fmt.Sprintf("person %d — ünïcødé ✓ 'quote\" \\", i)},
			{Key: "active", Value: i%3 == 0},
			{Key: "nothing", Value: nil},
			{Key: "born", Value: bson.NewDateTimeFromTime(base.Add(-time.Duration(i) * time.Hour))},
			{Key: "blob", Value: bson.Binary{Subtype: 0, Data: []byte{0, byte(i), 0xff, 0x80}}},
			{Key: "address", Value: bson.D{{Key: "city", Value: "Zürich"}, {Key: "geo", Value: bson.D{{Key: "lat", Value: 47.37}, {Key: "lon", Value: 8.54}}}}},
			{Key: "tags", Value: bson.A{"a", int32(i % 5), bson.D{{Key: "k", Value: "v"}}, true}}, // FerretDB 1.x refuses nested arrays
			{Key: "email", Value: fmt.Sprintf("p%d@example.com", i)},
		})
		if len(batch) == cap(batch) {
			flush("people")
		}
	}
	flush("people")
	for i := range 5 {
		batch = append(batch, bson.D{{Key: "_id", Value: fmt.Sprintf("ev-%d", i)}, {Key: "at", Value: bson.NewDateTimeFromTime(base)}, {Key: "seq", Value: int64(i)}})
	}
	flush("events")
	if err := d.CreateCollection(ctx, "empty"); err != nil {
		t.Fatal(err)
	}
	people := d.Collection("people")
	if _, err := people.Indexes().CreateMany(ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true).SetName("email_unique")},
		{Keys: bson.D{{Key: "active", Value: 1}, {Key: "n", Value: -1}}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Collection("empty").Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "x", Value: 1}}}); err != nil {
		t.Fatal(err)
	}
}

// Fingerprint describes db: per collection its document count, a hash of
// its documents sorted, and its indexes.
func Fingerprint(t testing.TB, c *mongo.Client, db string) string {
	t.Helper()
	ctx := context.Background()
	d := c.Database(db)
	names, err := d.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	var out []string
	for _, n := range names {
		cur, err := d.Collection(n).Find(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		var docs []string
		for cur.Next(ctx) {
			js, err := bson.MarshalExtJSON(cur.Current, true, false)
			if err != nil {
				t.Fatal(err)
			}
			docs = append(docs, string(js))
		}
		if err := cur.Err(); err != nil {
			t.Fatal(err)
		}
		cur.Close(ctx)
		slices.Sort(docs)
		h := sha256.Sum256([]byte(strings.Join(docs, "\n")))
		out = append(out, fmt.Sprintf("%s: %d docs %s indexes %s", n, len(docs), hex.EncodeToString(h[:8]), indexes(t, d.Collection(n))))
	}
	return strings.Join(out, "; ")
}

func indexes(t testing.TB, c *mongo.Collection) string {
	cur, err := c.Indexes().List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for cur.Next(context.Background()) {
		var spec struct {
			Name   string `bson:"name"`
			Key    bson.D `bson:"key"`
			Unique bool   `bson:"unique"`
		}
		if err := cur.Decode(&spec); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s%v%v", spec.Name, spec.Key, spec.Unique))
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}
