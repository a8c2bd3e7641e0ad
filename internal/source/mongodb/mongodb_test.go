package mongodb

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/dbackup/dbackup/internal/source"
	"github.com/dbackup/dbackup/internal/testutil/ferrettest"
	"github.com/dbackup/dbackup/internal/testutil/golden"
	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fixture is a FerretDB with one seeded database and a source for it.
type fixture struct {
	srv *ferrettest.Server
	s   *Source
	db  string
}

func newFixture(t *testing.T, docs int) *fixture {
	srv := ferrettest.Start(t)
	db := pgtest.Name("seed")
	ferrettest.Seed(t, srv.Client(t), db, docs)
	return &fixture{srv: srv, s: newSource(t, srv, ferrettest.Password), db: db}
}

func (f *fixture) dump(t *testing.T, dbs ...string) (source.Plan, []byte) {
	t.Helper()
	p, err := f.s.Plan(context.Background(), dbs)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := f.s.Dump(context.Background(), p, &b, quiet); err != nil {
		t.Fatal(err)
	}
	return p, b.Bytes()
}

func (f *fixture) fingerprint(t *testing.T, db string) string {
	return ferrettest.Fingerprint(t, f.srv.Client(t), db)
}

// The dump is the directory layout of mongodump: per collection its
// metadata (options, indexes) first, then its documents concatenated.
func TestDumpIsMongorestoreLayout(t *testing.T) {
	f := newFixture(t, 2500)
	p, dump := f.dump(t, f.db)
	if p.Format != FormatTar || p.Ext != "tar" || p.EngineVersion == "" {
		t.Fatalf("plan %+v", p)
	}
	tr := tar.NewReader(bytes.NewReader(dump))
	var names []string
	docs := map[string]int{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		b, _ := io.ReadAll(tr)
		switch {
		case strings.HasSuffix(h.Name, ".metadata.json"):
			var m Metadata
			if err := bson.UnmarshalExtJSON(b, true, &m); err != nil {
				t.Fatalf("%s is not canonical extended JSON: %v", h.Name, err)
			}
			if m.CollectionName == "people" && len(m.Indexes) != 3 {
				t.Fatalf("people has %d indexes in its metadata, want 3: %s", len(m.Indexes), b)
			}
		case strings.HasSuffix(h.Name, ".bson"):
			for len(b) > 0 {
				l := binary.LittleEndian.Uint32(b)
				if err := bson.Raw(b[:l]).Validate(); err != nil {
					t.Fatal(err)
				}
				b = b[l:]
				docs[h.Name]++
			}
		}
	}
	want := []string{"events.bson", "events.metadata.json", "empty.bson", "empty.metadata.json", "people.bson", "people.metadata.json"}
	for i, n := range []string{"empty.metadata.json", "empty.bson", "events.metadata.json", "events.bson", "people.metadata.json", "people.bson"} {
		if i >= len(names) || names[i] != f.db+"/"+n {
			t.Fatalf("members %v, want %v under %s/", names, want, f.db)
		}
	}
	if docs[f.db+"/people.bson"] != 2500 || docs[f.db+"/events.bson"] != 5 {
		t.Fatalf("documents per file: %v", docs)
	}
}

// A collection larger than the memory limit goes through an unlinked
// temporary file: same result, nothing left behind.
func TestLargeCollectionSpillsAndLeavesNothing(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	old := memLimit
	memLimit = 64 << 10
	t.Cleanup(func() { memLimit = old })
	f := newFixture(t, 3000)
	p, dump := f.dump(t, f.db)
	target := pgtest.Name("spill_r")
	if err := f.s.Restore(context.Background(), p.Format, bytes.NewReader(dump), source.RestoreOptions{Targets: map[string]string{f.db: target}}, quiet); err != nil {
		t.Fatal(err)
	}
	if got, want := f.fingerprint(t, target), f.fingerprint(t, f.db); got != want {
		t.Fatalf("restored:\n%s\nwant:\n%s", got, want)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("files left in TMPDIR: %v", left)
	}
}

func TestSelectiveMultiDatabaseRestore(t *testing.T) {
	f := newFixture(t, 200)
	other := pgtest.Name("seed2")
	ferrettest.Seed(t, f.srv.Client(t), other, 50)
	p, dump := f.dump(t, f.db, other)
	if p.Format != "tar" || len(p.Databases) != 2 {
		t.Fatalf("plan %+v", p)
	}
	target := pgtest.Name("only_r")
	err := f.s.Restore(context.Background(), p.Format, bytes.NewReader(dump), source.RestoreOptions{Targets: map[string]string{other: target}}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.fingerprint(t, target), f.fingerprint(t, other); got != want {
		t.Fatalf("restored:\n%s\nwant:\n%s", got, want)
	}
	dbs, _ := f.s.ListDatabases(context.Background())
	for _, db := range dbs {
		if db != f.db && db != other && db != target {
			t.Fatalf("restore created database %s besides %s", db, target)
		}
	}
}

func TestRestoreRefusesNonEmptyTargetUnlessOverwrite(t *testing.T) {
	f := newFixture(t, 100)
	p, dump := f.dump(t, f.db)
	want := f.fingerprint(t, f.db)
	// The target holds other data: refused, and untouched.
	target := pgtest.Name("busy")
	ferrettest.Seed(t, f.srv.Client(t), target, 7)
	before := f.fingerprint(t, target)
	opts := source.RestoreOptions{Targets: map[string]string{f.db: target}}
	err := f.s.Restore(context.Background(), p.Format, bytes.NewReader(dump), opts, quiet)
	if err == nil || !strings.Contains(err.Error(), "already exists and holds 3 collections") {
		t.Fatalf("restore into a busy database: %v", err)
	}
	if f.fingerprint(t, target) != before {
		t.Fatal("a refused restore changed the target")
	}
	// Overwritten: the restored collections in place, the replaced ones
	// kept beside them under a prefix (renames stay within a database).
	opts.Overwrite = true
	if err := f.s.Restore(context.Background(), p.Format, bytes.NewReader(dump), opts, quiet); err != nil {
		t.Fatal(err)
	}
	got := f.fingerprint(t, target)
	var restored, kept []string
	for _, c := range strings.Split(got, "; ") {
		if strings.HasPrefix(c, keptPrefix) {
			kept = append(kept, c[len(keptPrefix)+len("20060102T150405_"):])
		} else {
			restored = append(restored, c)
		}
	}
	if strings.Join(restored, "; ") != want || strings.Join(kept, "; ") != before {
		t.Fatalf("overwritten:\n%s\nwant:\n%s\nand kept:\n%s", got, want, before)
	}
	// Asked to drop the replaced collections, nothing else is left.
	other := pgtest.Name("busy")
	ferrettest.Seed(t, f.srv.Client(t), other, 7)
	opts = source.RestoreOptions{Targets: map[string]string{f.db: other}, Overwrite: true, DropReplaced: true}
	if err := f.s.Restore(context.Background(), p.Format, bytes.NewReader(dump), opts, quiet); err != nil {
		t.Fatal(err)
	}
	if got := f.fingerprint(t, other); got != want {
		t.Fatalf("overwritten, replaced dropped:\n%s\nwant:\n%s", got, want)
	}
}

func TestCorruptOrTruncatedDumpIsRefused(t *testing.T) {
	f := newFixture(t, 300)
	p, dump := f.dump(t, f.db)
	// Find the first document of people.bson and break its length.
	i := bytes.Index(dump, []byte("person 0 "))
	start := bytes.LastIndex(dump[:i], []byte{0x07, '_', 'i', 'd', 0}) - 4
	bad := bytes.Clone(dump)
	binary.LittleEndian.PutUint32(bad[start:], 1<<30)
	cases := map[string][]byte{"corrupt": bad, "truncated": dump[:len(dump)/2]}
	for want, b := range cases {
		target := pgtest.Name("bad")
		err := f.s.Restore(context.Background(), p.Format, bytes.NewReader(b), source.RestoreOptions{Targets: map[string]string{f.db: target}}, quiet)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s dump: %v", want, err)
		}
	}
}

func TestToolCommandLines(t *testing.T) {
	t.Parallel()
	const pw = `p"a\ss`
	c := Config{Host: "db1.example,db2.example:27018", ReplicaSet: "rs0", User: "backup", AuthMechanism: "SCRAM-SHA-256", TLS: true, Tool: ToolMongodump}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "dump", golden.Render(DumpCommand(c, "/tmp/m.yaml", pw, "shop"), ""))
	golden.Check(t, "restore_rename", golden.Render(RestoreCommand(c, "/tmp/m.yaml", pw, "shop", "shop_copy", "dbackup_scratch_x."), ""))
	if got := ConfigFile(pw); got != "password: \"p\\\"a\\\\ss\"\n" {
		t.Fatalf("config file %q", got)
	}
	for _, bad := range []Config{{Host: "mongodb://u:p@h"}, {Host: "h", Tool: "bsondump"}, {Host: "a,b", SRV: true}, {Host: "h", AuthMechanism: "GSSAPI"}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("config %+v accepted", bad)
		}
	}
}

// With tool "mongodump", the tools get the password only through their
// --config file, which exists for the run only, and their archive is
// restored by mongorestore with the database renamed.
func TestMongodumpToolPlumbing(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	f := newFixture(t, 10)
	bin := t.TempDir()
	record := filepath.Join(bin, "calls")
	// Fake tools: check the config file, record argv, emit/consume an archive.
	script := `#!/bin/bash
set -e
for a in "$@"; do case "$a" in --config=*) cf="${a#--config=}";; esac; done
[ "$(stat -c %a "$cf")" = 600 ] || { echo "config file not private" >&2; exit 9; }
grep -q 'password: "` + ferrettest.Password + `"' "$cf" || { echo "no password in config" >&2; exit 9; }
echo "$(basename "$0") $*" >> ` + record + `
if [ "$(basename "$0")" = mongodump ]; then printf '\x6d\xe2\x99\x81archive-of-%s' "$*"; else cat > ` + record + `.stdin; fi
`
	for _, tool := range []string{"mongodump", "mongorestore"} {
		os.WriteFile(filepath.Join(bin, tool), []byte(script), 0o755)
	}
	s, err := New(Config{Host: f.srv.Host, Port: f.srv.Port, User: ferrettest.User, AuthMechanism: ferrettest.Mechanism, Tool: ToolMongodump, BinDir: bin}, ferrettest.Password)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Plan(context.Background(), []string{f.db})
	if err != nil || p.Format != FormatArchive || p.Ext != "archive" {
		t.Fatalf("plan %+v %v", p, err)
	}
	var dump bytes.Buffer
	if err := s.Dump(context.Background(), p, &dump, quiet); err != nil {
		t.Fatal(err)
	}
	target := pgtest.Name("arch_r")
	if err := s.Restore(context.Background(), p.Format, bytes.NewReader(dump.Bytes()), source.RestoreOptions{Targets: map[string]string{f.db: target}}, quiet); err != nil {
		t.Fatal(err)
	}
	calls, _ := os.ReadFile(record)
	stdin, _ := os.ReadFile(record + ".stdin")
	if !bytes.Equal(stdin, dump.Bytes()) {
		t.Fatalf("mongorestore got %q, want the archive %q", stdin, dump.Bytes())
	}
	if strings.Contains(string(calls), ferrettest.Password) ||
		!strings.Contains(string(calls), "mongodump --config=") || !strings.Contains(string(calls), "--db="+f.db+" --archive") ||
		!strings.Contains(string(calls), "--nsFrom="+f.db+".* --nsTo="+target+"."+scratchPrefix) {
		t.Fatalf("tool calls:\n%s", calls)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Fatalf("files left in TMPDIR: %v", left)
	}
}
