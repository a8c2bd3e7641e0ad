package schedule

import (
	"strings"
	"testing"
	"time"
)

func utc(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestNextTable(t *testing.T) {
	t.Parallel()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	ny, _ := time.LoadLocation("America/New_York")
	cases := []struct {
		expr  string
		loc   *time.Location
		after string   // UTC
		want  []string // UTC, the next instants in order
	}{
		// Berlin spring forward, Sun 2026-03-29 02:00 CET -> 03:00 CEST:
		// 02:30 does not exist; it fires once at 03:00 CEST (01:00 UTC).
		{"30 2 * * *", berlin, "2026-03-28 12:00", []string{"2026-03-29 01:00", "2026-03-30 00:30"}},
		// Two times inside the gap still fire once.
		{"0,30 2 * * *", berlin, "2026-03-28 12:00", []string{"2026-03-29 01:00", "2026-03-30 00:00", "2026-03-30 00:30"}},
		// Berlin fall back, Sun 2026-10-25 03:00 CEST -> 02:00 CET: 02:30
		// happens twice and fires once, at the first (CEST, 00:30 UTC).
		{"30 2 * * *", berlin, "2026-10-24 12:00", []string{"2026-10-25 00:30", "2026-10-26 01:30"}},
		{"*/30 2 * * *", berlin, "2026-10-24 23:00", []string{"2026-10-25 00:00", "2026-10-25 00:30", "2026-10-26 01:00"}},
		// New York spring forward, 2026-03-08 02:00 EST -> 03:00 EDT.
		{"15 2 * * *", ny, "2026-03-07 12:00", []string{"2026-03-08 07:00", "2026-03-09 06:15"}},
		// New York fall back, 2026-11-01 02:00 EDT -> 01:00 EST.
		{"30 1 * * *", ny, "2026-10-31 12:00", []string{"2026-11-01 05:30", "2026-11-02 06:30"}},
		// An hourly job across the fall-back hour: wall time 01:00 occurs twice
		// and fires once (05:00 UTC), so the next run is 02:00 EST (07:00 UTC).
		{"0 * * * *", ny, "2026-11-01 04:30", []string{"2026-11-01 05:00", "2026-11-01 07:00", "2026-11-01 08:00"}},
		// Month ends: the 31st skips shorter months.
		{"0 0 31 * *", time.UTC, "2026-04-01 00:00", []string{"2026-05-31 00:00", "2026-07-31 00:00", "2026-08-31 00:00"}},
		// Feb 29 only in leap years.
		{"0 12 29 2 *", time.UTC, "2026-03-01 00:00", []string{"2028-02-29 12:00", "2032-02-29 12:00"}},
		// Day-of-month and day-of-week both set: either matches (Nov 1 2026 is a Sunday).
		{"0 0 13 * 5", time.UTC, "2026-11-01 00:00", []string{"2026-11-06 00:00", "2026-11-13 00:00", "2026-11-20 00:00"}},
		{"0 9 * * MON-FRI", time.UTC, "2026-11-28 10:00", []string{"2026-11-30 09:00", "2026-12-01 09:00"}},
		{"0 3 * * 7", time.UTC, "2026-11-27 00:00", []string{"2026-11-29 03:00", "2026-12-06 03:00"}},
		{"@hourly", time.UTC, "2026-11-27 10:59", []string{"2026-11-27 11:00", "2026-11-27 12:00"}},
		{"@daily", berlin, "2026-11-27 10:00", []string{"2026-11-27 23:00"}},
		{"@weekly", time.UTC, "2026-11-27 10:00", []string{"2026-11-29 00:00"}},
		{"@monthly", time.UTC, "2026-11-27 10:00", []string{"2026-12-01 00:00"}},
		{"0 0 1 jan *", time.UTC, "2026-11-27 10:00", []string{"2027-01-01 00:00"}},
		{"*/20 8-9 * * *", time.UTC, "2026-11-27 08:25", []string{"2026-11-27 08:40", "2026-11-27 09:00", "2026-11-27 09:20", "2026-11-27 09:40", "2026-11-28 08:00"}},
		{"5/15 * * * *", time.UTC, "2026-11-27 10:00", []string{"2026-11-27 10:05", "2026-11-27 10:20"}},
	}
	for _, c := range cases {
		s, err := Parse(c.expr)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		var got []string
		for _, at := range s.NextN(utc(c.after), c.loc, len(c.want)) {
			got = append(got, at.UTC().Format("2006-01-02 15:04"))
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%q in %s after %s:\n got %v\nwant %v", c.expr, c.loc, c.after, got, c.want)
		}
	}
}

func TestNeverFires(t *testing.T) {
	t.Parallel()
	s, err := Parse("0 0 30 2 *")
	if err != nil {
		t.Fatal(err)
	}
	if at := s.Next(utc("2026-01-01 00:00"), time.UTC); !at.IsZero() {
		t.Fatalf("Feb 30 fires at %s", at)
	}
}

func TestParseErrorsSayWhat(t *testing.T) {
	t.Parallel()
	for expr, want := range map[string]string{
		"61 * * * *":   "minute field \"61\": 61 is out of range 0-59",
		"* * *":        "want 5 fields",
		"0 0 * * 8":    "day-of-week field \"8\": 8 is out of range 0-7",
		"0 5-1 * * *":  "hour field \"5-1\": range 5-1 runs backwards",
		"*/0 * * * *":  "step \"0\" must be a positive number",
		"0 0 * FOO *":  "month field \"FOO\": \"FOO\" is not a number",
		"0 0 1,,2 * *": "empty list item",
		"@fortnightly": "want 5 fields",
	} {
		_, err := Parse(expr)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error saying %q", expr, err, want)
		}
	}
}
