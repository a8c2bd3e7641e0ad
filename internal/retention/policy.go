// Package retention plans which backups to keep. It is pure: no I/O, so the
// rules that delete a user's data can be tested exhaustively.
package retention

import (
	"encoding/json"
	"fmt"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/plugin"
)

// Mode is a policy's kind.
type Mode string

const (
	ModeNone   Mode = "none"   // keep everything
	ModeSimple Mode = "simple" // keep the newest Keep backups
	ModeGFS    Mode = "gfs"    // grandfather-father-son tiers
)

// Policy says how many backups to keep. Locked backups are always kept on
// top of it.
type Policy struct {
	Mode    Mode `json:"mode"`
	Keep    int  `json:"keep,omitempty"`
	Hourly  int  `json:"hourly,omitempty"`
	Daily   int  `json:"daily,omitempty"`
	Weekly  int  `json:"weekly,omitempty"`
	Monthly int  `json:"monthly,omitempty"`
	Yearly  int  `json:"yearly,omitempty"`
}

// Validate checks the policy.
func (p Policy) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: retention: "+format, append([]any{backup.ErrInvalid}, args...)...)
	}
	for _, n := range []int{p.Keep, p.Hourly, p.Daily, p.Weekly, p.Monthly, p.Yearly} {
		if n < 0 || n > 100000 {
			return bad("counts must be between 0 and 100000")
		}
	}
	switch p.Mode {
	case ModeNone:
	case ModeSimple:
		if p.Keep < 1 {
			return bad("simple policy must keep at least 1 backup")
		}
	case ModeGFS:
		if p.Hourly+p.Daily+p.Weekly+p.Monthly+p.Yearly == 0 {
			return bad("a GFS policy needs at least one of hourly, daily, weekly, monthly, yearly")
		}
	default:
		return bad("mode %q (want none, simple or gfs)", p.Mode)
	}
	return nil
}

// Limit is the most unlocked backups the policy keeps.
func (p Policy) Limit() int {
	switch p.Mode {
	case ModeSimple:
		return p.Keep
	case ModeGFS:
		return p.Hourly + p.Daily + p.Weekly + p.Monthly + p.Yearly
	}
	return -1 // unlimited
}

// String describes the policy in a few words.
func (p Policy) String() string {
	switch p.Mode {
	case ModeSimple:
		return fmt.Sprintf("keep the newest %d", p.Keep)
	case ModeGFS:
		return fmt.Sprintf("GFS %dh/%dd/%dw/%dm/%dy", p.Hourly, p.Daily, p.Weekly, p.Monthly, p.Yearly)
	}
	return "keep all"
}

// Parse decodes a policy strictly; empty JSON means keep all.
func Parse(raw json.RawMessage) (Policy, error) {
	var p Policy
	if err := plugin.DecodeStrict(raw, &p); err != nil {
		return p, err
	}
	if p.Mode == "" {
		p.Mode = ModeNone
	}
	return p, p.Validate()
}
