package retention

import (
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"
)

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

// daily returns one backup a day at 03:00 UTC from first to last inclusive.
func daily(first, last string) []Item {
	var out []Item
	for t := day(first + " 03:00"); !t.After(day(last + " 03:00")); t = t.AddDate(0, 0, 1) {
		out = append(out, Item{Key: t.Format("2006-01-02T15:04"), Time: t})
	}
	return out
}

// kept returns the kept keys, sorted, and the reason of each.
func kept(ds []Decision) ([]string, map[string]string) {
	var keys []string
	why := map[string]string{}
	for _, d := range ds {
		if d.Keep {
			keys = append(keys, d.Key)
			why[d.Key] = d.Reason
		}
	}
	sort.Strings(keys)
	return keys, why
}

func days(ds ...string) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d+"T03:00")
	}
	sort.Strings(out)
	return out
}

func span(first, last string) []string {
	var out []string
	for _, it := range daily(first, last) {
		out = append(out, it.Key)
	}
	return out
}

func TestGFSYearOfDailyBackups(t *testing.T) {
	t.Parallel()
	items := daily("2025-01-01", "2025-12-31")
	p := Policy{Mode: ModeGFS, Hourly: 24, Daily: 7, Weekly: 4, Monthly: 12, Yearly: 3}
	got, why := kept(Plan(items, p, time.UTC))
	// Worked out by hand:
	// hourly 24: one backup per hour bucket -> the 24 newest, Dec 8..31.
	// daily 7: days Dec 8..31 are taken -> Dec 1..7.
	// weekly 4: ISO weeks 2025-W49..W52 and 2026-W01 (Dec 29-31) are taken ->
	//   W48 (newest Nov 30), W47 (Nov 23), W46 (Nov 16), W45 (Nov 9).
	// monthly 12: 2025-12 and 2025-11 are taken -> Oct 31, Sep 30, Aug 31,
	//   Jul 31, Jun 30, May 31, Apr 30, Mar 31, Feb 28, Jan 31 (only 10 left).
	// yearly 3: 2025 is taken and there is no other year -> nothing more.
	want := append(span("2025-12-01", "2025-12-31"),
		days("2025-11-30", "2025-11-23", "2025-11-16", "2025-11-09", "2025-10-31", "2025-09-30", "2025-08-31",
			"2025-07-31", "2025-06-30", "2025-05-31", "2025-04-30", "2025-03-31", "2025-02-28", "2025-01-31")...)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("kept %d:\n%v\nwant %d:\n%v", len(got), got, len(want), want)
	}
	for key, reason := range map[string]string{
		"2025-12-31T03:00": "hourly 2025-12-31 03:00 +0000", "2025-12-07T03:00": "daily 2025-12-07",
		"2025-11-30T03:00": "weekly 2025-W48", "2025-01-31T03:00": "monthly 2025-01",
	} {
		if why[key] != reason {
			t.Errorf("%s kept for %q, want %q", key, why[key], reason)
		}
	}
}

func TestGFSAcrossYearEndAndISOWeek53(t *testing.T) {
	t.Parallel()
	// 2026 has an ISO week 53 (Mon Dec 28 2026 .. Sun Jan 3 2027).
	items := daily("2026-12-14", "2027-01-05")
	p := Policy{Mode: ModeGFS, Daily: 2, Weekly: 3, Yearly: 2}
	got, why := kept(Plan(items, p, time.UTC))
	// daily: Jan 5, Jan 4 (both 2027-W01).
	// weekly: W01 taken -> 2026-W53 (newest Jan 3 2027), 2026-W52 (Dec 27), 2026-W51 (Dec 20).
	// yearly: 2027 and 2026 are both taken already -> nothing.
	want := days("2027-01-05", "2027-01-04", "2027-01-03", "2026-12-27", "2026-12-20")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
	if why["2027-01-03T03:00"] != "weekly 2026-W53" {
		t.Fatalf("Jan 3 2027 kept for %q, want weekly 2026-W53", why["2027-01-03T03:00"])
	}
}

func TestGFSBucketsInTheSchedulerTimeZone(t *testing.T) {
	t.Parallel()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	// 23:30 UTC on Mar 1 is already Mar 2 in Berlin.
	items := []Item{
		{Key: "a", Time: day("2026-03-01 23:30")},
		{Key: "b", Time: day("2026-03-01 22:00")}, // Mar 1, 23:00 in Berlin
		{Key: "c", Time: day("2026-03-01 12:00")},
	}
	p := Policy{Mode: ModeGFS, Daily: 2}
	if got, _ := kept(Plan(items, p, berlin)); fmt.Sprint(got) != "[a b]" {
		t.Fatalf("Berlin days: kept %v, want [a b]", got)
	}
	// In UTC all three fall on Mar 1: one daily bucket, and nothing older.
	if got, _ := kept(Plan(items, p, time.UTC)); fmt.Sprint(got) != "[a]" {
		t.Fatalf("UTC days: kept %v, want [a]", got)
	}
}

func TestGFSHourlyAcrossDSTFallBack(t *testing.T) {
	t.Parallel()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	// Oct 25 2026: 03:00 CEST becomes 02:00 CET. Backups every 30 minutes
	// from 00:00 to 01:30 UTC cover local 02:00-02:30 CEST, then 02:00-02:30 CET.
	var items []Item
	for i := range 4 {
		tm := day("2026-10-25 00:00").Add(time.Duration(i) * 30 * time.Minute)
		items = append(items, Item{Key: tm.Format("15:04"), Time: tm})
	}
	got, why := kept(Plan(items, Policy{Mode: ModeGFS, Hourly: 2}, berlin))
	// Two distinct local hours named "02": the newest of each is kept.
	if fmt.Sprint(got) != "[00:30 01:30]" {
		t.Fatalf("kept %v (%v), want [00:30 01:30]", got, why)
	}
}

func TestSeveralPerDayNewestRepresentsBucket(t *testing.T) {
	t.Parallel()
	items := []Item{
		{Key: "mon-09", Time: day("2026-11-16 09:00")}, {Key: "mon-21", Time: day("2026-11-16 21:00")},
		{Key: "tue-09", Time: day("2026-11-17 09:00")}, {Key: "tue-21", Time: day("2026-11-17 21:00")},
		{Key: "wed-09", Time: day("2026-11-18 09:00")},
	}
	got, _ := kept(Plan(items, Policy{Mode: ModeGFS, Daily: 3}, time.UTC))
	if fmt.Sprint(got) != "[mon-21 tue-21 wed-09]" {
		t.Fatalf("kept %v", got)
	}
}

func TestIrregularBackupsGapsCostNothing(t *testing.T) {
	t.Parallel()
	// A job that failed for two weeks: daily:3 keeps the 3 newest days that
	// have backups, not the last 3 calendar days.
	items := []Item{{Key: "nov-30", Time: day("2026-11-30 03:00")}, {Key: "nov-10", Time: day("2026-11-10 03:00")},
		{Key: "nov-09", Time: day("2026-11-09 03:00")}, {Key: "nov-08", Time: day("2026-11-08 03:00")}}
	got, _ := kept(Plan(items, Policy{Mode: ModeGFS, Daily: 3}, time.UTC))
	if fmt.Sprint(got) != "[nov-09 nov-10 nov-30]" {
		t.Fatalf("kept %v", got)
	}
}

func TestSimpleAndLocked(t *testing.T) {
	t.Parallel()
	items := daily("2026-11-01", "2026-11-10")
	items[9].Locked = true // the newest
	items[0].Locked = true // the oldest
	got, why := kept(Plan(items, Policy{Mode: ModeSimple, Keep: 3}, time.UTC))
	want := days("2026-11-01", "2026-11-10", "2026-11-09", "2026-11-08", "2026-11-07")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("kept %v, want %v (locked ones do not count)", got, want)
	}
	if why["2026-11-10T03:00"] != "locked" || why["2026-11-09T03:00"] != "keep last 3 (#1)" {
		t.Fatalf("reasons %v", why)
	}
	if got, _ := kept(Plan(items, Policy{Mode: ModeNone}, time.UTC)); len(got) != 10 {
		t.Fatalf("none kept %d", len(got))
	}
}

func TestPolicyValidation(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{`{"mode":"simple"}`, `{"mode":"gfs"}`, `{"mode":"fifo"}`, `{"mode":"simple","keep":-1}`, `{"mode":"simple","keep":3,"kep":1}`} {
		if _, err := Parse([]byte(raw)); err == nil {
			t.Errorf("%s accepted", raw)
		}
	}
	if p, err := Parse(nil); err != nil || p.Mode != ModeNone {
		t.Errorf("empty policy: %v %v", p, err)
	}
}

// randomItems makes irregular backups over about two years, some locked.
func randomItems(r *rand.Rand) []Item {
	n := r.Intn(120)
	t := day("2025-01-01 00:00")
	var out []Item
	for i := range n {
		t = t.Add(time.Duration(r.Intn(72*60)) * time.Minute)
		out = append(out, Item{Key: fmt.Sprintf("b%03d", i), Time: t, Locked: r.Intn(10) == 0})
	}
	return out
}

func randomPolicy(r *rand.Rand) Policy {
	if r.Intn(3) == 0 {
		return Policy{Mode: ModeSimple, Keep: 1 + r.Intn(10)}
	}
	p := Policy{Mode: ModeGFS, Hourly: r.Intn(5), Daily: r.Intn(8), Weekly: r.Intn(5), Monthly: r.Intn(13), Yearly: r.Intn(3)}
	if p.Limit() == 0 {
		p.Daily = 1
	}
	return p
}

func TestPlanProperties(t *testing.T) {
	t.Parallel()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	for seed := int64(0); seed < 2000; seed++ {
		r := rand.New(rand.NewSource(seed))
		items, p := randomItems(r), randomPolicy(r)
		plan := Plan(items, p, berlin)
		name := fmt.Sprintf("seed %d, %d items, %s", seed, len(items), p)

		// Deterministic: the input order does not matter.
		shuffled := append([]Item(nil), items...)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if fmt.Sprint(Plan(shuffled, p, berlin)) != fmt.Sprint(plan) {
			t.Fatalf("%s: the plan depends on input order", name)
		}
		var keep []Item
		var newest *Decision
		unlockedKept := 0
		for i, d := range plan {
			if !d.Locked && newest == nil {
				newest = &plan[i]
			}
			if d.Locked && !d.Keep {
				t.Fatalf("%s: locked %s deleted", name, d.Key)
			}
			if d.Keep {
				keep = append(keep, d.Item)
				if !d.Locked {
					unlockedKept++
				}
			}
			if d.Reason == "" {
				t.Fatalf("%s: %s has no reason", name, d.Key)
			}
		}
		if newest != nil && !newest.Keep {
			t.Fatalf("%s: the newest backup %s would be deleted", name, newest.Key)
		}
		if unlockedKept > max(p.Limit(), 1) {
			t.Fatalf("%s: kept %d unlocked backups, policy allows %d", name, unlockedKept, p.Limit())
		}
		// Idempotent: planning the kept set again deletes nothing.
		for _, d := range Plan(keep, p, berlin) {
			if !d.Keep {
				t.Fatalf("%s: re-planning the kept set deletes %s (%s)", name, d.Key, d.Reason)
			}
		}
	}
}

func TestReasonsNameTheirBucket(t *testing.T) {
	t.Parallel()
	for _, d := range Plan(daily("2026-11-01", "2026-11-20"), Policy{Mode: ModeGFS, Daily: 7, Weekly: 2}, time.UTC) {
		if d.Keep && !strings.HasPrefix(d.Reason, "daily 2026-11-") && !strings.HasPrefix(d.Reason, "weekly 2026-W") {
			t.Fatalf("%s: reason %q", d.Key, d.Reason)
		}
		if !d.Keep && d.Reason != "beyond GFS 0h/7d/2w/0m/0y" {
			t.Fatalf("%s: delete reason %q", d.Key, d.Reason)
		}
	}
}
