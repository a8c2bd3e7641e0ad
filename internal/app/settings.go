package app

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/queue"
	"github.com/dbackup/dbackup/internal/runner"
)

// setting describes one setting stored in the metadata database.
type setting struct {
	def   string
	help  string
	check func(string) (string, error)
}

func intRange(min, max int) func(string) (string, error) {
	return func(v string) (string, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n < min || n > max {
			return "", fmt.Errorf("must be a whole number from %d to %d", min, max)
		}
		return strconv.Itoa(n), nil
	}
}

func timezone(v string) (string, error) {
	if _, err := time.LoadLocation(v); err != nil || v == "" {
		return "", fmt.Errorf("must be an IANA time zone such as Europe/Berlin or UTC")
	}
	return v, nil
}

func namingTemplate(v string) (string, error) {
	if err := backup.CheckNamingTemplate(v); err != nil {
		return "", errors.New(strings.TrimPrefix(err.Error(), backup.ErrInvalid.Error()+": naming template: "))
	}
	return v, nil
}

var settings = map[string]setting{
	SettingMaxConcurrent:            {"1", "executions run at once, across all nodes", intRange(1, 64)},
	queue.SettingTimezone:           {"", "IANA time zone of schedules, backup names and retention buckets (empty: the -timezone flag)", timezone},
	runner.SettingStallMinutes:      {"60", "minutes without data moving before a run fails as stalled (0: never)", intRange(0, 10080)},
	SettingShutdownGrace:            {"60", "seconds running backups may finish at shutdown before they are cancelled", intRange(0, 3600)},
	runner.SettingNamingTemplate:    {"", "backup name of jobs without their own: {job_name} {db_name} and yyyy MM dd HH mm ss (empty: " + backup.DefaultNamingTemplate + ")", namingTemplate},
	runner.SettingMaxDeletePercent:  {"50", "largest share (%) of a job's backups at a destination that retention deletes at once", intRange(0, 100)},
	SettingNotifyTimeout:            {"10", "seconds a notification may take per attempt", intRange(1, 300)},
	SettingNotifyAttempts:           {"3", "attempts per notification before it is logged as failed", intRange(1, 10)},
	runner.SettingKeepReplacedHours: {"24", "hours a restore keeps the database it replaced before it is dropped", intRange(0, 24*365)},
	SettingMemoryLimit:              {"40", "soft limit (MiB) of the Go runtime's memory per execution that may run at once (max_concurrent_jobs): the garbage collector works harder as it nears it (0: none; GOMEMLIMIT in the environment wins)", intRange(0, 1<<20)},
	runner.SettingDumpConcurrency:   {"2", "databases of one multi-database job dumped at once, and restored at once", intRange(1, 16)},
	runner.SettingDrillMaxMiB:       {"10240", "largest backup (MiB stored) drilled on its own, after backups or on a schedule (0: any size); drills asked for by hand have no bound", intRange(0, 1<<30)},
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
	v, err := checkSetting(name, value)
	if err != nil {
		return err
	}
	if err := a.Store.SetSetting(ctx, name, v); err != nil {
		return err
	}
	if (name == SettingMemoryLimit || name == SettingMaxConcurrent) && a.managesMemory.Load() {
		a.applyMemoryLimit(ctx)
	}
	return nil
}

// SettingMemoryLimit is the soft memory limit of this process, in MiB per
// execution that may run at once.
const SettingMemoryLimit = "memory_limit_mib"

// ManageMemory makes this app the process's: it sets the soft memory
// limit from the setting now and whenever the setting changes. The
// command line calls it; tests, which run many apps in one process, do not.
func (a *App) ManageMemory(ctx context.Context) {
	a.managesMemory.Store(true)
	a.applyMemoryLimit(ctx)
}

// applyMemoryLimit sets the Go runtime's soft memory limit from the
// setting, unless GOMEMLIMIT set it already.
func (a *App) applyMemoryLimit(ctx context.Context) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	mib := a.intSetting(ctx, SettingMemoryLimit)
	limit := int64(math.MaxInt64)
	if mib > 0 {
		limit = int64(mib) << 20 * int64(max(1, a.intSetting(ctx, SettingMaxConcurrent)))
	}
	debug.SetMemoryLimit(limit)
}

// CheckSetting says whether value is a valid value of a setting.
func (a *App) CheckSetting(name, value string) error {
	_, err := checkSetting(name, value)
	return err
}

func checkSetting(name, value string) (string, error) {
	s, ok := settings[name]
	if !ok {
		return "", fmt.Errorf("%w: unknown setting %q", backup.ErrInvalid, name)
	}
	v, err := s.check(value)
	if err != nil {
		return "", fmt.Errorf("%w: %s %v", backup.ErrInvalid, name, err)
	}
	return v, nil
}
