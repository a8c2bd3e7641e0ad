package schedule

import (
	"testing"
	"time"
)

func TestSimpleRoundTripAndWords(t *testing.T) {
	for _, c := range []struct {
		in    Simple
		cron  string
		words string
	}{
		{Simple{Every: "hourly", Minute: 15}, "15 * * * *", "every hour at :15"},
		{Simple{Every: "daily", Hour: 3}, "0 3 * * *", "every day at 03:00"},
		{Simple{Every: "weekly", Hour: 22, Minute: 30, Weekday: time.Sunday}, "30 22 * * 0", "every Sunday at 22:30"},
		{Simple{Every: "monthly", Hour: 1, Day: 28}, "0 1 28 * *", "every month on day 28 at 01:00"},
	} {
		got, err := c.in.Cron()
		if err != nil || got != c.cron {
			t.Fatalf("%+v: %q %v, want %q", c.in, got, err, c.cron)
		}
		if _, err := Parse(got); err != nil {
			t.Fatalf("%q does not parse: %v", got, err)
		}
		back, ok := SimpleOf(got)
		if !ok || back != c.in {
			t.Fatalf("%q read back as %+v %v", got, back, ok)
		}
		if w := Describe(got); w != c.words {
			t.Fatalf("%q in words: %q, want %q", got, w, c.words)
		}
	}
	if w := Describe("@daily"); w != "every day at 00:00" {
		t.Fatalf("@daily: %q", w)
	}
	for _, expr := range []string{"*/15 * * * *", "0 3 * * 1-5", "0 3 31 * *", "0 3 1 1 *", "00 3 * * *"} {
		if _, ok := SimpleOf(expr); ok {
			t.Fatalf("%q is not simple", expr)
		}
		if w := Describe(expr); w != "cron "+expr {
			t.Fatalf("%q in words: %q", expr, w)
		}
	}
	for _, bad := range []Simple{{Every: "monthly", Day: 31}, {Every: "daily", Hour: 24}, {Every: "yearly"}, {Every: "hourly", Minute: 60}} {
		if _, err := bad.Cron(); err == nil {
			t.Fatalf("%+v accepted", bad)
		}
	}
}
