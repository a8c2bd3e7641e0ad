// Command screenshots writes PNG screenshots of every page of the web UI,
// light and dark, desktop and phone width, into docs/screenshots/ (`make
// screenshots`). It runs dbackup in-process on a throwaway data directory
// with demo data (an SQLite source, a local destination, real backups and
// a year of history) and drives Debian's Chromium. It is not part of the
// dbackup binary.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	_ "modernc.org/sqlite"

	"github.com/dbackup/dbackup/internal/api"
	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/config"
	"github.com/dbackup/dbackup/internal/store"
	"github.com/dbackup/dbackup/internal/web"
)

func main() {
	out := flag.String("out", "docs/screenshots", "directory of the PNG files")
	chromium := flag.String("chromium", "/usr/bin/chromium", "Chromium binary")
	flag.Parse()
	if err := run(*out, *chromium); err != nil {
		log.Fatal(err)
	}
}

// shot is one page to capture; prepare runs on it before the capture.
type shot struct {
	name, path string
	prepare    []chromedp.Action[chromedp.Void]
	full       bool // the whole page, not the first screen
}

func run(out, chromium string) error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "dbackup-screenshots-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	a, err := app.Open(ctx, config.Config{DataDir: tmp, DatabaseURL: filepath.Join(tmp, "db"), SecretKeyFile: filepath.Join(tmp, "key"), Timezone: "Europe/Berlin"},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer a.Close()
	a.Serve(ctx)
	// The pages are served by a handler made again after the demo data is
	// in: the dashboard counts past days once, when its handler starts.
	var current atomic.Pointer[http.ServeMux]
	serve := func() error {
		h, err := web.New(a)
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("/api/", api.New(a))
		mux.Handle("/", h)
		current.Store(mux)
		return nil
	}
	if err := serve(); err != nil {
		return err
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { current.Load().ServeHTTP(w, r) }))
	defer srv.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.Flag("hide-scrollbars", true), chromedp.UserDataDir(filepath.Join(tmp, "chromium")))
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelA()
	b, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(b); err != nil { // start the browser on b, not on a step's context
		return fmt.Errorf("start %s: %w", chromium, err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}

	// The first start, before anyone exists.
	if err := capture(b, out, shot{name: "setup", path: srv.URL + "/setup"}); err != nil {
		return err
	}
	key, err := demo(ctx, a, tmp)
	if err != nil {
		return err
	}
	if err := serve(); err != nil {
		return err
	}
	if err := capture(b, out, shot{name: "login", path: srv.URL + "/login"}); err != nil {
		return err
	}
	if err := chromedp.Do(b, chromedp.Navigate(srv.URL+"/login"),
		chromedp.SendKeys(`input[name=name]`, "admin"), chromedp.SendKeys(`input[name=password]`, "demo-password-1"),
		chromedp.Submit(`input[name=password]`), chromedp.WaitVisible(`nav.side`)); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	last, err := a.Store.ListExecutions(ctx, store.ExecutionFilter{Kind: backup.KindBackup, Status: backup.StatusSuccess, Limit: 1})
	if err != nil || len(last) == 0 {
		return fmt.Errorf("no successful run to show: %v", err)
	}
	drills, err := a.Store.ListExecutions(ctx, store.ExecutionFilter{Kind: backup.KindDrill, Limit: 1})
	if err != nil || len(drills) == 0 {
		return fmt.Errorf("no drill to show: %v", err)
	}
	shots := []shot{
		{name: "dashboard", path: srv.URL + "/", full: true},
		{name: "jobs", path: srv.URL + "/jobs"},
		{name: "job-form", path: srv.URL + "/jobs/nightly-app/edit", prepare: []chromedp.Action[chromedp.Void]{press("check"), chromedp.WaitVisible(`#next-runs`)}},
		{name: "execution", path: srv.URL + "/executions/" + last[0].ID},
		{name: "drill", path: srv.URL + "/executions/" + drills[0].ID},
		{name: "history", path: srv.URL + "/executions"},
		{name: "storage", path: srv.URL + "/storage/nas"},
		{name: "restore", path: srv.URL + "/restore?dest=nas&key=" + key, prepare: []chromedp.Action[chromedp.Void]{chromedp.SetValue(`select[name=source]`, "shop"), press("preflight-check"), chromedp.WaitVisible(`#preflight`)}},
		{name: "sources", path: srv.URL + "/sources"},
		{name: "source-form", path: srv.URL + "/sources/new?type=postgres"},
		{name: "destinations", path: srv.URL + "/destinations"},
		{name: "notifications", path: srv.URL + "/channels"},
		{name: "encryption", path: srv.URL + "/profiles"},
		{name: "settings", path: srv.URL + "/settings"},
		{name: "users", path: srv.URL + "/users"},
		{name: "audit", path: srv.URL + "/audit"},
	}
	for _, s := range shots {
		if err := capture(b, out, s); err != nil {
			return err
		}
	}
	return nil
}

// press clicks a submit button by its id, from the page's own script (the
// emulated viewports leave mouse clicks on a long form unreliable).
func press(id string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](fmt.Sprintf("document.getElementById(%q).click() === undefined", id))(ctx, t)
		return err
	})
}

// capture writes four screenshots of a page: light and dark, desktop and
// phone width.
func capture(b context.Context, out string, s shot) error {
	for _, theme := range []string{"light", "dark"} {
		for _, size := range []struct {
			name          string
			width, height int64
			mobile        bool
		}{{"desktop", 1280, 860, false}, {"phone", 390, 844, true}} {
			steps := []chromedp.Action[chromedp.Void]{
				chromedp.EmulateViewport(size.width, size.height, func(p *emulation.SetDeviceMetricsOverrideParams, _ *emulation.SetTouchEmulationEnabledParams) {
					p.Mobile = size.mobile
				}),
				chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
					_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
						Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: theme}}})
					return err
				}),
				chromedp.Navigate(s.path), chromedp.WaitReady(`main`),
			}
			tctx, cancel := context.WithTimeout(b, 30*time.Second)
			err := chromedp.Do(tctx, append(steps, s.prepare...)...)
			cancel()
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			shoot := chromedp.CaptureScreenshot()
			if s.full {
				shoot = chromedp.FullScreenshot(100) // 100: PNG
			}
			png, err := chromedp.Run(b, shoot)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			file := filepath.Join(out, fmt.Sprintf("%s-%s-%s.png", s.name, size.name, theme))
			if err := os.WriteFile(file, png, 0o644); err != nil {
				return err
			}
			fmt.Println(file)
		}
	}
	return nil
}

// demo fills the store: an admin, an SQLite source with data, a local
// destination, a profile, two jobs run for real (one fails: its database
// file is missing), a channel, a policy and a year of history.
func demo(ctx context.Context, a *app.App, dir string) (string, error) {
	if _, err := a.Setup(ctx, "admin", "demo-password-1"); err != nil {
		return "", err
	}
	if err := os.Mkdir(filepath.Join(dir, "nas"), 0o700); err != nil {
		return "", err
	}
	dbPath := filepath.Join(dir, "shop.db")
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		return "", err
	}
	_, err = db.Exec(`CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, total REAL);
		WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 20000) INSERT INTO orders SELECT i, hex(randomblob(8)), i * 1.5 FROM c`)
	db.Close()
	if err != nil {
		return "", err
	}
	raw := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	steps := []func() error{
		func() error {
			_, err := a.CreateEndpoint(ctx, app.KindSource, app.EndpointInput{Name: "shop", Type: "sqlite", Config: raw(map[string]string{"path": dbPath})})
			return err
		},
		func() error {
			_, err := a.CreateEndpoint(ctx, app.KindSource, app.EndpointInput{Name: "crm", Type: "sqlite", Config: raw(map[string]string{"path": filepath.Join(dir, "gone.db")})})
			return err
		},
		func() error {
			_, err := a.CreateEndpoint(ctx, app.KindSource, app.EndpointInput{Name: "main-postgres", Type: "postgres",
				Config: raw(map[string]any{"host": "db.internal", "user": "backup"}), Secrets: map[string]string{"password": "not-a-real-one"}})
			return err
		},
		func() error {
			_, err := a.CreateEndpoint(ctx, app.KindDestination, app.EndpointInput{Name: "nas", Type: "local", Config: raw(map[string]string{"path": filepath.Join(dir, "nas")})})
			return err
		},
		func() error {
			_, err := a.CreateEndpoint(ctx, app.KindChannel, app.EndpointInput{Name: "ops-ntfy", Type: "ntfy", Config: raw(map[string]string{"topic": "backups"})})
			return err
		},
		func() error { _, err := a.CreateProfile(ctx, "offsite", ""); return err },
		func() error {
			_, err := a.CreatePolicy(ctx, app.PolicyInput{Name: "gfs-year", Policy: raw(map[string]any{"mode": "gfs", "daily": 7, "weekly": 4, "monthly": 12}), Default: true})
			return err
		},
		func() error {
			_, err := a.CreateJob(ctx, app.JobInput{Name: "nightly-app", Source: "shop", Destinations: []app.JobDestInput{{Destination: "nas"}},
				Compression: "zstd", Profile: "offsite", Schedule: "30 2 * * *", DrillSchedule: "0 4 * * 0", ProvenWithin: backup.Duration(8 * 24 * time.Hour),
				Notifications: []app.JobChannelInput{{Channel: "ops-ntfy", Outcomes: []string{"failed", "partial"}}}})
			return err
		},
		func() error {
			_, err := a.CreateJob(ctx, app.JobInput{Name: "crm-hourly", Source: "crm", Destinations: []app.JobDestInput{{Destination: "nas"}},
				Compression: "gzip", Schedule: "15 * * * *"})
			return err
		},
		func() error { _, err := a.CreateUser(ctx, "dana", "operator", "demo-password-2"); return err },
		func() error { _, _, err := a.CreateAPIKey(ctx, "ci-pipeline", "operator", 90*24*time.Hour); return err },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return "", err
		}
	}
	// A year of history for the heatmap (records only: no backup behind them).
	now := time.Now().UTC()
	for d := 365; d >= 1; d-- {
		at := now.AddDate(0, 0, -d).Add(-time.Duration(d%5) * time.Hour)
		st := backup.StatusSuccess
		switch {
		case d%29 == 0:
			st = backup.StatusFailed
		case d%47 == 0:
			st = backup.StatusPartial
		case d%11 == 0:
			continue
		}
		end := at.Add(time.Duration(40+d%30) * time.Second)
		e := &backup.Execution{JobName: "nightly-app", Kind: backup.KindBackup, Status: st, Trigger: backup.TriggerSchedule, Stage: backup.StageComplete,
			CreatedAt: at, StartedAt: &at, EndedAt: &end, BytesDumped: 48 << 20, BytesStored: 9 << 20}
		if st == backup.StatusFailed {
			e.Error = "destination nas: no space left on device"
		}
		if err := a.Store.CreateExecution(ctx, e); err != nil {
			return "", err
		}
	}
	var key string
	for range 2 {
		e, err := a.RunJob(ctx, "nightly-app", backup.TriggerManual, false)
		if err != nil {
			return "", err
		}
		if e.Status != backup.StatusSuccess {
			return "", fmt.Errorf("demo backup %s: %s", e.Status, e.Error)
		}
		key = e.Destinations[0].Key
	}
	if d, err := a.Drill(ctx, app.DrillRequest{Destination: "nas", Key: key}); err != nil || d.Status != backup.StatusSuccess {
		return "", fmt.Errorf("demo drill: %v %+v", err, d)
	}
	a.RunJob(ctx, "crm-hourly", backup.TriggerManual, false) // fails: its file is gone
	if err := a.RefreshUsage(ctx); err != nil {
		return "", err
	}
	return key, nil
}
