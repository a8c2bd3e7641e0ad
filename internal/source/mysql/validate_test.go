package mysql

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/source/sourcetest"
)

// testdata/small.sql is mariadb-dump 10.11 (dbackup's default flags) of a
// database with strings holding quotes, backslashes, parentheses and
// newlines, a blob, an empty table, a view, a trigger, a procedure and an
// event.
func smallDump(t testing.TB) []byte {
	b, err := os.ReadFile("testdata/small.sql")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidateSmallDump(t *testing.T) {
	t.Parallel()
	sourcetest.Validator(t, Validate, smallDump(t), backup.Counts{"t": 3, "e": 0})
}

// Every statement boundary is a place where a dump tool that exits 0
// could have stopped: none of them passes.
func TestValidateCutAtEveryStatement(t *testing.T) {
	t.Parallel()
	b := smallDump(t)
	cuts := 0
	for i := range b {
		if b[i] == ';' && i+1 < len(b) && b[i+1] == '\n' {
			cuts++
			if _, err := Validate(bytes.NewReader(b[:i+2])); err == nil || !strings.Contains(err.Error(), "completion line") {
				t.Fatalf("cut after the statement ending at byte %d: %v", i, err)
			}
		}
	}
	if cuts < 50 {
		t.Fatalf("only %d statement boundaries", cuts)
	}
}

// The flags a user may choose change the dump's shape, not its proof.
func TestValidateOtherShapes(t *testing.T) {
	t.Parallel()
	dump := func(body string) []byte {
		return []byte("-- MySQL dump 10.13  Distrib 8.0.40\n--\n" + body + "\n-- Dump completed\n")
	}
	for name, c := range map[string]struct {
		body string
		want backup.Counts
	}{
		"one row per insert": {"CREATE TABLE `t` (\n  `a` int\n);\nINSERT INTO `t` VALUES (1);\nINSERT INTO `t` VALUES (2);\n", backup.Counts{"t": 2}},
		"complete insert":    {"CREATE TABLE `t` (`a` int, `b` text);\nINSERT INTO `t` (`a`, `b`) VALUES (1,'x'),(2,'y)');\n", backup.Counts{"t": 2}},
		"insert ignore":      {"CREATE TABLE `t``q` (`a` int);\nINSERT IGNORE INTO `t``q` VALUES (1),(2),(3);\n", backup.Counts{"t`q": 3}},
		"replace":            {"CREATE TABLE `t` (`a` int);\nREPLACE INTO `t` VALUES (1),(2);\n", backup.Counts{"t": 2}},
		"doubled quotes":     {"CREATE TABLE `t` (`a` text);\nINSERT INTO `t` VALUES ('it''s (1)'),('');\n", backup.Counts{"t": 2}},
		"delimiter //":       {"CREATE TABLE `t` (`a` int);\nDELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END //\nDELIMITER ;\nINSERT INTO `t` VALUES (1);\n", backup.Counts{"t": 1}},
		"view placeholder":   {"-- Temporary table structure for view `v`\nCREATE TABLE `v` (`a` int);\n-- Final view structure for view `v`\nCREATE VIEW `v` AS SELECT 1;\n", backup.Counts{}},
	} {
		rep, err := Validate(bytes.NewReader(dump(c.body)))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(rep.Counts) != len(c.want) {
			t.Errorf("%s: counts %v, want %v", name, rep.Counts, c.want)
		}
		for k, v := range c.want {
			if rep.Counts[k] != v {
				t.Errorf("%s: counts %v, want %v", name, rep.Counts, c.want)
			}
		}
	}
	// A completion line inside a string or a procedure body proves nothing.
	for _, body := range []string{
		"CREATE TABLE `t` (`a` text);\nINSERT INTO `t` VALUES ('\n-- Dump completed\n');\nINSERT INTO `t` VALUES (1",
		"DELIMITER ;;\nCREATE PROCEDURE p() BEGIN\n-- Dump completed\nSELECT 1;",
	} {
		if _, err := Validate(strings.NewReader("-- MariaDB dump 10.19\n" + body)); err == nil {
			t.Errorf("a false completion line passed: %q", body)
		}
	}
}

func FuzzValidate(f *testing.F) {
	sourcetest.FuzzValidator(f, Validate, smallDump(f))
}
