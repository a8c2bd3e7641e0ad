package backup

import (
	"fmt"
	"sort"
	"strings"
)

// Counts is what a validator counted in one database's dump, by object:
// rows per table ("schema.table"), documents per collection, keys per
// logical database. A few engines add entries of their own kind, named so
// they cannot be a table (PostgreSQL's large objects: "pg_largeobject").
type Counts map[string]int64

// Contents is what a backup holds, by database.
type Contents map[string]Counts

// Total is the sum of every count.
func (c Counts) Total() int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}

// Names lists the objects in order.
func (c Counts) Names() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Summary describes the counts in a few words: "3 tables, 60,005 rows".
func (c Counts) Summary(object, unit string) string {
	return fmt.Sprintf("%s %s, %s %s", Thousands(int64(len(c))), plural(object, len(c)), Thousands(c.Total()), unit)
}

func plural(s string, n int) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// Thousands writes n with a comma every three digits.
func Thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// CompareCounts checks what a restore wrote against what the dump held.
// Every object of want must have its count in got; objects only in got
// (created by the restore itself, say) are not judged. The error names the
// first objects that differ.
func CompareCounts(db string, want, got Counts) error {
	var diffs []string
	for _, name := range want.Names() {
		g, ok := got[name]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s is missing (the backup holds %s)", name, Thousands(want[name])))
		case g != want[name]:
			diffs = append(diffs, fmt.Sprintf("%s holds %s, the backup %s", name, Thousands(g), Thousands(want[name])))
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	more := ""
	if len(diffs) > 5 {
		more = fmt.Sprintf(" and %d more", len(diffs)-5)
		diffs = diffs[:5]
	}
	return fmt.Errorf("the restored database %s differs from the backup: %s%s", db, strings.Join(diffs, "; "), more)
}

// ExpiringSuffix names, in a Redis snapshot's counts, how many keys of a
// logical database had a time to live ("db0 with a TTL"): they may expire
// before a restore, so they are a bound, not an object.
const ExpiringSuffix = " with a TTL"

// ContentWords are what an engine's counts count.
func ContentWords(sourceType string) (object, unit string) {
	switch sourceType {
	case "mongodb":
		return "collection", "documents"
	case "redis":
		return "database", "keys"
	}
	return "table", "rows"
}

// Summary describes what a backup holds: "2 tables, 60,005 rows"; empty
// when nothing was counted (a backup made before format 2).
func (c Contents) Summary(sourceType string) string {
	if len(c) == 0 {
		return ""
	}
	all := Counts{}
	for db, counts := range c {
		for name, n := range counts {
			if !strings.HasSuffix(name, ExpiringSuffix) {
				all[db+"\x00"+name] = n
			}
		}
	}
	object, unit := ContentWords(sourceType)
	return all.Summary(object, unit)
}
