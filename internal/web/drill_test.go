package web

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
)

// An operator drills a backup from the storage explorer; the execution
// view shows each table's expected and found rows, the explorer says when
// the backup was restore-tested and what it held, the dashboard the
// proven recovery point; a viewer cannot start one; a source form marks a
// drill target.
func TestDrillFromThePages(t *testing.T) {
	t.Parallel()
	srv, _, a := newServer(t)
	a.Queue.Poll = 50 * time.Millisecond
	a.Serve(context.Background())
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "app.db")
	db, _ := sql.Open("sqlite", dbPath)
	db.Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 5000) INSERT INTO t SELECT i, hex(randomblob(20)) FROM c")
	db.Close()
	raw := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	a.CreateEndpoint(ctx, app.KindSource, app.EndpointInput{Name: "lite", Type: "sqlite", Config: raw(map[string]string{"path": dbPath})})
	a.CreateEndpoint(ctx, app.KindDestination, app.EndpointInput{Name: "disk", Type: "local", Config: raw(map[string]string{"path": t.TempDir()})})
	if _, err := a.CreateJob(ctx, app.JobInput{Name: "lite", Source: "lite", Destinations: []app.JobDestInput{{Destination: "disk"}}, ProvenWithin: backup.Duration(26 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	e, err := a.RunJob(ctx, "lite", backup.TriggerManual, false)
	if err != nil || e.Status != backup.StatusSuccess {
		t.Fatalf("backup: %+v %v", e, err)
	}
	key := e.Destinations[0].Key

	viewer, vcsrf := loggedIn(t, srv.URL, a, "vera", "viewer")
	if _, page := get(t, viewer, srv.URL+"/storage/disk"); strings.Contains(page, `data-drill=`) {
		t.Error("a viewer is offered the Drill button")
	}
	if resp, _ := post(t, viewer, srv.URL+"/storage/disk/drill", url.Values{"csrf": {vcsrf}, "key": {key}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a viewer drilling: %d", resp.StatusCode)
	}
	op, csrf := loggedIn(t, srv.URL, a, "otto", "operator")
	if _, page := get(t, op, srv.URL+"/"); !strings.Contains(page, `id="recovery"`) || !strings.Contains(page, ">none</span>") || !strings.Contains(page, ">missed</span>") {
		t.Errorf("dashboard before a drill:\n%s", page)
	}
	resp, _ := post(t, op, srv.URL+"/storage/disk/drill", url.Values{"csrf": {csrf}, "key": {key}})
	where := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(where, "/executions/") {
		t.Fatalf("drill: %d to %q", resp.StatusCode, where)
	}
	for i := 0; ; i++ {
		x, _ := a.Store.GetExecution(ctx, strings.TrimPrefix(where, "/executions/"))
		if x != nil && x.Status.Terminal() {
			if x.Status != backup.StatusSuccess {
				t.Fatalf("drill: %s %s", x.Status, x.Error)
			}
			break
		}
		if i > 400 {
			t.Fatal("the drill did not end")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, page := get(t, op, srv.URL+where)
	for _, want := range []string{`id="drill-tables"`, "<td>t</td><td>5,000</td><td>5,000</td>", `data-stage="server"`, "Restored into throwaway"} {
		if !strings.Contains(page, want) {
			t.Errorf("execution view lacks %q:\n%s", want, page)
		}
	}
	if _, page = get(t, op, srv.URL+"/storage/disk"); !strings.Contains(page, "restore-tested") || !strings.Contains(page, "1 table, 5,000 rows, restored in") {
		t.Errorf("explorer after the drill:\n%s", page)
	}
	if _, page = get(t, op, srv.URL+"/"); !strings.Contains(page, ">met</span>") || !strings.Contains(page, "m ago)") {
		t.Errorf("dashboard after the drill:\n%s", page)
	}
	if _, page = get(t, op, srv.URL+"/executions?kind=drill"); !strings.Contains(page, where) {
		t.Error("history does not list the drill under kind=drill")
	}

	admin, acsrf := loggedIn(t, srv.URL, a, "ada", "admin")
	_, form := get(t, admin, srv.URL+"/sources/new?type=postgres")
	if !strings.Contains(form, `name="scratch"`) {
		t.Fatal("the source form has no scratch box")
	}
	post(t, admin, srv.URL+"/sources/new", url.Values{"csrf": {acsrf}, "type": {"postgres"}, "name": {"staging"}, "f.host": {"127.0.0.1"}, "scratch": {"on"}})
	if s, err := a.GetEndpoint(ctx, app.KindSource, "staging"); err != nil || !s.Scratch {
		t.Fatalf("a source saved with the scratch box: %+v %v", s, err)
	}
	if _, page = get(t, admin, srv.URL+"/sources"); !strings.Contains(page, "staging <small class=\"badge\"") {
		t.Error("the sources list does not mark the scratch source")
	}
}
