package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/store"
)

// loggedIn signs a browser in as a new user of a role.
func loggedIn(t *testing.T, srvURL string, a *app.App, name, role string) (*http.Client, string) {
	t.Helper()
	if _, err := a.CreateUser(context.Background(), name, role, name+"-password-1"); err != nil {
		t.Fatal(err)
	}
	b := browser()
	_, page := get(t, b, srvURL+"/login")
	if resp, _ := post(t, b, srvURL+"/login", url.Values{"name": {name}, "password": {name + "-password-1"}, "csrf": {csrfOfPage(t, page)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: %d", name, resp.StatusCode)
	}
	_, home := get(t, b, srvURL+"/")
	return b, csrfOfPage(t, home)
}

// An encrypted SQLite backup made by a job, then what the pages show of it:
// the dashboard, the jobs search, history filters, downloads (stored bytes,
// plain dump, a tampered copy refused), settings, users, keys, audit.
func TestPagesOverARealBackup(t *testing.T) {
	t.Parallel()
	srv, _, a := newServer(t)
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "app.db")
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 5000) INSERT INTO t SELECT i, hex(randomblob(20)) FROM c"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	destDir := t.TempDir()
	raw := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	for _, step := range []error{
		func() error {
			_, err := a.CreateEndpoint(ctx, app.KindSource, app.EndpointInput{Name: "lite", Type: "sqlite", Config: raw(map[string]string{"path": dbPath})})
			return err
		}(),
		func() error {
			_, err := a.CreateEndpoint(ctx, app.KindDestination, app.EndpointInput{Name: "disk", Type: "local", Config: raw(map[string]string{"path": destDir})})
			return err
		}(),
		func() error { _, err := a.CreateProfile(ctx, "k", ""); return err }(),
		func() error {
			_, err := a.CreateJob(ctx, app.JobInput{Name: "nightly-lite", Source: "lite", Destinations: []app.JobDestInput{{Destination: "disk"}},
				Compression: "zstd", Profile: "k", Schedule: "0 3 * * *"})
			return err
		}(),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}
	e, err := a.RunJob(ctx, "nightly-lite", backup.TriggerManual, false)
	if err != nil || e.Status != backup.StatusSuccess {
		t.Fatalf("run: %+v %v", e, err)
	}
	key := e.Destinations[0].Key
	b, csrf := loggedIn(t, srv.URL, a, "root", "admin")

	// Dashboard: counts, next run, the heatmap square of today.
	_, page := get(t, b, srv.URL+"/")
	today := time.Now().UTC().Format("2006-01-02")
	for _, want := range []string{`<b class="ok">1</b> succeeded`, "every day at 03:00", `class="ok1" data-day="` + today + `"`, "not counted yet"} {
		if !strings.Contains(page, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	post(t, b, srv.URL+"/storage/usage", url.Values{"csrf": {csrf}})
	if _, page = get(t, b, srv.URL+"/"); !strings.Contains(page, "<td>1</td><td>"+backup.HumanBytes(e.BytesStored)+"</td>") {
		t.Errorf("storage used after a count:\n%s", page)
	}
	// Jobs: search by name, the state badge, schedule in words.
	if _, page = get(t, b, srv.URL+"/jobs?q=LITE"); !strings.Contains(page, `data-job="nightly-lite"`) || !strings.Contains(page, `badge Active`) {
		t.Errorf("jobs search:\n%s", page)
	}
	if _, page = get(t, b, srv.URL+"/jobs?q=zzz"); !strings.Contains(page, "No job matches") {
		t.Error("a search that matches nothing")
	}
	// History filters.
	for q, want := range map[string]bool{"trigger=manual": true, "trigger=schedule": false, "kind=restore": false,
		"from=" + today + "&to=" + today: true, "from=" + time.Now().UTC().AddDate(0, 0, 2).Format("2006-01-02"): false} {
		_, page = get(t, b, srv.URL+"/executions?"+q)
		if got := strings.Contains(page, "/executions/"+e.ID); got != want {
			t.Errorf("history ?%s lists the run: %v, want %v", q, got, want)
		}
	}
	if resp, page := get(t, b, srv.URL+"/executions?from=31.12.2026"); resp.StatusCode != 200 || !strings.Contains(page, "a date like 2026-01-31") {
		t.Errorf("bad date: %d", resp.StatusCode)
	}
	// History sorts: by duration and by size, from the column headers too.
	for i, took := range []time.Duration{time.Hour, 250 * time.Millisecond} { // big: short but large
		start := time.Now().Add(-2 * time.Hour)
		end := start.Add(took)
		x := &backup.Execution{JobName: []string{"sort-long", "sort-big"}[i], Kind: backup.KindBackup, Status: backup.StatusSuccess,
			Trigger: backup.TriggerAPI, Stage: backup.StageComplete, StartedAt: &start, EndedAt: &end, BytesStored: int64(1+i*9) << 20}
		if err := a.Store.CreateExecution(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	for sort, first := range map[string]string{"longest": "sort-long", "largest": "sort-big"} {
		_, page = get(t, b, srv.URL+"/executions?trigger=api&sort="+sort)
		long, big := strings.Index(page, "<td>sort-long</td>"), strings.Index(page, "<td>sort-big</td>")
		if long < 0 || big < 0 || (long < big) != (first == "sort-long") {
			t.Errorf("history sorted %s: sort-long at %d, sort-big at %d", sort, long, big)
		}
		if !strings.Contains(page, "<td>1h0m0s</td>") || !strings.Contains(page, "<td>250ms</td>") {
			t.Errorf("history durations (an hour, a quarter second):\n%s", page)
		}
		if !strings.Contains(page, `aria-sort="descending"><a href="/executions?sort=`+sort+`&amp;trigger=api">`) {
			t.Errorf("history sorted %s: the column header is not marked:\n%s", sort, page)
		}
	}
	// The Created header turns newest first into oldest first and back.
	for sort, want := range map[string]string{"": `aria-sort="descending"><a href="/executions?sort=oldest">Created`,
		"oldest": `aria-sort="ascending"><a href="/executions?">Created`, "longest": `<th><a href="/executions?">Created`} {
		if _, page = get(t, b, srv.URL+"/executions?sort="+sort); !strings.Contains(page, want) {
			t.Errorf("history sorted %q: no %s", sort, want)
		}
	}
	if _, page = get(t, b, srv.URL+"/executions?sort=size"); !strings.Contains(page, "newest, oldest, longest or largest") {
		t.Error("an unknown sort is not explained")
	}
	// The pager's next link keeps the filters and the sort: 60 more
	// (smaller, so largest-first puts the two above first).
	for range 60 {
		if err := a.Store.CreateExecution(ctx, &backup.Execution{JobName: "sort-more", Kind: backup.KindBackup, Status: backup.StatusFailed,
			Trigger: backup.TriggerAPI, Stage: backup.StageDump}); err != nil {
			t.Fatal(err)
		}
	}
	_, page = get(t, b, srv.URL+"/executions?trigger=api&sort=largest")
	next := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(page)
	if !strings.Contains(page, "1–50") || next == nil || !strings.Contains(page, "<td>sort-big</td>") {
		t.Fatalf("the first page of 62:\n%s", page)
	}
	_, page = get(t, b, srv.URL+html.UnescapeString(next[1]))
	if !strings.Contains(page, "51–62") || strings.Contains(page, "<td>sort-big</td>") || strings.Contains(page, "/executions/"+e.ID) || !strings.Contains(page, `rel="prev"`) {
		t.Errorf("the next page (%s) of 62 sorted by size, filtered by trigger:\n%s", next[1], page)
	}

	// The storage explorer: a job filter and pages.
	if _, page = get(t, b, srv.URL+"/storage/disk"); !strings.Contains(page, "1 backup(s), newest first") || !strings.Contains(page, "<option >nightly-lite</option>") || !strings.Contains(page, key) {
		t.Errorf("storage explorer:\n%s", page)
	}
	if _, page = get(t, b, srv.URL+"/storage/disk?job=nightly-lite&offset=100"); !strings.Contains(page, "No backup here") {
		t.Error("a page past the end")
	}
	// Downloads: the stored bytes are the sidecar's; the plain dump is the
	// SQLite database; a tampered backup breaks the download.
	dl := func(plain string) ([]byte, error) {
		resp, err := b.Get(srv.URL + "/storage/disk/download?" + url.Values{"key": {key}, "plain": {plain}}.Encode())
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return nil, &url.Error{Op: resp.Status}
		}
		return io.ReadAll(resp.Body)
	}
	stored, err := dl("")
	meta, _ := a.BackupMeta(ctx, "disk", key)
	if sum := sha256.Sum256(stored); err != nil || hex.EncodeToString(sum[:]) != meta.SHA256 {
		t.Fatalf("stored download: %v, sha %x want %s", err, sum, meta.SHA256)
	}
	plainDump, err := dl("1")
	if err != nil || !bytes.HasPrefix(plainDump, []byte("SQLite format 3\x00")) || bytes.Equal(plainDump, stored) {
		t.Fatalf("plain download: %v, %d bytes, starts %q", err, len(plainDump), plainDump[:min(16, len(plainDump))])
	}
	// Start into a target that holds data: refused before anything
	// starts, the wizard still open with the reason.
	resp, page := post(t, b, srv.URL+"/restore", url.Values{"csrf": {csrf}, "dest": {"disk"}, "key": {key}, "source": {"lite"},
		"db0": {"on"}, "name0": {meta.Databases[0]}, "to0": {meta.Databases[0]}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "nothing was started") || !strings.Contains(page, "holds") ||
		!strings.Contains(page, `role="alert"`) || !strings.Contains(page, `name="to0"`) {
		t.Fatalf("start into a database that holds data: %d\n%s", resp.StatusCode, page)
	}
	if list, _ := a.ListExecutions(ctx, store.ExecutionFilter{Kind: backup.KindRestore}); len(list) != 0 {
		t.Fatalf("a refused restore was started: %d", len(list))
	}
	path := filepath.Join(destDir, filepath.FromSlash(key))
	data, _ := os.ReadFile(path)
	data[len(data)/2] ^= 0x20
	os.WriteFile(path, data, 0o600)
	for _, plain := range []string{"", "1"} {
		if got, err := dl(plain); err == nil {
			t.Errorf("a tampered backup downloaded whole (plain=%q, %d bytes)", plain, len(got))
		}
	}
	// The restore wizard's pre-flight reads the whole backup: refused.
	resp, page = post(t, b, srv.URL+"/restore", url.Values{"csrf": {csrf}, "action": {"check"}, "dest": {"disk"}, "key": {key}, "source": {"lite"},
		"db0": {"on"}, "name0": {meta.Databases[0]}, "to0": {meta.Databases[0]}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "refused: ") || !strings.Contains(page, "pre-flight: sqlite backup from version") {
		t.Fatalf("pre-flight of a tampered backup: %d\n%s", resp.StatusCode, page)
	}
	if list, _ := a.ListExecutions(ctx, store.ExecutionFilter{Kind: backup.KindRestore}); len(list) != 0 {
		t.Fatalf("the pre-flight started a restore: %d", len(list))
	}
	v, vcsrf := loggedIn(t, srv.URL, a, "vic", "viewer")
	if resp, _ := get(t, v, srv.URL+"/storage/disk/download?key="+url.QueryEscape(key)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer download: %d, want 403", resp.StatusCode)
	}
	for _, p := range []string{"/users", "/audit"} {
		if resp, _ := get(t, v, srv.URL+p); resp.StatusCode != http.StatusForbidden {
			t.Errorf("viewer GET %s: %d, want 403", p, resp.StatusCode)
		}
	}
	if resp, _ := post(t, v, srv.URL+"/settings", url.Values{"csrf": {vcsrf}, "s.max_concurrent_jobs": {"4"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer saves settings: %d", resp.StatusCode)
	}

	// Settings: a wrong value is shown next to its field and nothing is saved.
	resp, page = post(t, b, srv.URL+"/settings", url.Values{"csrf": {csrf}, "s.max_concurrent_jobs": {"4"}, "s.scheduler_timezone": {"Mars/Olympus"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "IANA time zone") || !strings.Contains(page, "Mars/Olympus") {
		t.Fatalf("bad setting: %d", resp.StatusCode)
	}
	if list, _ := a.Settings(ctx); settingValue(list, "max_concurrent_jobs") != "1" {
		t.Fatal("a form with an error saved a setting")
	}
	if resp, _ = post(t, b, srv.URL+"/settings", url.Values{"csrf": {csrf}, "s.max_concurrent_jobs": {"4"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save settings: %d", resp.StatusCode)
	}
	if list, _ := a.Settings(ctx); settingValue(list, "max_concurrent_jobs") != "4" {
		t.Fatal("setting not saved")
	}
	post(t, b, srv.URL+"/policies", url.Values{"csrf": {csrf}, "name": {"week"}, "mode": {"simple"}, "keep": {"7"}, "default": {"on"}})
	if p, err := a.Store.DefaultPolicy(ctx); err != nil || p.Name != "week" {
		t.Fatalf("policy template from the settings page: %+v %v", p, err)
	}
	// Users and keys: the key is shown once; the audit log has it all.
	if resp, page = post(t, b, srv.URL+"/users", url.Values{"csrf": {csrf}, "name": {"ops"}, "role": {"operator"}, "password": {"ops-password-1"}, "password2": {"ops-password-2"}}); !strings.Contains(page, "the two passwords differ") {
		t.Fatalf("differing passwords: %d", resp.StatusCode)
	}
	post(t, b, srv.URL+"/users", url.Values{"csrf": {csrf}, "name": {"ops"}, "role": {"operator"}, "password": {"ops-password-1"}, "password2": {"ops-password-1"}})
	_, page = post(t, b, srv.URL+"/apikeys", url.Values{"csrf": {csrf}, "name": {"ci"}, "role": {"operator"}, "days": {"30"}})
	if !strings.Contains(page, `<code id="new-key">dbk_`) {
		t.Fatal("new API key not shown")
	}
	if _, page = get(t, b, srv.URL+"/users"); strings.Contains(page, "dbk_") || !strings.Contains(page, `data-user="ops"`) {
		t.Fatal("users page: the key shown again, or the user missing")
	}
	// Encryption profiles: import a key; reveal it and download it only
	// with the password typed again; operators cannot.
	const imported = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	if resp, page = post(t, b, srv.URL+"/profiles", url.Values{"csrf": {csrf}, "name": {"old-key"}, "key": {"0011"}}); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `id="err-profile"`) {
		t.Fatalf("a short key imported: %d", resp.StatusCode)
	}
	post(t, b, srv.URL+"/profiles", url.Values{"csrf": {csrf}, "name": {"old-key"}, "key": {imported}})
	prof, err := a.Store.GetProfile(ctx, "old-key")
	if err != nil || hex.EncodeToString(prof.Key) != imported {
		t.Fatalf("imported profile: %v", err)
	}
	if resp, page = post(t, b, srv.URL+"/profiles/old-key/reveal", url.Values{"csrf": {csrf}, "password": {"wrong"}}); resp.StatusCode != http.StatusUnauthorized || strings.Contains(page, imported) {
		t.Fatalf("reveal with a wrong password: %d", resp.StatusCode)
	}
	if _, page = post(t, b, srv.URL+"/profiles/old-key/reveal", url.Values{"csrf": {csrf}, "password": {"root-password-1"}}); !strings.Contains(page, `<code id="revealed-key">`+imported+`</code>`) {
		t.Fatal("key not revealed with the right password")
	}
	if resp, page = post(t, b, srv.URL+"/profiles/old-key/keyfile", url.Values{"csrf": {csrf}, "password": {"root-password-1"}}); page != imported+"\n" ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), `filename=old-key.key`) {
		t.Fatalf("key file: %q %q", page, resp.Header.Get("Content-Disposition"))
	}
	o, ocsrf := loggedIn(t, srv.URL, a, "opal", "operator")
	if resp, _ = post(t, o, srv.URL+"/profiles/old-key/reveal", url.Values{"csrf": {ocsrf}, "password": {"opal-password-1"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("operator reveals a key: %d", resp.StatusCode)
	}
	_, page = get(t, b, srv.URL+"/audit")
	if !strings.Contains(page, "wrong password") {
		t.Error("a refused key reveal is not in the audit log")
	}
	for _, want := range []string{"user.create", "apikey.create", "setting.set", "backup.download", "policy.create", "profile.import", "profile.export-key"} {
		if !strings.Contains(page, want) {
			t.Errorf("audit log lacks %s", want)
		}
	}

	// Row buttons say what they act on, for screen readers.
	_, page = get(t, b, srv.URL+"/jobs")
	for _, want := range []string{`aria-label="Run nightly-lite now"`, `aria-label="Delete nightly-lite"`, `aria-label="Duplicate nightly-lite"`,
		"every day at 03:00 (UTC)", `<small class="rel">(in `, `<small class="rel">(just now)</small>`} {
		if !strings.Contains(page, want) {
			t.Errorf("jobs page lacks %s", want)
		}
	}
	if _, page = get(t, b, srv.URL+"/storage/disk"); !strings.Contains(page, `aria-label="Verify `+key+`"`) || !strings.Contains(page, `aria-label="Delete `+key+`"`) {
		t.Errorf("storage page: row buttons without their backup's name")
	}

	// Messages name things, never by id; a refused delete names the jobs
	// that use the destination and shows as an alert.
	dest, _ := a.GetEndpoint(ctx, app.KindDestination, "disk")
	post(t, b, srv.URL+"/destinations/"+dest.ID+"/delete", url.Values{"csrf": {csrf}})
	_, page = get(t, b, srv.URL+"/destinations")
	if !strings.Contains(page, `role="alert" class="note alert" id="msg">disk was not deleted`) || !strings.Contains(page, "nightly-lite") || strings.Contains(page, dest.ID+":") {
		t.Errorf("refused delete: %s", page)
	}
	post(t, b, srv.URL+"/destinations/"+dest.ID+"/test", url.Values{"csrf": {csrf}})
	if _, page = get(t, b, srv.URL+"/destinations"); !strings.Contains(page, `role="status" class="note" id="msg">disk: connection ok`) {
		t.Errorf("test message: %s", page)
	}

	// The execution page fits each kind of run and its outcome: a failed
	// backup's stage is red, not running blue; a restore shows its own
	// stages and its backup, no dump figures and no empty destinations.
	now := time.Now().UTC()
	failed := &backup.Execution{JobID: e.JobID, JobName: "nightly-lite", Kind: backup.KindBackup, Status: backup.StatusFailed, Trigger: backup.TriggerManual,
		Stage: backup.StageDump, CreatedAt: now, StartedAt: &now, EndedAt: &now,
		Error: "source pg: cannot reach postgres at 127.0.0.1:1: failed to connect to `user=postgres database=postgres`: 127.0.0.1:1 (127.0.0.1): dial error: dial tcp 127.0.0.1:1: connect: connection refused"}
	restored := &backup.Execution{Kind: backup.KindRestore, Status: backup.StatusSuccess, Trigger: backup.TriggerManual, Stage: backup.StageComplete,
		CreatedAt: now, StartedAt: &now, EndedAt: &now, BackupName: key, BytesDumped: 4096, BytesStored: 2048}
	for _, e := range []*backup.Execution{failed, restored} {
		if err := a.Store.CreateExecution(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	_, page = get(t, b, srv.URL+"/executions/"+failed.ID)
	for _, want := range []string{`data-stage="initialize" class="done"`, `data-stage="dump" class="failed"`, `data-stage="upload" class="todo"`, `<progress id="progress" class="failed"`,
		`role="alert">Nothing is listening on 127.0.0.1:1. <details><summary>details</summary>source pg: cannot reach`,
		`<form method="post" action="/jobs/` + e.JobID + `/run" id="retry">`, "<title>nightly-lite backup · dbackup</title>"} {
		if !strings.Contains(page, want) {
			t.Errorf("failed run's page lacks %s", want)
		}
	}
	_, page = get(t, b, srv.URL+"/executions/"+e.ID)
	for _, want := range []string{"<h1>nightly-lite backup</h1>", "<dt>Ended</dt>", " · took ", `<a href="/storage/disk">` + key + `</a>`, `id="restore-this"`, `class="lvl-info"`} {
		if !strings.Contains(page, want) {
			t.Errorf("a successful run's page lacks %q", want)
		}
	}
	if strings.Contains(page, `id="retry"`) {
		t.Error("a successful run offers a retry")
	}
	_, page = get(t, b, srv.URL+"/executions/"+restored.ID)
	for _, want := range []string{`data-stage="restore" class="done"`, "<h1>Restore of " + key[strings.LastIndex(key, "/")+1:] + "</h1>", "Restore of <code>" + key, `Read <span id="dumped">4.0 KiB</span> of the dump`} {
		if !strings.Contains(page, want) {
			t.Errorf("restore page lacks %q", want)
		}
	}
	for _, unwanted := range []string{"<h2>Destinations</h2>", "Dumped", `data-stage="dump"`} {
		if strings.Contains(page, unwanted) {
			t.Errorf("restore page shows %q", unwanted)
		}
	}
}

func settingValue(list []app.Setting, name string) string {
	for _, s := range list {
		if s.Name == name {
			return s.Value
		}
	}
	return ""
}

// A count of zero failures is not painted as an error.
func TestDashboardZeroFailuresIsPlain(t *testing.T) {
	t.Parallel()
	srv, _, a := newServer(t)
	b, _ := loggedIn(t, srv.URL, a, "root", "admin")
	if _, page := get(t, b, srv.URL+"/"); !strings.Contains(page, `<b>0</b> failed`) {
		t.Errorf("dashboard: %s", page)
	}
}

func TestRelativeTimes(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		20 * time.Second: "just now", -3 * time.Minute: "3 min ago", 11*time.Hour + 5*time.Minute: "in 11 h", -50 * time.Hour: "2 days ago",
	} {
		if got := relative(now.Add(d), now); got != want {
			t.Errorf("relative(%s) = %q, want %q", d, got, want)
		}
	}
}
