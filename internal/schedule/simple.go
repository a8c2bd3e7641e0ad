package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Simple is a schedule as the job form's simple mode picks it: every hour
// at a minute, or every day, week (on a weekday) or month (on a day) at a
// time of day.
type Simple struct {
	Every   string // hourly, daily, weekly or monthly
	Minute  int
	Hour    int
	Weekday time.Weekday // weekly
	Day     int          // monthly, 1-28 so that every month has it
}

// Cron is the expression of a simple schedule; it checks the fields.
func (s Simple) Cron() (string, error) {
	switch {
	case s.Minute < 0 || s.Minute > 59:
		return "", fmt.Errorf("minute must be 0 to 59")
	case s.Hour < 0 || s.Hour > 23:
		return "", fmt.Errorf("hour must be 0 to 23")
	}
	switch s.Every {
	case "hourly":
		return fmt.Sprintf("%d * * * *", s.Minute), nil
	case "daily":
		return fmt.Sprintf("%d %d * * *", s.Minute, s.Hour), nil
	case "weekly":
		if s.Weekday < time.Sunday || s.Weekday > time.Saturday {
			return "", fmt.Errorf("choose a day of the week")
		}
		return fmt.Sprintf("%d %d * * %d", s.Minute, s.Hour, s.Weekday), nil
	case "monthly":
		if s.Day < 1 || s.Day > 28 {
			return "", fmt.Errorf("day of the month must be 1 to 28 (every month has it)")
		}
		return fmt.Sprintf("%d %d %d * *", s.Minute, s.Hour, s.Day), nil
	}
	return "", fmt.Errorf("choose hourly, daily, weekly or monthly")
}

// SimpleOf reads an expression back into simple mode; ok is false when the
// expression says more than simple mode can.
func SimpleOf(expr string) (s Simple, ok bool) {
	e := strings.TrimSpace(expr)
	if d, found := descriptors[strings.ToLower(e)]; found {
		e = d
	}
	f := strings.Fields(e)
	if len(f) != 5 || f[3] != "*" {
		return s, false
	}
	num := func(v string, min, max int) (int, bool) {
		n, err := strconv.Atoi(v)
		return n, err == nil && n >= min && n <= max && strconv.Itoa(n) == v
	}
	var okM, okH bool
	if s.Minute, okM = num(f[0], 0, 59); !okM {
		return s, false
	}
	if f[1] == "*" && f[2] == "*" && f[4] == "*" {
		return Simple{Every: "hourly", Minute: s.Minute}, true
	}
	if s.Hour, okH = num(f[1], 0, 23); !okH {
		return s, false
	}
	switch {
	case f[2] == "*" && f[4] == "*":
		s.Every = "daily"
	case f[2] == "*":
		d, ok := num(f[4], 0, 7)
		if !ok {
			return s, false
		}
		s.Every, s.Weekday = "weekly", time.Weekday(d%7)
	case f[4] == "*":
		d, ok := num(f[2], 1, 28)
		if !ok {
			return s, false
		}
		s.Every, s.Day = "monthly", d
	default:
		return s, false
	}
	return s, true
}

// Describe says an expression in words ("every day at 03:00"); an
// expression simple mode cannot say is described by its fields.
func Describe(expr string) string {
	s, ok := SimpleOf(expr)
	if !ok {
		return "cron " + strings.TrimSpace(expr)
	}
	at := fmt.Sprintf("%02d:%02d", s.Hour, s.Minute)
	switch s.Every {
	case "hourly":
		return fmt.Sprintf("every hour at :%02d", s.Minute)
	case "daily":
		return "every day at " + at
	case "weekly":
		return "every " + s.Weekday.String() + " at " + at
	}
	return fmt.Sprintf("every month on day %d at %s", s.Day, at)
}
