package app

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/runner"
)

// setting describes one setting stored in the metadata database.
type setting struct {
	def      string
	min, max int
	help     string
}

var settings = map[string]setting{
	SettingMaxConcurrent:           {"1", 1, 64, "executions run at once by serve"},
	runner.SettingMaxDeletePercent: {"50", 0, 100, "largest share (%) of a job's backups at a destination that retention deletes at once"},
	SettingNotifyTimeout:           {"10", 1, 300, "seconds a notification may take per attempt"},
	SettingNotifyAttempts:          {"3", 1, 10, "attempts per notification before it is logged as failed"},
}

// Setting is a setting's current value.
type Setting struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	Default string `json:"default"`
	Help    string `json:"help"`
}

// Settings lists every setting with its value.
func (a *App) Settings(ctx context.Context) ([]Setting, error) {
	var out []Setting
	for name, s := range settings {
		v, ok, err := a.Store.GetSetting(ctx, name)
		if err != nil {
			return nil, err
		}
		if !ok {
			v = s.def
		}
		out = append(out, Setting{Name: name, Value: v, Default: s.def, Help: s.help})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// SetSetting validates and stores a setting.
func (a *App) SetSetting(ctx context.Context, name, value string) error {
	s, ok := settings[name]
	if !ok {
		return fmt.Errorf("%w: unknown setting %q", backup.ErrInvalid, name)
	}
	n, err := strconv.Atoi(value)
	if err != nil || n < s.min || n > s.max {
		return fmt.Errorf("%w: %s must be a whole number from %d to %d", backup.ErrInvalid, name, s.min, s.max)
	}
	return a.Store.SetSetting(ctx, name, strconv.Itoa(n))
}
