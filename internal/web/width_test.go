package web

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/dbackup/dbackup/internal/api"
	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
)

// Every page fits its window, on a 1366 px desktop and a 390 px phone, in
// both themes: nothing needs a sideways scroll of the page (wide tables
// scroll inside their own box, with their first columns in view).
func TestEveryPageFitsTheWindow(t *testing.T) {
	t.Parallel()
	srv, h, a := newServer(t)
	ctx := context.Background()
	raw := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	dir := t.TempDir()
	lite := filepath.Join(dir, "app.db")
	mustDo := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := a.CreateEndpoint(ctx, app.KindSource, app.EndpointInput{Name: "a-source-with-a-rather-long-name", Type: "sqlite", Config: raw(map[string]string{"path": lite})})
	mustDo(err)
	_, err = a.CreateEndpoint(ctx, app.KindDestination, app.EndpointInput{Name: "disk", Type: "local", Config: raw(map[string]string{"path": t.TempDir()})})
	mustDo(err)
	j, err := a.CreateJob(ctx, app.JobInput{Name: "nightly-database-backup-of-the-shop", Source: "a-source-with-a-rather-long-name",
		Destinations: []app.JobDestInput{{Destination: "disk"}}, Compression: "zstd", Schedule: "30 2 * * *"})
	mustDo(err)
	db, err := sql.Open("sqlite", lite)
	mustDo(err)
	_, err = db.Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('x'), ('y')")
	mustDo(err)
	db.Close()
	e, err := a.RunJob(ctx, j.Name, backup.TriggerManual, false)
	mustDo(err)
	_ = h
	mux := http.NewServeMux()
	mux.Handle("/api/", api.New(a))
	mux.Handle("/", srv.Config.Handler)
	full := httptest.NewServer(mux)
	t.Cleanup(full.Close)

	b := browserCtx(t)
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(b, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	run("setup", chromedp.Navigate(full.URL+"/setup"), chromedp.WaitVisible(`input[name=password2]`),
		chromedp.SendKeys(`input[name=name]`, "root"), chromedp.SendKeys(`input[name=password]`, "first-admin-pw"),
		chromedp.SendKeys(`input[name=password2]`, "first-admin-pw"), chromedp.Submit(`input[name=password2]`), chromedp.WaitVisible(`nav.side`))
	key := e.Destinations[0].Key
	pages := []string{"/", "/jobs", "/jobs/new", "/jobs/" + j.ID + "/edit", "/executions", "/executions/" + e.ID, "/storage", "/storage/disk",
		"/restore?" + url.Values{"dest": {"disk"}, "key": {key}}.Encode(), "/settings", "/users", "/audit", "/profiles",
		"/sources", "/sources/new?type=postgres", "/destinations", "/destinations/new?type=s3", "/channels", "/channels/new?type=email"}
	for _, theme := range []string{"light", "dark"} {
		for _, width := range []int64{1366, 390} {
			run("viewport", chromedp.EmulateViewport(width, 900))
			for _, p := range pages {
				run(p, chromedp.Navigate(full.URL+p), chromedp.WaitReady(`main`))
				if _, err := chromedp.Run(b, chromedp.Evaluate[string](`document.documentElement.dataset.theme = "`+theme+`"`)); err != nil {
					t.Fatal(err)
				}
				fits, err := chromedp.Run(b, chromedp.Evaluate[string](`(function () {
					var d = document.documentElement;
					if (d.scrollWidth <= window.innerWidth) return "";
					var worst = "", most = 0;
					document.querySelectorAll("main *").forEach(function (el) {
						var r = el.getBoundingClientRect();
						for (var a = el.parentElement; a; a = a.parentElement) { if (getComputedStyle(a).overflowX !== "visible") return; }
						if (r.width > 0 && r.right > window.innerWidth + 1) { worst += " | " + el.tagName + (el.id ? "#" + el.id : "") + (el.className ? "." + el.className : "") + " right=" + Math.round(r.right) + " " + el.outerHTML.slice(0, 80); }
					});
					return "scrollWidth " + d.scrollWidth + " > " + window.innerWidth + ": " + worst;
				})()`))
				if err != nil {
					t.Fatalf("%s at %d px: %v", p, width, err)
				}
				if fits != "" {
					t.Errorf("%s at %d px (%s): %s", p, width, theme, fits)
				}
				if width < 1366 {
					continue
				}
				// On a desktop, every column and action is in view: no
				// table scrolls inside its box either.
				inner, _ := chromedp.Run(b, chromedp.Evaluate[string](`Array.prototype.filter.call(document.querySelectorAll(".scroll, main table, pre"),
					function (el) { return el.tagName !== "PRE" && el.scrollWidth > el.clientWidth + 1; }).map(function (el) { return (el.id || el.className || el.tagName) + " " + el.scrollWidth + ">" + el.clientWidth; }).join(", ")`))
				if inner != "" {
					t.Errorf("%s at 1366 px (%s): scrolls sideways inside %s", p, theme, inner)
				}
			}
		}
	}
}
