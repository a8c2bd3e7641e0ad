package all

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
	"github.com/dbackup/dbackup/internal/notify"
)

type captured struct {
	method, path, query string
	header              http.Header
	body                []byte
}

// capture is a local HTTP server that records requests.
func capture(t *testing.T, status int) (*httptest.Server, func() []captured) {
	var mu sync.Mutex
	var reqs []captured
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, captured{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), b})
		mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []captured { mu.Lock(); defer mu.Unlock(); return append([]captured(nil), reqs...) }
}

func event(o notify.Outcome) notify.Event {
	title := map[notify.Outcome]string{notify.OutcomeSuccess: "Backup succeeded: prod-pg", notify.OutcomePartial: "Backup partially failed: prod-pg",
		notify.OutcomeFailed: "Backup failed: prod-pg"}[o]
	return notify.Event{Kind: notify.KindBackup, Outcome: o, Title: title, Message: "Job prod-pg <finished>",
		Fields: []notify.Field{{Name: "Databases", Value: "shop, crm", Inline: true}, {Name: "Size", Value: "12.0 MiB", Inline: true},
			{Name: "Destinations", Value: "nas: success; s3: failed", Inline: false}},
		JobName: "prod-pg", ExecutionID: "ex-1", Time: time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)}
}

func newChannel(t *testing.T, typ string, config any, secrets map[string]string) notify.Notifier {
	t.Helper()
	raw, _ := json.Marshal(config)
	n, err := Registry().New(&backup.Endpoint{Name: typ, Type: typ, Config: raw, Secrets: secrets})
	if err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	return n
}

func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, b)
	}
	return m
}

func TestEveryHTTPChannelSendsTheRightShape(t *testing.T) {
	t.Parallel()
	srv, reqs := capture(t, 200)
	cases := []struct {
		typ     string
		config  any
		secrets map[string]string
		check   func(t *testing.T, o notify.Outcome, r captured)
	}{
		{"webhook", map[string]any{"headers": map[string]string{"X-Env": "prod"}}, map[string]string{"url": srv.URL + "/hook", "authorization": "Bearer tok-1"},
			func(t *testing.T, o notify.Outcome, r captured) {
				m := decodeJSON(t, r.body)
				if r.method != "POST" || r.path != "/hook" || r.header.Get("Authorization") != "Bearer tok-1" || r.header.Get("X-Env") != "prod" ||
					m["outcome"] != string(o) || m["job_name"] != "prod-pg" || len(m["fields"].([]any)) != 3 {
					t.Errorf("webhook %s: %s %s %v %s", o, r.method, r.path, r.header, r.body)
				}
			}},
		{"discord", map[string]any{}, map[string]string{"webhook_url": srv.URL + "/api/webhooks/1/abc"},
			func(t *testing.T, o notify.Outcome, r captured) {
				m := decodeJSON(t, r.body)
				em := m["embeds"].([]any)[0].(map[string]any)
				want := map[notify.Outcome]float64{notify.OutcomeSuccess: 0x2ea043, notify.OutcomePartial: 0xd29922, notify.OutcomeFailed: 0xcf222e}[o]
				if r.path != "/api/webhooks/1/abc" || m["username"] != "dbackup" || em["color"].(float64) != want ||
					!strings.HasPrefix(em["title"].(string), "Backup") || len(em["fields"].([]any)) != 3 || em["timestamp"] != "2026-11-27T03:00:00Z" {
					t.Errorf("discord %s: %s", o, r.body)
				}
			}},
		{"slack", map[string]any{}, map[string]string{"webhook_url": srv.URL + "/services/T/B/X"},
			func(t *testing.T, o notify.Outcome, r captured) {
				m := decodeJSON(t, r.body)
				att := m["attachments"].([]any)[0].(map[string]any)
				blocks := att["blocks"].([]any)
				if m["text"] != event(o).Title || att["color"] != event(o).HexColor() || blocks[0].(map[string]any)["type"] != "header" ||
					!strings.Contains(string(r.body), `*Databases*\nshop, crm`) {
					t.Errorf("slack %s: %s", o, r.body)
				}
			}},
		{"teams", map[string]any{}, map[string]string{"webhook_url": srv.URL + "/workflows/run"},
			func(t *testing.T, o notify.Outcome, r captured) {
				m := decodeJSON(t, r.body)
				att := m["attachments"].([]any)[0].(map[string]any)
				card := att["content"].(map[string]any)
				body := card["body"].([]any)
				if m["type"] != "message" || att["contentType"] != "application/vnd.microsoft.card.adaptive" || card["type"] != "AdaptiveCard" ||
					len(body[2].(map[string]any)["facts"].([]any)) != 3 {
					t.Errorf("teams %s: %s", o, r.body)
				}
				wantColor := map[notify.Outcome]string{notify.OutcomeSuccess: "good", notify.OutcomePartial: "warning", notify.OutcomeFailed: "attention"}[o]
				if body[0].(map[string]any)["color"] != wantColor {
					t.Errorf("teams %s color: %v", o, body[0])
				}
			}},
		{"telegram", map[string]any{"chat_id": "-1001", "api_url": srv.URL}, map[string]string{"bot_token": "123:ABC"},
			func(t *testing.T, o notify.Outcome, r captured) {
				m := decodeJSON(t, r.body)
				if r.path != "/bot123:ABC/sendMessage" || m["chat_id"] != "-1001" || m["parse_mode"] != "HTML" ||
					!strings.Contains(m["text"].(string), "<b>"+event(o).Title+"</b>") || !strings.Contains(m["text"].(string), "&lt;finished&gt;") {
					t.Errorf("telegram %s: %s %s", o, r.path, r.body)
				}
			}},
		{"gotify", map[string]any{"url": srv.URL + "/"}, map[string]string{"token": "gtok"},
			func(t *testing.T, o notify.Outcome, r captured) {
				m := decodeJSON(t, r.body)
				wantPrio := 5.0
				if o == notify.OutcomeFailed {
					wantPrio = 8
				}
				if r.path != "/message" || r.header.Get("X-Gotify-Key") != "gtok" || m["title"] != event(o).Title || m["priority"].(float64) != wantPrio ||
					!strings.Contains(m["message"].(string), "Size: 12.0 MiB") {
					t.Errorf("gotify %s: %s %v %s", o, r.path, r.header, r.body)
				}
			}},
		{"ntfy", map[string]any{"url": srv.URL, "topic": "backups"}, map[string]string{"token": "ntok"},
			func(t *testing.T, o notify.Outcome, r captured) {
				wantPrio := map[notify.Outcome]string{notify.OutcomeSuccess: "default", notify.OutcomePartial: "high", notify.OutcomeFailed: "high"}[o]
				if r.path != "/backups" || r.header.Get("Title") != event(o).Title || r.header.Get("Priority") != wantPrio ||
					r.header.Get("Authorization") != "Bearer ntok" || !strings.Contains(string(r.body), "Destinations: nas: success; s3: failed") {
					t.Errorf("ntfy %s: %s %v %s", o, r.path, r.header, r.body)
				}
			}},
		{"ping", map[string]any{}, map[string]string{"url": srv.URL + "/ping/uuid-1"},
			func(t *testing.T, o notify.Outcome, r captured) {
				want := "/ping/uuid-1/fail"
				if o == notify.OutcomeSuccess {
					want = "/ping/uuid-1"
				}
				if r.method != "POST" || r.path != want {
					t.Errorf("ping %s: %s %s", o, r.method, r.path)
				}
			}},
		{"ping", map[string]any{"style": "uptime-kuma"}, map[string]string{"url": srv.URL + "/api/push/KEY"},
			func(t *testing.T, o notify.Outcome, r captured) {
				want := "status=down"
				if o == notify.OutcomeSuccess {
					want = "status=up"
				}
				if r.method != "GET" || r.path != "/api/push/KEY" || !strings.HasPrefix(r.query, want+"&msg=Backup") {
					t.Errorf("uptime kuma %s: %s %s?%s", o, r.method, r.path, r.query)
				}
			}},
	}
	for _, c := range cases {
		n := newChannel(t, c.typ, c.config, c.secrets)
		for _, o := range []notify.Outcome{notify.OutcomeSuccess, notify.OutcomePartial, notify.OutcomeFailed} {
			before := len(reqs())
			payload, err := n.Notify(context.Background(), event(o))
			if err != nil {
				t.Fatalf("%s %s: %v", c.typ, o, err)
			}
			got := reqs()
			if len(got) != before+1 {
				t.Fatalf("%s %s: %d requests", c.typ, o, len(got)-before)
			}
			c.check(t, o, got[len(got)-1])
			for _, s := range c.secrets {
				if strings.Contains(payload, s) {
					t.Errorf("%s: the logged payload contains a secret", c.typ)
				}
			}
		}
	}
}

func TestPingStartSignal(t *testing.T) {
	t.Parallel()
	srv, reqs := capture(t, 200)
	n := newChannel(t, "ping", map[string]any{}, map[string]string{"url": srv.URL + "/p"})
	if _, err := n.Notify(context.Background(), notify.Event{Kind: notify.KindStart, Title: "Backup started: j"}); err != nil {
		t.Fatal(err)
	}
	if r := reqs(); len(r) != 1 || r[0].path != "/p/start" {
		t.Fatalf("start ping: %+v", r)
	}
}

func TestErrorsAreClearAndHideTheURL(t *testing.T) {
	t.Parallel()
	srv, _ := capture(t, 500)
	n := newChannel(t, "discord", map[string]any{}, map[string]string{"webhook_url": srv.URL + "/api/webhooks/1/SECRET-TOKEN"})
	_, err := n.Notify(context.Background(), event(notify.OutcomeFailed))
	if err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Fatalf("error %v, want HTTP 500", err)
	}
	dead := newChannel(t, "slack", map[string]any{}, map[string]string{"webhook_url": "http://127.0.0.1:1/services/SECRET-TOKEN"})
	_, err = dead.Notify(context.Background(), event(notify.OutcomeFailed))
	if err == nil || strings.Contains(err.Error(), "SECRET-TOKEN") {
		t.Fatalf("unreachable: %v (must fail without quoting the URL)", err)
	}
}

func TestConfigsAreValidated(t *testing.T) {
	t.Parallel()
	bad := []struct {
		typ     string
		config  string
		secrets map[string]string
	}{
		{"discord", `{}`, map[string]string{"webhook_url": "ftp://x"}},
		{"slack", `{"channel":"x"}`, map[string]string{"webhook_url": "https://hooks.slack.com/x"}},
		{"telegram", `{}`, map[string]string{"bot_token": "t"}},
		{"email", `{"host":"smtp","from":"a@b"}`, nil},
		{"email", `{"host":"smtp","from":"a@b","to":["c@d"],"security":"ssl3"}`, nil},
		{"ntfy", `{"topic":"a/b"}`, nil},
		{"ping", `{"style":"nagios"}`, map[string]string{"url": "https://hc-ping.com/x"}},
		{"webhook", `{"body_template":"{{.Nope"}`, map[string]string{"url": "https://x"}},
	}
	for _, b := range bad {
		if _, err := Registry().New(&backup.Endpoint{Type: b.typ, Config: json.RawMessage(b.config), Secrets: b.secrets}); err == nil {
			t.Errorf("%s %s accepted", b.typ, b.config)
		}
	}
}

func TestWebhookBodyTemplate(t *testing.T) {
	t.Parallel()
	srv, reqs := capture(t, 200)
	n := newChannel(t, "webhook", map[string]any{"method": "PUT", "body_template": `{"msg": {{json .Title}}, "ok": {{if eq .Outcome "success"}}true{{else}}false{{end}}}`},
		map[string]string{"url": srv.URL})
	n.Notify(context.Background(), event(notify.OutcomeFailed))
	r := reqs()[0]
	if m := decodeJSON(t, r.body); r.method != "PUT" || m["msg"] != "Backup failed: prod-pg" || m["ok"] != false {
		t.Fatalf("templated body: %s %s", r.method, r.body)
	}
}
