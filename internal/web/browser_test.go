package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/dbackup/dbackup/internal/api"
	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/config"
	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

// browserCtx starts a headless Chromium (Debian's, installed by
// scripts/services.sh) for one test.
func browserCtx(t *testing.T) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath("/usr/bin/chromium"), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelT)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium (`make services` installs it): %v", err)
	}
	return ctx
}

// In a real browser: first-start setup, login, Run now on the jobs page,
// the execution view's stages and log updating live until Complete, and
// the run in History.
func TestBrowserRunJobAndWatchIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, _ := pgtest.NewDatabase(t, "dbackup_ui")
	if _, err := pgtest.Connect(t, src).Exec(ctx, "CREATE TABLE t AS SELECT g, md5(g::text) FROM generate_series(1, 200000) g"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a, err := app.Open(ctx, config.Config{DataDir: dir, DatabaseURL: filepath.Join(dir, "db"), SecretKeyFile: filepath.Join(dir, "key"), Timezone: "UTC"},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	a.Queue.Poll = 50 * time.Millisecond
	a.Serve(ctx)
	h, err := New(a)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", api.New(a))
	mux.Handle("/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); a.Close() })
	destDir := t.TempDir()

	b := browserCtx(t)
	step := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(b, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(b, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	location := func() string {
		loc, _ := chromedp.Run(b, chromedp.Location())
		return loc
	}
	step("open", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(`input[name=password2]`))
	if loc := location(); !strings.HasSuffix(loc, "/setup") {
		t.Fatalf("first visit lands on %q, want the setup page", loc)
	}
	step("first-start setup",
		chromedp.SendKeys(`input[name=name]`, "root"),
		chromedp.SendKeys(`input[name=password]`, "first-admin-pw"),
		chromedp.SendKeys(`input[name=password2]`, "first-admin-pw"),
		chromedp.Submit(`input[name=password2]`),
		chromedp.WaitVisible(`nav.side`)) // signed in by the setup itself
	if who := text(`form.who span`); who != "root · admin" {
		t.Fatalf("the sidebar names the user %q", who)
	}
	// The theme button: auto → light → dark, kept across pages.
	step("theme", chromedp.Click(`#theme`), chromedp.Click(`#theme`), chromedp.Navigate(srv.URL+"/jobs"), chromedp.WaitVisible(`#theme`))
	if bg, err := chromedp.Run(b, chromedp.Evaluate[string](`document.documentElement.dataset.theme + " " + getComputedStyle(document.body).backgroundColor`)); err != nil || bg != "dark rgb(15, 19, 24)" {
		t.Fatalf("dark theme after two clicks and a new page: %q %v", bg, err)
	}
	step("theme back to auto", chromedp.Click(`#theme`))
	// A source, a destination and an encryption profile through the forms.
	step("new source",
		chromedp.Navigate(srv.URL+"/sources"), chromedp.SetValue(`#choose-type select`, "postgres"), chromedp.Submit(`#choose-type`),
		chromedp.WaitVisible(`#endpointform`),
		chromedp.SendKeys(`#endpointform input[name=name]`, "pg"),
		chromedp.SendKeys(`input[name="f.host"]`, "127.0.0.1"),
		chromedp.SendKeys(`input[name="f.port"]`, "70000"),
		chromedp.SetValue(`select[name="f.sslmode"]`, "disable"),
		chromedp.Submit(`#endpointform`), chromedp.WaitVisible(`#err-form`))
	if e := text(`#err-form`); !strings.Contains(e, "port 70000 out of range") {
		t.Fatalf("a refused port: %q", e)
	}
	step("source fixed",
		chromedp.Clear(`input[name="f.port"]`), chromedp.SendKeys(`input[name="f.user"]`, "postgres"),
		chromedp.Submit(`#endpointform`), chromedp.WaitVisible(`#msg`),
		chromedp.Navigate(srv.URL+"/sources"), chromedp.Click(`button[data-test=pg]`), chromedp.WaitVisible(`#msg`))
	if m := text(`#msg`); !strings.Contains(m, "connection ok, version") {
		t.Fatalf("source test: %q", m)
	}
	step("new destination",
		chromedp.Navigate(srv.URL+"/destinations"), chromedp.SetValue(`#choose-type select`, "local"), chromedp.Submit(`#choose-type`),
		chromedp.WaitVisible(`#endpointform`),
		chromedp.SendKeys(`#endpointform input[name=name]`, "disk"),
		chromedp.SendKeys(`input[name="f.path"]`, destDir),
		chromedp.Submit(`#endpointform`), chromedp.WaitVisible(`#msg`))
	step("new profile",
		chromedp.Navigate(srv.URL+"/profiles"), chromedp.SendKeys(`#profileform input[name=name]`, "k"),
		chromedp.Submit(`#profileform`), chromedp.WaitVisible(`#msg`))
	if e, err := a.Store.Sources().Get(ctx, "pg"); err != nil || e.Type != "postgres" || !strings.Contains(string(e.Config), `"sslmode":"disable"`) {
		t.Fatalf("source made by the form: %+v %v", e, err)
	}
	if e, err := a.Store.Destinations().Get(ctx, "disk"); err != nil || e.Type != "local" {
		t.Fatalf("destination made by the form: %+v %v", e, err)
	}
	if _, err := a.Store.GetProfile(ctx, "k"); err != nil {
		t.Fatalf("profile made by the form: %v", err)
	}
	// Create the job through the form: Check lists the source's databases,
	// tests the connections and shows the dry-run; a bad cron is shown next
	// to its field; the fixed one shows the next five runs.
	step("job form with a bad cron",
		chromedp.Navigate(srv.URL+"/jobs"), chromedp.Click(`#new-job`), chromedp.WaitVisible(`#jobform`),
		chromedp.SendKeys(`input[name=name]`, "nightly"),
		// Choosing the source checks it at once: its databases appear.
		chromedp.SetValue(`select[name=source]`, "pg"),
		chromedp.WaitVisible(fmt.Sprintf(`input[name=db][value=%q]`, src)))
	if n, _ := chromedp.Run(b, chromedp.Evaluate[int](`document.querySelectorAll("#jobform .error").length`)); n != 0 {
		t.Fatalf("the automatic source check judged the rest of the form: %d errors shown", n)
	}
	step("job form, the rest",
		chromedp.Click(`tr[data-dest=disk] input[type=checkbox]`),
		chromedp.SetValue(`select[name=profile]`, "k"),
		chromedp.Click(`input[name=mode][value=cron]`),
		chromedp.SetValue(`input[name=cron]`, "61 3 * * *"),
		chromedp.Click(`#check`),
		chromedp.WaitVisible(`#err-schedule`))
	if e := text(`#err-schedule`); !strings.Contains(e, "61") {
		t.Fatalf("cron error next to the field: %q", e)
	}
	if s := text(`#source-test`); !strings.Contains(s, "connection ok") {
		t.Fatalf("source check: %q", s)
	}
	step("job form fixed and checked",
		chromedp.Click(fmt.Sprintf(`input[name=db][value=%q]`, src)),
		chromedp.SetValue(`input[name=cron]`, "0 3 * * *"),
		chromedp.Click(`#check`), chromedp.WaitVisible(`#next-runs`))
	if n := text(`#next-runs`); strings.Count(n, "03:00") != 5 || !strings.Contains(n, "UTC") {
		t.Fatalf("next five runs: %q", n)
	}
	if p := text(`tr[data-dest=disk]`); !strings.Contains(p, "connection ok") || !strings.Contains(p, "keeps 0, deletes 0") {
		t.Fatalf("destination check and dry-run: %q", p)
	}
	step("save the job", chromedp.Click(`button[value=save]`), chromedp.WaitVisible(`button[data-run=nightly]`))
	if j, err := a.Store.GetJob(ctx, "nightly"); err != nil || j.Schedule != "0 3 * * *" || len(j.Destinations) != 1 || j.ProfileID == "" ||
		fmt.Sprint(j.Databases) != "["+src+"]" {
		t.Fatalf("job created by the form: %+v %v", j, err)
	}
	step("run now", chromedp.Click(`button[data-run=nightly]`), chromedp.WaitVisible(`#execution`))
	if loc := location(); !strings.Contains(loc, "/executions/") {
		t.Fatalf("after Run now: %q", loc)
	}
	// The page never reloads: only Server-Sent Events move it on.
	step("watch it finish", chromedp.WaitVisible(`#status.success`))
	logText := text(`#log`)
	stage, err := chromedp.Run(b, chromedp.AttributeValue(`li[data-stage=complete]`, "class"))
	if err != nil || stage.Value != "done" || !strings.Contains(logText, "backup finished successfully") || !strings.Contains(logText, "[verify]") {
		t.Fatalf("execution view: complete stage %q (%v)\nlog:\n%s", stage.Value, err, logText)
	}
	// On a phone's width no page is wider than the screen (wide tables
	// scroll inside their own box).
	step("phone width", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	for _, p := range []string{"/", "/jobs", "/jobs/new", "/executions", "/executions/" + strings.TrimPrefix(location()[strings.LastIndex(location(), "/executions/"):], "/executions/"),
		"/storage/disk", "/sources", "/sources/new?type=postgres", "/profiles", "/settings", "/users", "/audit"} {
		step("open "+p+" on a phone", chromedp.Navigate(srv.URL+p), chromedp.WaitReady(`main`))
		if w, err := chromedp.Run(b, chromedp.Evaluate[string](`document.documentElement.scrollWidth + " <= " + window.innerWidth`)); err != nil || !phoneFits(w) {
			t.Errorf("%s on a phone: page width %s (%v)", p, w, err)
		}
	}
	step("desktop width", chromedp.EmulateViewport(1280, 900))
	step("history", chromedp.Navigate(srv.URL+"/executions?job=nightly"), chromedp.WaitVisible(`#history`))
	if h := text(`#history`); !strings.Contains(h, "nightly") || !strings.Contains(h, "success") {
		t.Fatalf("history:\n%s", h)
	}
	// The backup in the storage explorer: verify it, lock it.
	step("storage", chromedp.Navigate(srv.URL+"/storage"), chromedp.Click(`a[href="/storage/disk"]`), chromedp.WaitVisible(`#backups`))
	if list := text(`#backups`); !strings.Contains(list, "nightly") || !strings.Contains(list, src) || !strings.Contains(list, "read-back-sha256") {
		t.Fatalf("storage explorer:\n%s", list)
	}
	step("verify", chromedp.Click(`form[action="/storage/disk/verify"] button`), chromedp.WaitVisible(`#msg`))
	if m := text(`#msg`); !strings.Contains(m, "verified, intact") {
		t.Fatalf("verify: %q", m)
	}
	step("lock", chromedp.Click(`form[action="/storage/disk/lock"] button`), chromedp.WaitVisible(`form[action="/storage/disk/unlock"]`))
	if list := text(`#backups`); !strings.Contains(list, "locked") {
		t.Fatalf("after lock:\n%s", list)
	}
	// Disable the job and duplicate it: the copy is disabled too. Edit the
	// copy to a weekly simple schedule with a retention policy, then delete it.
	step("disable and duplicate",
		chromedp.Navigate(srv.URL+"/jobs"),
		chromedp.Click(`button[data-toggle=nightly]`), chromedp.WaitVisible(`tr[data-name=nightly][data-enabled=false]`),
		chromedp.Click(`button[data-duplicate=nightly]`), chromedp.WaitVisible(`td[data-job="nightly (Copy)"]`))
	for _, name := range []string{"nightly", "nightly (Copy)"} {
		if j, err := a.Store.GetJob(ctx, name); err != nil || j.Enabled {
			t.Fatalf("%s after disable/duplicate: %+v %v", name, j, err)
		}
	}
	step("edit the copy",
		chromedp.Click(`a[data-edit="nightly (Copy)"]`), chromedp.WaitVisible(`#jobform`),
		chromedp.Click(`input[name=mode][value=simple]`),
		chromedp.SetValue(`select[name=every]`, "weekly"), chromedp.SetValue(`select[name=weekday]`, "0"),
		chromedp.SetValue(`input[name=hour]`, "22"), chromedp.SetValue(`input[name=minute]`, "30"),
		chromedp.SetValue(`tr[data-dest=disk] select`, "custom"),
		chromedp.SetValue(`tr[data-dest=disk] input[name^=keep]`, "1"),
		chromedp.Click(`#check`), chromedp.WaitVisible(`#next-runs`))
	if p := text(`tr[data-dest=disk] .plan`); !strings.Contains(p, "keep the newest 1") {
		t.Fatalf("dry-run with the edited policy: %q", p)
	}
	step("save the copy", chromedp.Click(`button[value=save]`), chromedp.WaitVisible(`td[data-job="nightly (Copy)"]`))
	if j, err := a.Store.GetJob(ctx, "nightly (Copy)"); err != nil || j.Schedule != "30 22 * * 0" || string(j.Destinations[0].Retention) != `{"mode":"simple","keep":1}` {
		t.Fatalf("edited copy: %+v %v", j, err)
	}
	if row := text(`tr[data-name="nightly (Copy)"]`); !strings.Contains(row, "every Sunday at 22:30") {
		t.Fatalf("schedule in words: %q", row)
	}
	// Delete asks first; the browser says yes.
	dctx, stopDialogs := context.WithCancel(b)
	defer stopDialogs()
	go func() {
		for _, err := range chromedp.Events(dctx, page.JavascriptDialogOpening) {
			if err != nil {
				return
			}
			go chromedp.Do(b, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
				return err
			}))
		}
	}()
	step("delete the copy", chromedp.Click(`button[data-delete="nightly (Copy)"]`), chromedp.WaitVisible(`#deleted`))
	if _, err := a.Store.GetJob(ctx, "nightly (Copy)"); err == nil {
		t.Fatal("the copy is still there after Delete")
	}
	// Restore it through the wizard into a new database, then check the data in SQL.
	target := pgtest.Name("dbackup_ui_restored")
	pgtest.Drop(t, target)
	step("restore wizard",
		chromedp.Navigate(srv.URL+"/storage/disk"),
		chromedp.Click(`a[data-restore]`),
		chromedp.WaitVisible(`#restore`),
		chromedp.Clear(`input[name=to0]`),
		chromedp.SendKeys(`input[name=to0]`, target),
		chromedp.Click(`#preflight-check`),
		chromedp.WaitVisible(`#preflight`))
	if pf := text(`#preflight`); !strings.Contains(pf, "pre-flight: postgres backup from version") || !strings.Contains(pf, "the key opens the backup") ||
		!strings.Contains(pf, "backup verified") || !strings.Contains(pf, "every chunk authenticated") {
		t.Fatalf("pre-flight result:\n%s", pf)
	}
	if v, _ := chromedp.Run(b, chromedp.Value(`input[name=to0]`)); v != target {
		t.Fatalf("the new name was lost by the pre-flight: %q", v)
	}
	step("start the restore",
		chromedp.Click(`#start-restore`),
		chromedp.WaitVisible(`#execution`),
		chromedp.WaitVisible(`#status.success`))
	var n int
	pgtest.Connect(t, target).QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n)
	if n != 200000 {
		t.Fatalf("the restored database has %d rows, want 200000", n)
	}
}

// phoneFits reads "scrollWidth <= innerWidth" as the page reported it.
func phoneFits(s string) bool {
	var have, room int
	_, err := fmt.Sscanf(s, "%d <= %d", &have, &room)
	return err == nil && have <= room
}
