package pgtest

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/jackc/pgx/v5"
)

// SeedAwkward fills db with data that breaks naive dumps: NULLs, unicode,
// bytea with every byte value, large rows, many tables, and one table of
// bigRows rows.
func SeedAwkward(t testing.TB, db string, bigRows int) {
	t.Helper()
	conn := Connect(t, db)
	ctx := context.Background()
	stmts := []string{
		`CREATE EXTENSION IF NOT EXISTS pgcrypto`,
		`CREATE TABLE awkward (id serial PRIMARY KEY, txt text, uni text, bin bytea, num numeric(30,10), js jsonb, ts timestamptz, arr int[], flag boolean)`,
		`INSERT INTO awkward (txt, uni, bin, num, js, ts, arr, flag) VALUES
			(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
			('', 'ünïcödé ✓ 日本語 🚀 ''quoted'' "dq" \\ back', '\x00ff00fe', 12345678901234567890.0123456789, '{"a":[1,null,"x"]}', '2026-03-29 02:30:00+01', '{1,NULL,3}', true),
			(E'tab\tnew\nline\r\x01', 'Zeichen: äöüß', (SELECT string_agg(set_byte('\x00'::bytea, 0, i), ''::bytea) FROM generate_series(0,255) i), -0.0000000001, '[]', 'infinity', '{}', false)`,
		`CREATE TABLE "Weird Table; DROP" ("select" int, "Mixed Case" text)`,
		`INSERT INTO "Weird Table; DROP" VALUES (1, 'a'), (2, NULL)`,
		`CREATE TABLE large_rows (id int PRIMARY KEY, blob bytea, doc text)`,
		`INSERT INTO large_rows SELECT i, gen_random_bytes(1024) || decode(repeat('ab', 2*1024*1024), 'hex'), repeat(md5(i::text), 100000) FROM generate_series(1,4) i`,
		fmt.Sprintf(`CREATE TABLE big AS SELECT i AS id, md5(i::text) AS h, (i %% 97)::text || ' row ' || i AS note, CASE WHEN i %% 13 = 0 THEN NULL ELSE now() - i * interval '1 minute' END AS at
			FROM generate_series(1, %d) i`, bigRows),
		`ALTER TABLE big ADD PRIMARY KEY (id)`,
		`CREATE VIEW big_view AS SELECT id, h FROM big WHERE id < 100`,
		`CREATE SEQUENCE counter START 42`,
		`CREATE FUNCTION add_one(i int) RETURNS int LANGUAGE sql AS 'SELECT i + 1'`,
	}
	for i := range 40 {
		stmts = append(stmts, fmt.Sprintf(`CREATE TABLE many_%02d AS SELECT g AS id, repeat('x', g) AS pad FROM generate_series(1, %d) g`, i, i+1))
	}
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("seed %s: %v\n%s", db, err, s)
		}
	}
}

// TableChecksums returns, per table of db, its row count and an md5 of its
// rows in a stable order.
func TableChecksums(t testing.TB, db string) map[string]string {
	t.Helper()
	conn := Connect(t, db)
	ctx := context.Background()
	rows, err := conn.Query(ctx, `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(tables)
	out := map[string]string{}
	for _, tb := range tables {
		var n int64
		var sum *string
		q := fmt.Sprintf(`SELECT count(*), md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))) FROM %s t`, tb)
		if err := conn.QueryRow(ctx, q).Scan(&n, &sum); err != nil {
			t.Fatalf("checksum %s: %v", tb, err)
		}
		s := "<empty>"
		if sum != nil {
			s = *sum
		}
		out[tb] = fmt.Sprintf("%d rows %s", n, s)
	}
	var last int64
	var called bool
	if err := conn.QueryRow(ctx, "SELECT last_value, is_called FROM counter").Scan(&last, &called); err == nil {
		out["sequence counter"] = fmt.Sprint(last, called)
	}
	return out
}
