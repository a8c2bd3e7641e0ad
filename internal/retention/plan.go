package retention

import (
	"fmt"
	"sort"
	"time"
)

// Item is one backup of one job at one destination.
type Item struct {
	Key    string    `json:"key"`
	Time   time.Time `json:"time"` // from the sidecar
	Locked bool      `json:"locked"`
}

// Decision says whether to keep an item, and why.
type Decision struct {
	Item
	Keep   bool   `json:"keep"`
	Reason string `json:"reason"`
}

// tier is one GFS level: a count and how to name a backup's bucket.
type tier struct {
	name  string
	limit int
	key   func(t time.Time) string
}

func tiers(p Policy) []tier {
	return []tier{
		// The offset tells the two 02:00 hours of a DST fall-back apart.
		{"hourly", p.Hourly, func(t time.Time) string { return t.Format("2006-01-02 15:00 -0700") }},
		{"daily", p.Daily, func(t time.Time) string { return t.Format("2006-01-02") }},
		{"weekly", p.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) }},
		{"monthly", p.Monthly, func(t time.Time) string { return t.Format("2006-01") }},
		{"yearly", p.Yearly, func(t time.Time) string { return t.Format("2006") }},
	}
}

// Plan decides, for the backups of one job at one destination, which to keep.
// Decisions come back newest first. Rules:
//   - locked backups are kept and do not count toward any limit;
//   - the others are taken newest first; simple keeps the first Keep;
//   - GFS fills hourly, daily, weekly (ISO), monthly, yearly in that order,
//     each with the newest backup of a bucket (in loc) the tier has not seen;
//     a bucket already represented by a kept backup is skipped, so tiers never
//     overlap and reach further back instead; buckets are counted, not
//     calendar windows, so a gap in backups never costs older ones;
//   - the newest unlocked backup is always kept.
func Plan(items []Item, p Policy, loc *time.Location) []Decision {
	if loc == nil {
		loc = time.UTC
	}
	ds := make([]Decision, len(items))
	for i, it := range items {
		ds[i] = Decision{Item: it}
	}
	// Newest first; ties broken by key so the plan never depends on input order.
	sort.Slice(ds, func(i, j int) bool {
		if !ds[i].Time.Equal(ds[j].Time) {
			return ds[i].Time.After(ds[j].Time)
		}
		return ds[i].Key > ds[j].Key
	})
	var open []*Decision
	for i := range ds {
		if ds[i].Locked {
			ds[i].Keep, ds[i].Reason = true, "locked"
		} else {
			open = append(open, &ds[i])
		}
	}
	switch p.Mode {
	case ModeSimple:
		for i, d := range open {
			if i < p.Keep {
				d.Keep, d.Reason = true, fmt.Sprintf("keep last %d (#%d)", p.Keep, i+1)
			}
		}
	case ModeGFS:
		for _, t := range tiers(p) {
			if t.limit <= 0 {
				continue
			}
			used := map[string]bool{}
			for _, d := range open {
				if d.Keep {
					used[t.key(d.Time.In(loc))] = true
				}
			}
			n := 0
			for _, d := range open {
				if n >= t.limit {
					break
				}
				if d.Keep {
					continue
				}
				k := t.key(d.Time.In(loc))
				if used[k] {
					continue
				}
				used[k] = true
				d.Keep, d.Reason = true, t.name+" "+k
				n++
			}
		}
	default:
		for _, d := range open {
			d.Keep, d.Reason = true, "no retention policy"
		}
	}
	if len(open) > 0 && !open[0].Keep {
		open[0].Keep, open[0].Reason = true, "newest backup"
	}
	for _, d := range open {
		if !d.Keep {
			d.Reason = "beyond " + p.String()
		}
	}
	return ds
}

// Summary counts a plan's decisions.
func Summary(ds []Decision) (keep, del int) {
	for _, d := range ds {
		if d.Keep {
			keep++
		} else {
			del++
		}
	}
	return keep, del
}
