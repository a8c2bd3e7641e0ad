package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/runner"
	"github.com/dbackup/dbackup/internal/store"
	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

// hookServer records request paths and bodies; delay and status shape its answers.
type hookServer struct {
	*httptest.Server
	mu     sync.Mutex
	paths  []string
	bodies []string
}

func newHook(t *testing.T, status int, delay time.Duration) *hookServer {
	h := &hookServer{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.paths, h.bodies = append(h.paths, r.URL.Path), append(h.bodies, string(b))
		h.mu.Unlock()
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(h.Server.Close)
	return h
}

func (h *hookServer) got() ([]string, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.paths...), append([]string(nil), h.bodies...)
}

func channel(t *testing.T, a *App, name, typ string, config any, secrets map[string]string) {
	t.Helper()
	if _, err := a.CreateEndpoint(context.Background(), KindChannel, EndpointInput{Name: name, Type: typ, Config: raw(config), Secrets: secrets}); err != nil {
		t.Fatal(err)
	}
}

func notifyJob(t *testing.T) (*App, string) { return notifyJobWith(t, nil) }

func notifyJobWith(t *testing.T, configure func(a *App)) (*App, string) {
	src, _ := pgtest.NewDatabase(t, "dbackup_notify")
	pgtest.Connect(t, src).Exec(context.Background(), "CREATE TABLE t AS SELECT generate_series(1, 10) AS id")
	a := setupWith(t, configure)
	pgSource(t, a, "pg", "postgres", "")
	localDest(t, a, "disk", t.TempDir())
	return a, src
}

func TestNotificationsRouteByOutcome(t *testing.T) {
	t.Parallel()
	a, src := notifyJob(t)
	ctx := context.Background()
	good, bad := newHook(t, 204, 0), newHook(t, 200, 0)
	channel(t, a, "team-chat", "discord", map[string]any{}, map[string]string{"webhook_url": good.URL + "/api/webhooks/1/tok-success"})
	channel(t, a, "on-call", "slack", map[string]any{}, map[string]string{"webhook_url": bad.URL + "/services/tok-failure"})
	in := JobInput{Name: "routed", Source: "pg", Databases: []string{src}, Destinations: dests("disk"),
		Notifications: []JobChannelInput{{Channel: "team-chat", Outcomes: []string{"success"}}, {Channel: "on-call", Outcomes: []string{"failed", "partial"}}}}
	mustJob(t, a, in)
	e, _ := a.RunJob(ctx, "routed", backup.TriggerManual, false)
	a.WaitNotifications()
	paths, bodies := good.got()
	if e.Status != backup.StatusSuccess || len(paths) != 1 {
		t.Fatalf("success: %s, %d discord requests", e.Status, len(paths))
	}
	for _, want := range []string{`"title":"Backup succeeded: routed"`, `"name":"Databases","value":"` + src + `"`, `"name":"Destinations","value":"disk: success (verified)"`, `"name":"Source","value":"pg (postgres)"`} {
		if !strings.Contains(bodies[0], want) {
			t.Errorf("discord body lacks %s:\n%s", want, bodies[0])
		}
	}
	if p, _ := bad.got(); len(p) != 0 {
		t.Fatalf("the failure channel got a success: %v", p)
	}
	in.Databases = []string{"no_such_db"}
	if _, err := a.UpdateJob(ctx, "routed", in); err != nil {
		t.Fatal(err)
	}
	e, _ = a.RunJob(ctx, "routed", backup.TriggerManual, false)
	a.WaitNotifications()
	paths, bodies = bad.got()
	if e.Status != backup.StatusFailed || len(paths) != 1 || !strings.Contains(bodies[0], "Backup failed: routed") || !strings.Contains(bodies[0], "no_such_db") {
		t.Fatalf("failure: %s, slack %v", e.Status, bodies)
	}
	if p, _ := good.got(); len(p) != 1 {
		t.Fatal("the success channel got the failure")
	}
	log, _ := a.Store.ListNotificationLog(ctx, store.NotificationFilter{})
	if len(log) != 2 || log[0].Status != "sent" || log[0].ChannelName != "on-call" || log[0].Outcome != "failed" {
		t.Fatalf("notification log: %+v", log)
	}
	for _, l := range log {
		if strings.Contains(l.Payload, "tok-") || strings.Contains(l.Error, "tok-") {
			t.Fatal("a webhook token is in the notification log")
		}
	}
}

func TestHangingOrFailingChannelDoesNotDelayTheBackup(t *testing.T) {
	t.Parallel()
	a, src := notifyJob(t)
	ctx := context.Background()
	a.SetSetting(ctx, SettingNotifyTimeout, "1")
	a.SetSetting(ctx, SettingNotifyAttempts, "2")
	hang, broken := newHook(t, 200, 30*time.Second), newHook(t, 500, 0)
	channel(t, a, "hangs", "webhook", map[string]any{}, map[string]string{"url": hang.URL + "/hook"})
	channel(t, a, "broken", "gotify", map[string]any{"url": broken.URL}, map[string]string{"token": "gt"})
	mustJob(t, a, JobInput{Name: "j", Source: "pg", Databases: []string{src}, Destinations: dests("disk"),
		Notifications: []JobChannelInput{{Channel: "hangs", Outcomes: []string{"success"}}, {Channel: "broken", Outcomes: []string{"success"}}}})
	start := time.Now()
	e, err := a.RunJob(ctx, "j", backup.TriggerManual, false)
	if err != nil || e.Status != backup.StatusSuccess {
		t.Fatal(err, e.Error)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the run took %s: notifications held it up", took)
	}
	a.WaitNotifications() // 2 attempts of at most 1s each, 1s apart
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("delivery took %s, more than its timeouts allow", took)
	}
	log, _ := a.Store.ListNotificationLog(ctx, store.NotificationFilter{ExecutionID: e.ID})
	byChannel := map[string][]string{}
	for _, l := range log {
		byChannel[l.ChannelName] = append(byChannel[l.ChannelName], l.Status+": "+l.Error)
	}
	if len(byChannel["hangs"]) != 2 || !strings.Contains(byChannel["hangs"][0], "no answer within 1s") {
		t.Fatalf("hanging channel log: %v", byChannel["hangs"])
	}
	if len(byChannel["broken"]) != 2 || !strings.Contains(byChannel["broken"][0], "HTTP 500") {
		t.Fatalf("broken channel log: %v", byChannel["broken"])
	}
}

func TestPingChannelSignalsStartAndEnd(t *testing.T) {
	t.Parallel()
	a, src := notifyJob(t)
	hc := newHook(t, 200, 0)
	channel(t, a, "hc", "ping", map[string]any{}, map[string]string{"url": hc.URL + "/uuid"})
	mustJob(t, a, JobInput{Name: "j", Source: "pg", Databases: []string{src}, Destinations: dests("disk"),
		Notifications: []JobChannelInput{{Channel: "hc", Outcomes: []string{"success", "failed"}}}})
	a.RunJob(context.Background(), "j", backup.TriggerManual, false)
	a.WaitNotifications()
	if paths, _ := hc.got(); strings.Join(paths, " ") != "/uuid/start /uuid" {
		t.Fatalf("pings: %v", paths)
	}
}

func TestSystemEventsRestoreAndDestination(t *testing.T) {
	t.Parallel()
	a, src := notifyJob(t)
	ctx := context.Background()
	ops := newHook(t, 200, 0)
	channel(t, a, "ops", "ntfy", map[string]any{"url": ops.URL, "topic": "dbackup"}, nil)
	ch, _ := a.Store.Channels().Get(ctx, "ops")
	if err := a.Store.SetSystemChannel(ctx, ch.ID, []string{"restore", "destination"}); err != nil {
		t.Fatal(err)
	}
	mustJob(t, a, JobInput{Name: "j", Source: "pg", Databases: []string{src}, Destinations: dests("disk")})
	e, _ := a.RunJob(ctx, "j", backup.TriggerManual, false)
	target := pgtest.Name("dbackup_notify_r")
	pgtest.Drop(t, target)
	restore(t, a, runner.RestoreRequest{Destination: "disk", Key: e.BackupName, Source: "pg", Targets: map[string]string{src: target}})
	localDest(t, a, "gone", "/nonexistent/dbackup")
	a.TestEndpoint(ctx, KindDestination, "gone", false)
	a.WaitNotifications()
	_, bodies := ops.got()
	all := strings.Join(bodies, "\n---\n")
	if len(bodies) != 2 || !strings.Contains(all, "Backup: "+e.BackupName) || !strings.Contains(all, "Destination: gone") {
		t.Fatalf("system events:\n%s", all)
	}
}

func TestMissedBackupAlarm(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	clock := time.Now()
	a, src := notifyJobWith(t, func(a *App) { a.Runner.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock } })
	ctx := context.Background()
	pager := newHook(t, 200, 0)
	channel(t, a, "pager", "webhook", map[string]any{}, map[string]string{"url": pager.URL})
	mustJob(t, a, JobInput{Name: "nightly", Source: "pg", Databases: []string{src}, Destinations: dests("disk"),
		ExpectEvery: backup.Duration(time.Hour), RemindEvery: backup.Duration(6 * time.Hour),
		Notifications: []JobChannelInput{{Channel: "pager", Outcomes: []string{"failed"}}}})
	if e, _ := a.RunJob(ctx, "nightly", backup.TriggerSchedule, false); e.Status != backup.StatusSuccess {
		t.Fatal(e.Error)
	}
	t0 := clock
	check := func(after time.Duration, want int) {
		t.Helper()
		n, err := a.CheckMissed(ctx, t0.Add(after))
		if err != nil || n != want {
			t.Fatalf("check at +%s: %d alarms, want %d (%v)", after, n, want, err)
		}
	}
	check(30*time.Minute, 0)          // not overdue
	check(61*time.Minute, 1)          // overdue: alarm
	check(2*time.Hour, 0)             // already told
	check(7*time.Hour+time.Minute, 1) // reminder after 6h
	check(8*time.Hour, 0)
	mu.Lock()
	clock = t0.Add(9 * time.Hour) // a backup succeeds again
	mu.Unlock()
	if e, _ := a.RunJob(ctx, "nightly", backup.TriggerSchedule, false); e.Status != backup.StatusSuccess {
		t.Fatal(e.Error)
	}
	check(9*time.Hour+30*time.Minute, 0) // the alarm stopped
	check(10*time.Hour+time.Minute, 1)   // and fires again when the next one is missed
	a.WaitNotifications()
	_, bodies := pager.got()
	if len(bodies) != 3 {
		t.Fatalf("%d alarms delivered, want 3", len(bodies))
	}
	var ev map[string]any
	json.Unmarshal([]byte(bodies[0]), &ev)
	if ev["kind"] != "missed" || ev["title"] != "Missed backup: nightly" || !strings.Contains(ev["message"].(string), "expected at least every 1h0m0s") {
		t.Fatalf("alarm: %v", ev)
	}
}
