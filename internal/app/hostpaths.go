package app

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/plugin"
)

// allowHostPaths refuses a config that names a directory or a program to
// run outside the server's tool directories: which programs dbackup runs
// is the host's decision (-tool-dirs), not the API's, or the admin role
// would be code execution on the host.
func (a *App) allowHostPaths(e *backup.Endpoint, fields []plugin.Field) error {
	var cfg map[string]any
	if err := json.Unmarshal(e.Config, &cfg); err != nil {
		return nil // the plugin's strict decoding says what is wrong
	}
	for _, f := range fields {
		v, _ := cfg[f.Name].(string)
		if f.Host == "" || v == "" {
			continue
		}
		ok := false
		switch f.Host {
		case "dir":
			ok = a.inToolDirs(v)
		case "program":
			ok = slices.Contains(f.Choices, v) && !strings.ContainsRune(v, '/') || filepath.IsAbs(v) && a.inToolDirs(filepath.Dir(v))
		}
		if !ok {
			return fmt.Errorf("%w: %s %q is not in one of the server's tool directories %v: the host sets them (-tool-dirs or DBACKUP_TOOL_DIRS)",
				backup.ErrInvalid, f.Name, v, a.Cfg.ToolDirs)
		}
	}
	return nil
}

// inToolDirs tells whether dir is a tool directory or inside one.
func (a *App) inToolDirs(dir string) bool {
	if !filepath.IsAbs(dir) {
		return false
	}
	dir = filepath.Clean(dir)
	for _, t := range a.Cfg.ToolDirs {
		if rel, err := filepath.Rel(t, dir); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return true
		}
	}
	return false
}
