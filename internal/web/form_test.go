package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
)

// formValues is what a browser submits for the form with an id, as the
// page shows it: inputs, ticked boxes and radios, chosen options, textareas.
func formValues(t *testing.T, page, id string) url.Values {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	attr := func(n *html.Node, k string) (string, bool) {
		for _, a := range n.Attr {
			if a.Key == k {
				return a.Val, true
			}
		}
		return "", false
	}
	var form *html.Node
	for n := range doc.Descendants() {
		if v, _ := attr(n, "id"); n.Type == html.ElementNode && n.Data == "form" && v == id {
			form = n
		}
	}
	if form == nil {
		t.Fatalf("no form %q in the page", id)
	}
	out := url.Values{}
	for n := range form.Descendants() {
		name, ok := attr(n, "name")
		if n.Type != html.ElementNode || !ok {
			continue
		}
		switch n.Data {
		case "input":
			typ, _ := attr(n, "type")
			_, checked := attr(n, "checked")
			v, hasValue := attr(n, "value")
			if (typ == "checkbox" || typ == "radio") && !checked {
				continue
			}
			if typ == "checkbox" && !hasValue {
				v = "on"
			}
			out.Add(name, v)
		case "textarea":
			if n.FirstChild != nil {
				out.Add(name, n.FirstChild.Data)
			} else {
				out.Add(name, "")
			}
		case "select":
			first, chosen := "", ""
			for o := range n.Descendants() {
				if o.Type != html.ElementNode || o.Data != "option" {
					continue
				}
				v, ok := attr(o, "value")
				if !ok && o.FirstChild != nil {
					v = o.FirstChild.Data
				}
				if first == "" {
					first = v
				}
				if _, sel := attr(o, "selected"); sel {
					chosen = v
				}
			}
			if chosen == "" {
				chosen = first
			}
			out.Add(name, chosen)
		}
	}
	return out
}

// Saving a job's edit form unchanged keeps everything the job had,
// including what only the Advanced part shows.
func TestJobEditKeepsEverything(t *testing.T) {
	t.Parallel()
	srv, _, a := newServer(t)
	ctx := context.Background()
	for _, err := range []error{
		func() error {
			_, err := a.CreateEndpoint(ctx, app.KindSource, app.EndpointInput{Name: "lite", Type: "sqlite", Config: []byte(`{"path":"/tmp/x.db"}`)})
			return err
		}(),
		func() error {
			_, err := a.CreateEndpoint(ctx, app.KindDestination, app.EndpointInput{Name: "disk", Type: "local", Config: []byte(`{"path":"/tmp"}`)})
			return err
		}(),
		func() error {
			_, err := a.CreateEndpoint(ctx, app.KindDestination, app.EndpointInput{Name: "disk2", Type: "local", Config: []byte(`{"path":"/tmp"}`)})
			return err
		}(),
		func() error {
			_, err := a.CreateEndpoint(ctx, app.KindChannel, app.EndpointInput{Name: "ops", Type: "ntfy", Config: []byte(`{"topic":"t"}`)})
			return err
		}(),
		func() error { _, err := a.CreateProfile(ctx, "k", ""); return err }(),
		func() error {
			_, err := a.CreatePolicy(ctx, app.PolicyInput{Name: "week", Policy: []byte(`{"mode":"simple","keep":7}`)})
			return err
		}(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	in := app.JobInput{Name: "full", Source: "lite", Databases: []string{"main", "aux"}, Compression: "brotli", CompressionLevel: 9, Profile: "k",
		Destinations: []app.JobDestInput{{Destination: "disk2", Retention: []byte(`{"mode":"gfs","daily":7,"monthly":12}`)}, {Destination: "disk", Policy: "week"}},
		Schedule:     "15 4 * * 1-5", Timezone: "Europe/Paris", NamingTemplate: "{job_name}-yyyyMMdd-HHmm", Retries: 3,
		RetryBackoff: backup.Duration(10 * time.Minute), MaxDuration: backup.Duration(2 * time.Hour), StallTimeout: backup.Duration(20 * time.Minute),
		ExpectEvery: backup.Duration(26 * time.Hour), RemindEvery: backup.Duration(6 * time.Hour), CatchUp: true,
		Notifications: []app.JobChannelInput{{Channel: "ops", Outcomes: []string{"failed", "partial"}}}}
	before, err := a.CreateJob(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := loggedIn(t, srv.URL, a, "root", "admin")
	_, page := get(t, b, srv.URL+"/jobs/full/edit")
	form := formValues(t, page, "jobform")
	form.Set("action", "save")
	if resp, body := post(t, b, srv.URL+"/jobs/"+before.ID+"/edit", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save unchanged: %d\n%s", resp.StatusCode, body)
	}
	after, err := a.Store.GetJob(ctx, before.ID)
	if err != nil {
		t.Fatal(err)
	}
	before.UpdatedAt, after.UpdatedAt = time.Time{}, time.Time{}
	before.LastScheduledAt, after.LastScheduledAt = nil, nil
	if got, want := jobText(after), jobText(before); got != want {
		t.Fatalf("an unchanged edit changed the job:\n got %s\nwant %s", got, want)
	}
	// A wrong duration is shown next to its field; nothing is saved.
	form.Set("max_duration", "two hours")
	if resp, body := post(t, b, srv.URL+"/jobs/"+before.ID+"/edit", form); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="err-max_duration"`) {
		t.Fatalf("bad duration: %d", resp.StatusCode)
	}
}

func jobText(j *backup.Job) string {
	var b strings.Builder
	for _, d := range j.Destinations {
		b.WriteString(d.DestinationID + "/" + d.PolicyID + "/" + string(d.Retention) + " ")
	}
	for _, c := range j.Notifications {
		b.WriteString(c.ChannelID + ":" + strings.Join(slices.Sorted(slices.Values(c.Outcomes)), ",") + " ")
	}
	return b.String() + strings.Join([]string{j.Name, j.SourceID, strings.Join(j.Databases, ","), string(j.Compression), time.Duration(j.MaxDuration).String(),
		time.Duration(j.RetryBackoff).String(), time.Duration(j.StallTimeout).String(), time.Duration(j.ExpectEvery).String(),
		time.Duration(j.RemindEvery).String(), j.ProfileID, j.NamingTemplate, j.Schedule, j.Timezone}, " ") +
		" " + strings.Join([]string{boolText(j.Enabled), boolText(j.CatchUp)}, " ") + " " + strings.Repeat("r", j.Retries) + " level" + string(rune('0'+j.CompressionLevel))
}

func boolText(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// Saving an endpoint's edit form unchanged keeps its configuration and
// its secrets, for types with lists, maps, choices and booleans.
func TestEndpointEditKeepsEverything(t *testing.T) {
	t.Parallel()
	srv, _, a := newServer(t)
	ctx := context.Background()
	cases := []struct {
		kind, seg string
		in        app.EndpointInput
	}{
		{string(app.KindDestination), "destinations", app.EndpointInput{Name: "bucket", Type: "s3",
			Config:  []byte(`{"preset":"minio","endpoint":"http://127.0.0.1:9","bucket":"b","prefix":"p/q","access_key_id":"AK","path_style":true,"storage_class":"STANDARD_IA"}`),
			Secrets: map[string]string{"secret_access_key": "s3-secret-value"}}},
		{string(app.KindChannel), "channels", app.EndpointInput{Name: "hook", Type: "webhook",
			Config:  []byte(`{"method":"PUT","content_type":"text/plain","headers":{"X-A":"1","X-B":"two words"},"body_template":"{{.Title}}\n  {{.Message}}"}`),
			Secrets: map[string]string{"url": "https://example.invalid/hook"}}},
		{string(app.KindChannel), "channels", app.EndpointInput{Name: "mail", Type: "email",
			Config:  []byte(`{"host":"smtp.example.invalid","port":2525,"security":"tls","username":"u","from":"a@example.invalid","to":["b@example.invalid","c@example.invalid"]}`),
			Secrets: map[string]string{"password": "mail-secret"}}},
	}
	b, _ := loggedIn(t, srv.URL, a, "root", "admin")
	for _, c := range cases {
		before, err := a.CreateEndpoint(ctx, app.Kind(c.kind), c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.in.Name, err)
		}
		_, page := get(t, b, srv.URL+"/"+c.seg+"/"+before.ID+"/edit")
		if strings.Contains(page, c.in.Secrets[firstKey(c.in.Secrets)]) {
			t.Fatalf("%s: the edit page shows a secret", c.in.Name)
		}
		if resp, body := post(t, b, srv.URL+"/"+c.seg+"/"+before.ID+"/edit", formValues(t, page, "endpointform")); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: save unchanged: %d\n%s", c.in.Name, resp.StatusCode, body)
		}
		after, _ := a.GetEndpoint(ctx, app.Kind(c.kind), before.ID)
		var was, is map[string]any
		json.Unmarshal(before.Config, &was)
		json.Unmarshal(after.Config, &is)
		if !reflect.DeepEqual(was, is) || after.Secrets[firstKey(c.in.Secrets)] != c.in.Secrets[firstKey(c.in.Secrets)] {
			t.Fatalf("%s: an unchanged edit changed it:\n got %s %v\nwant %s", c.in.Name, after.Config, after.Secrets, before.Config)
		}
	}
}

func firstKey(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}

// Test before save: the form's test uses what it says, saves nothing,
// and says it in one sentence; an unsaved channel sends its message.
func TestEndpointTestBeforeSave(t *testing.T) {
	t.Parallel()
	srv, _, a := newServer(t)
	ctx := context.Background()
	b, csrf := loggedIn(t, srv.URL, a, "root", "admin")
	if _, page := get(t, b, srv.URL+"/sources"); !strings.Contains(page, `<option value="" selected disabled>choose a type…</option>`) {
		t.Fatal("the type select preselects a type")
	}
	form := url.Values{"csrf": {csrf}, "type": {"postgres"}, "name": {"pg"}, "f.host": {"127.0.0.1"}, "f.port": {"1"}, "f.user": {"postgres"},
		"f.sslmode": {"disable"}, "action": {"test"}}
	resp, page := post(t, b, srv.URL+"/sources/new", form)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "the test failed: Nothing is listening on 127.0.0.1:1") {
		t.Fatalf("test of a closed port: %d\n%s", resp.StatusCode, page)
	}
	form.Set("f.port", "5432")
	if resp, page = post(t, b, srv.URL+"/sources/new", form); resp.StatusCode != 200 || !strings.Contains(page, `id="tested">connection ok, version`) ||
		!strings.Contains(page, `value="5432"`) {
		t.Fatalf("test of PostgreSQL: %d\n%s", resp.StatusCode, page)
	}
	if list, _ := a.ListEndpoints(ctx, app.KindSource); len(list) != 0 {
		t.Fatalf("a test saved the source: %d", len(list))
	}
	hits := make(chan string, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hits <- string(body)
	}))
	defer hook.Close()
	ch := url.Values{"csrf": {csrf}, "type": {"webhook"}, "name": {"hook"}, "f.method": {"POST"}, "secret.url": {hook.URL}, "action": {"test"}}
	if resp, page = post(t, b, srv.URL+"/channels/new", ch); resp.StatusCode != 200 || !strings.Contains(page, "a test message was sent") {
		t.Fatalf("test of a new channel: %d\n%s", resp.StatusCode, page)
	}
	select {
	case body := <-hits:
		if !strings.Contains(body, "Test notification") {
			t.Fatalf("the hook got %q", body)
		}
	default:
		t.Fatal("the unsaved channel sent nothing")
	}
	if list, _ := a.ListEndpoints(ctx, app.KindChannel); len(list) != 0 {
		t.Fatal("a test saved the channel")
	}
}

// Destinations are numbered 1..n in the order meant: typed orders first,
// then ticked ones without an order in row order; unused ones get none.
func TestDestinationOrderRenumbered(t *testing.T) {
	rows := []*destRow{{Use: true, Order: 0}, {Use: false, Order: 7}, {Use: true, Order: 5}, {Use: true, Order: 2}, {Use: true}}
	for i, r := range rows {
		r.Endpoint = &backup.Endpoint{Name: string(rune('a' + i))}
	}
	renumber(rows)
	got := ""
	for _, r := range rows {
		got += fmt.Sprintf("%s%d ", r.Endpoint.Name, r.Order)
	}
	if got != "d1 c2 a3 e4 b0 " {
		t.Fatalf("orders: %s", got)
	}
}

// A new job's form leaves the order of destinations not yet chosen empty,
// and the custom retention fields are in a block the page shows when
// "custom…" is chosen (not a closed <details>).
func TestNewJobFormOrdersAndCustomRetention(t *testing.T) {
	t.Parallel()
	srv, _, a := newServer(t)
	ctx := context.Background()
	for _, n := range []string{"d1", "d2", "d3"} {
		if _, err := a.CreateEndpoint(ctx, app.KindDestination, app.EndpointInput{Name: n, Type: "local", Config: []byte(`{"path":"` + t.TempDir() + `"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := loggedIn(t, srv.URL, a, "root", "admin")
	_, page := get(t, b, srv.URL+"/jobs/new")
	if strings.Count(page, `value="" size="2" inputmode="numeric" aria-label="order of`) != 3 || strings.Contains(page, `<details class="custom"`) ||
		!strings.Contains(page, `<div class="custom">`) || !strings.Contains(page, `class="gfs-tier"`) {
		t.Fatalf("new job form:\n%s", page)
	}
}

// The job's page tells a script how to run it, and names the job in its
// title.
func TestJobFormShowsTheAPITrigger(t *testing.T) {
	t.Parallel()
	srv, _, a := newServer(t)
	ctx := context.Background()
	if _, err := a.CreateEndpoint(ctx, app.KindSource, app.EndpointInput{Name: "lite", Type: "sqlite", Config: []byte(`{"path":"` + filepath.Join(t.TempDir(), "x.db") + `"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateEndpoint(ctx, app.KindDestination, app.EndpointInput{Name: "disk", Type: "local", Config: []byte(`{"path":"` + t.TempDir() + `"}`)}); err != nil {
		t.Fatal(err)
	}
	j, err := a.CreateJob(ctx, app.JobInput{Name: "nightly db", Source: "lite", Destinations: []app.JobDestInput{{Destination: "disk"}}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := loggedIn(t, srv.URL, a, "root", "admin")
	_, page := get(t, b, srv.URL+"/jobs/"+j.ID+"/edit")
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, want := range []string{"<title>Edit job nightly db · dbackup</title>", `id="api-trigger"`,
		`curl -fsS -X POST -H &#34;Authorization: Bearer $DBACKUP_API_KEY&#34; http://` + host + `/api/v1/jobs/nightly%20db/run`} {
		if !strings.Contains(page, want) {
			t.Errorf("job page lacks %q", want)
		}
	}
	if _, page = get(t, b, srv.URL+"/jobs/new"); !strings.Contains(page, "<title>New job · dbackup</title>") || strings.Contains(page, `id="api-trigger"`) {
		t.Error("new job page: title, or a trigger for a job that does not exist yet")
	}
}
