// Package mytest gives tests fresh databases on the MariaDB server of the
// machine (DBACKUP_TEST_MYSQL_DSN, default root@127.0.0.1:3306). A missing
// server is a test failure, never a skip.
package mytest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"testing"

	_ "github.com/go-sql-driver/mysql" // registers "mysql"
)

func dsn(db string) string {
	if d := os.Getenv("DBACKUP_TEST_MYSQL_DSN"); d != "" {
		return d + db
	}
	return "root@tcp(127.0.0.1:3306)/" + db + "?multiStatements=true"
}

// Open connects to db ("" for none).
func Open(t testing.TB, db string) *sql.DB {
	t.Helper()
	conn, err := sql.Open("mysql", dsn(db))
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Ping(); err != nil {
		t.Fatalf("MariaDB test server: %v (start it with `make services`)", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Name returns a unique database name.
func Name(prefix string) string {
	b := make([]byte, 5)
	rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// Drop drops db at cleanup.
func Drop(t testing.TB, db string) {
	t.Cleanup(func() {
		conn, err := sql.Open("mysql", dsn(""))
		if err == nil {
			conn.Exec("DROP DATABASE IF EXISTS `" + db + "`")
			conn.Close()
		}
	})
}

// NewDatabase creates an empty database, dropped at cleanup.
func NewDatabase(t testing.TB, prefix string) string {
	t.Helper()
	db := Name(prefix)
	if _, err := Open(t, "").Exec("CREATE DATABASE `" + db + "` CHARACTER SET utf8mb4"); err != nil {
		t.Fatal(err)
	}
	Drop(t, db)
	return db
}

// SeedAwkward fills db with data that breaks naive dumps: NULLs, 4-byte
// unicode, binary with every byte value, a large row, bigRows rows, a view,
// a trigger, a routine and an event.
func SeedAwkward(t testing.TB, db string, bigRows int) {
	t.Helper()
	conn := Open(t, db)
	stmts := []string{
		"CREATE TABLE awkward (id INT AUTO_INCREMENT PRIMARY KEY, txt TEXT, uni VARCHAR(200) CHARACTER SET utf8mb4, bin BLOB, num DECIMAL(30,10), js JSON, ts DATETIME(6), flag BOOL) ENGINE=InnoDB",
		"INSERT INTO awkward (txt, uni, bin, num, js, ts, flag) VALUES (NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
		"INSERT INTO awkward (txt, uni, bin, num, js, ts, flag) VALUES ('', 'ünïcödé ✓ 日本語 🚀 ''quoted'' \"dq\" \\\\ back', UNHEX('00FF00FE'), 12345678901234567890.0123456789, '{\"a\":[1,null,\"x\"]}', '2026-03-29 02:30:00.123456', TRUE)",
		"CREATE TABLE bytes (b TINYINT UNSIGNED PRIMARY KEY, v VARBINARY(1))",
		"CREATE TABLE `weird table; drop` (`select` INT, `Mixed Case` TEXT)",
		"INSERT INTO `weird table; drop` VALUES (1, 'a'), (2, NULL)",
		"CREATE TABLE large_rows (id INT PRIMARY KEY, doc LONGTEXT, blob_col LONGBLOB)",
		"INSERT INTO large_rows VALUES (1, REPEAT('abcdefgh', 262144), RANDOM_BYTES(1024)), (2, REPEAT('z', 2000000), REPEAT(UNHEX('00'), 100000))",
		"CREATE TABLE big (id INT PRIMARY KEY, h CHAR(32), note VARCHAR(100)) ENGINE=InnoDB",
		"CREATE VIEW big_view AS SELECT id, h FROM big WHERE id < 100",
		"CREATE TABLE audit (n INT)",
		"CREATE TRIGGER big_ins AFTER INSERT ON big FOR EACH ROW INSERT INTO audit VALUES (0)",
		"CREATE FUNCTION add_one(i INT) RETURNS INT DETERMINISTIC RETURN i + 1",
		"CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM audit",
	}
	for _, s := range stmts {
		if _, err := conn.Exec(s); err != nil {
			t.Fatalf("seed %s: %v\n%s", db, err, s)
		}
	}
	for i := 0; i < 256; i++ {
		conn.Exec("INSERT INTO bytes VALUES (?, ?)", i, []byte{byte(i)})
	}
	if _, err := conn.Exec("DROP TRIGGER big_ins"); err != nil { // keep the trigger out of the bulk insert
		t.Fatal(err)
	}
	if _, err := conn.Exec(fmt.Sprintf(`INSERT INTO big SELECT seq, MD5(seq), CONCAT(seq %% 97, ' row ', seq) FROM seq_1_to_%d`, bigRows)); err != nil {
		t.Fatalf("seed big: %v", err)
	}
	if _, err := conn.Exec("CREATE TRIGGER big_ins AFTER INSERT ON big FOR EACH ROW INSERT INTO audit VALUES (NEW.id)"); err != nil {
		t.Fatal(err)
	}
}

// Checksums returns per table its row count and CHECKSUM TABLE, and the
// names of the database's routines, triggers, views and events.
func Checksums(t testing.TB, db string) map[string]string {
	t.Helper()
	conn := Open(t, db)
	ctx := context.Background()
	out := map[string]string{}
	rows, err := conn.QueryContext(ctx, "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = ?", db)
	if err != nil {
		t.Fatal(err)
	}
	type tbl struct{ name, typ string }
	var tables []tbl
	for rows.Next() {
		var x tbl
		rows.Scan(&x.name, &x.typ)
		tables = append(tables, x)
	}
	rows.Close()
	sort.Slice(tables, func(i, j int) bool { return tables[i].name < tables[j].name })
	for _, x := range tables {
		q := "`" + x.name + "`"
		var n int64
		conn.QueryRowContext(ctx, "SELECT count(*) FROM "+q).Scan(&n)
		if x.typ == "VIEW" {
			out["view "+x.name] = fmt.Sprint(n)
			continue
		}
		var name string
		var sum sql.NullInt64
		conn.QueryRowContext(ctx, "CHECKSUM TABLE "+q).Scan(&name, &sum)
		out["table "+x.name] = fmt.Sprintf("%d rows, checksum %d", n, sum.Int64)
	}
	for kind, q := range map[string]string{
		"routine": "SELECT routine_name FROM information_schema.routines WHERE routine_schema = ?",
		"trigger": "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = ?",
		"event":   "SELECT event_name FROM information_schema.events WHERE event_schema = ?",
	} {
		rows, err := conn.QueryContext(ctx, q, db)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var n string
			rows.Scan(&n)
			out[kind+" "+n] = "present"
		}
		rows.Close()
	}
	return out
}
