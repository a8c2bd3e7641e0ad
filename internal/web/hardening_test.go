package web

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/app"
)

// Changes made from the pages are audited as the API's are; a page says
// only what the server told it (a crafted ?msg= link shows nothing); a key
// that leads out of a local destination through a symbolic link is a bad
// request, not a server error.
func TestPagesAuditChangesAndIgnoreCraftedMessages(t *testing.T) {
	t.Parallel()
	srv, _, a := newServer(t)
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "app.db")
	lite, _ := sql.Open("sqlite", dbPath)
	lite.Exec("CREATE TABLE t(x)")
	lite.Close()
	dir := t.TempDir()
	a.CreateEndpoint(ctx, app.KindSource, app.EndpointInput{Name: "lite", Type: "sqlite", Config: json.RawMessage(`{"path":"` + dbPath + `"}`)})
	a.CreateEndpoint(ctx, app.KindDestination, app.EndpointInput{Name: "disk", Type: "local", Config: json.RawMessage(`{"path":"` + dir + `"}`)})
	if _, err := a.CreateJob(ctx, app.JobInput{Name: "j", Source: "lite", Destinations: []app.JobDestInput{{Destination: "disk"}}}); err != nil {
		t.Fatal(err)
	}
	b, csrf := loggedIn(t, srv.URL, a, "ops", "admin")
	if resp, _ := post(t, b, srv.URL+"/jobs/j/disable", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d", resp.StatusCode)
	}
	list, _ := a.ListAudit(ctx, 100, 0)
	found := false
	for _, e := range list {
		if e.Action == "page POST /jobs/{ref}/disable" && e.Target == "j" && e.Actor == "user:ops" && e.OK {
			found = true
		}
	}
	if !found {
		t.Fatalf("disabling a job from its page left no audit entry: %+v", list)
	}
	// What an action did is shown once, from the server's cookie.
	resp, _ := post(t, b, srv.URL+"/policies/x/delete", url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete a missing policy: %d", resp.StatusCode)
	}
	if _, page := get(t, b, srv.URL+"/settings"); !strings.Contains(page, "policy not deleted") {
		t.Fatal("the settings page does not say the deletion failed")
	}
	if _, page := get(t, b, srv.URL+"/settings"); strings.Contains(page, "policy not deleted") {
		t.Fatal("the message is shown twice")
	}
	for _, path := range []string{"/", "/storage/disk", "/settings", "/users"} {
		if _, page := get(t, b, srv.URL+path+"?msg=Your+account+is+locked%2C+call+555-0100"); strings.Contains(page, "555-0100") {
			t.Fatalf("%s shows the text of a crafted link", path)
		}
	}
	// A symbolic link out of the destination.
	secret := filepath.Join(t.TempDir(), "secret.txt")
	os.WriteFile(secret, []byte("not yours"), 0o600)
	os.Symlink(filepath.Dir(secret), filepath.Join(dir, "out"))
	if resp, body := get(t, b, srv.URL+"/storage/disk/download?key=out/secret.txt"); resp.StatusCode != http.StatusBadRequest || strings.Contains(body, "not yours") {
		t.Fatalf("a download through a symlink out of the destination: %d", resp.StatusCode)
	}
}
