package app

import (
	"context"
	"encoding/json"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
)

// Usage is what a destination held when it was last listed in full.
type Usage struct {
	Backups int       `json:"backups"`
	Bytes   int64     `json:"bytes"`
	At      time.Time `json:"at"`
	Error   string    `json:"error,omitempty"`
}

// usageKey is where a destination's usage is kept, beside the settings
// (its name is not a setting's, so the settings list never shows it).
func usageKey(destID string) string { return "usage." + destID }

// recordUsage keeps what a full listing of a destination found.
func (a *App) recordUsage(ctx context.Context, destID string, u Usage) {
	b, _ := json.Marshal(u)
	if err := a.Store.SetSetting(ctx, usageKey(destID), string(b)); err != nil {
		a.Log.Warn("record storage use", "destination", destID, "err", err)
	}
}

// StorageUsage returns each destination's usage as last listed, by
// destination id; a destination never listed has none.
func (a *App) StorageUsage(ctx context.Context, dests []*backup.Endpoint) (map[string]*Usage, error) {
	out := map[string]*Usage{}
	for _, d := range dests {
		v, ok, err := a.Store.GetSetting(ctx, usageKey(d.ID))
		if err != nil {
			return nil, err
		}
		var u Usage
		if ok && json.Unmarshal([]byte(v), &u) == nil {
			out[d.ID] = &u
		}
	}
	return out, nil
}

// RefreshUsage lists every destination in full, recording what each holds
// (or why it could not be listed).
func (a *App) RefreshUsage(ctx context.Context) error {
	dests, err := a.Store.Destinations().List(ctx)
	if err != nil {
		return err
	}
	for _, d := range dests {
		if _, err := a.ListBackups(ctx, d.ID, ""); err != nil {
			a.recordUsage(ctx, d.ID, Usage{At: time.Now().UTC(), Error: err.Error()})
		}
	}
	return nil
}
