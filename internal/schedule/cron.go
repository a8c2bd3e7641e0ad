// Package schedule parses cron expressions and computes when they fire in a
// time zone, with daylight-saving rules stated and tested:
//   - a local time that does not exist (spring forward) fires once, at the
//     first instant after the gap;
//   - a local time that occurs twice (fall back) fires once, at its first
//     occurrence.
package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a parsed 5-field cron expression.
type Schedule struct {
	expr                          string
	minute, hour, dom, month, dow uint64 // bit sets
	domStar, dowStar              bool
}

var descriptors = map[string]string{
	"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
	"@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}

var monthNames = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
var dayNames = map[string]int{"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}

// Parse reads a standard 5-field expression (minute hour day-of-month month
// day-of-week, with lists, ranges, steps, names like MON/JAN and day-of-week
// 0-7) or one of @hourly @daily @weekly @monthly @yearly. Errors say which
// field is wrong and why.
func Parse(expr string) (*Schedule, error) {
	e := strings.TrimSpace(expr)
	if d, ok := descriptors[strings.ToLower(e)]; ok {
		e = d
	}
	fields := strings.Fields(e)
	if len(fields) != 5 {
		return nil, fmt.Errorf("cron %q: want 5 fields (minute hour day-of-month month day-of-week) or @hourly/@daily/@weekly/@monthly/@yearly, got %d fields", expr, len(fields))
	}
	s := &Schedule{expr: strings.TrimSpace(expr)}
	specs := []struct {
		name     string
		min, max int
		names    map[string]int
		dst      *uint64
	}{
		{"minute", 0, 59, nil, &s.minute}, {"hour", 0, 23, nil, &s.hour}, {"day-of-month", 1, 31, nil, &s.dom},
		{"month", 1, 12, monthNames, &s.month}, {"day-of-week", 0, 7, dayNames, &s.dow},
	}
	for i, sp := range specs {
		bits, err := parseField(fields[i], sp.min, sp.max, sp.names)
		if err != nil {
			return nil, fmt.Errorf("cron %q: %s field %q: %v", expr, sp.name, fields[i], err)
		}
		*sp.dst = bits
	}
	if s.dow&(1<<7) != 0 { // 7 is Sunday too
		s.dow |= 1
	}
	s.domStar, s.dowStar = fields[2] == "*" || strings.HasPrefix(fields[2], "*/"), fields[4] == "*" || strings.HasPrefix(fields[4], "*/")
	return s, nil
}

func parseField(f string, min, max int, names map[string]int) (uint64, error) {
	var bits uint64
	for _, part := range strings.Split(f, ",") {
		if part == "" {
			return 0, fmt.Errorf("empty list item")
		}
		rng, stepStr, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n < 1 {
				return 0, fmt.Errorf("step %q must be a positive number", stepStr)
			}
			step = n
		}
		lo, hi := min, max
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if lo, err = value(a, min, max, names); err != nil {
				return 0, err
			}
			if hi, err = value(b, min, max, names); err != nil {
				return 0, err
			}
			if lo > hi {
				return 0, fmt.Errorf("range %d-%d runs backwards", lo, hi)
			}
		default:
			v, err := value(rng, min, max, names)
			if err != nil {
				return 0, err
			}
			lo, hi = v, v
			if hasStep {
				hi = max
			}
		}
		for v := lo; v <= hi; v += step {
			bits |= 1 << v
		}
	}
	return bits, nil
}

func value(s string, min, max int, names map[string]int) (int, error) {
	if v, ok := names[strings.ToUpper(s)]; ok {
		return v, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if v < min || v > max {
		return 0, fmt.Errorf("%d is out of range %d-%d", v, min, max)
	}
	return v, nil
}

// String returns the expression as written.
func (s *Schedule) String() string { return s.expr }

func (s *Schedule) dayMatches(t time.Time) bool {
	if s.month&(1<<int(t.Month())) == 0 {
		return false
	}
	dom, dow := s.dom&(1<<t.Day()) != 0, s.dow&(1<<int(t.Weekday())) != 0
	switch {
	case s.domStar && s.dowStar:
		return true
	case s.domStar:
		return dow
	case s.dowStar:
		return dom
	}
	return dom || dow // both restricted: either matches, as in every cron
}

// Next returns the first firing instant strictly after t, in loc. It
// returns the zero time if the expression never fires (like Feb 30).
func (s *Schedule) Next(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	local := t.In(loc)
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, time.UTC) // a calendar date, zone-free
	for i := 0; i < 366*5; i++ {
		d := day.AddDate(0, 0, i)
		if !s.dayMatches(d) {
			continue
		}
		for h := 0; h < 24; h++ {
			if s.hour&(1<<h) == 0 {
				continue
			}
			for m := 0; m < 60; m++ {
				if s.minute&(1<<m) == 0 {
					continue
				}
				if at := instant(d.Year(), d.Month(), d.Day(), h, m, loc); at.After(t) {
					return at
				}
			}
		}
	}
	return time.Time{}
}

// instant maps a local wall time to the instant it fires: the first
// occurrence of a repeated time, or the end of the gap for a missing one.
func instant(y int, mo time.Month, d, h, mi int, loc *time.Location) time.Time {
	at := time.Date(y, mo, d, h, mi, 0, 0, loc)
	if at.Hour() == h && at.Minute() == mi && at.Day() == d {
		// Go picks one of two occurrences; take the earlier.
		if earlier := at.Add(-time.Hour); earlier.Hour() == h && earlier.Minute() == mi && earlier.Day() == d {
			return earlier
		}
		return at
	}
	// In a gap: the first instant whose wall clock is at or past h:mi.
	want := time.Date(y, mo, d, h, mi, 0, 0, time.UTC)
	probe := at.Add(-3 * time.Hour).Truncate(time.Minute)
	for probe.Before(at.Add(3 * time.Hour)) {
		l := probe.In(loc)
		if !time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), 0, 0, time.UTC).Before(want) {
			return probe
		}
		probe = probe.Add(time.Minute)
	}
	return at
}

// NextN returns the next n firing instants after t.
func (s *Schedule) NextN(t time.Time, loc *time.Location, n int) []time.Time {
	var out []time.Time
	for len(out) < n {
		t = s.Next(t, loc)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out
}
