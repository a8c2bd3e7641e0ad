package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestAPIChannels(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		hits.Add(1)
	}))
	defer hook.Close()
	c, _ := setup(t)
	const canary = "canary-webhook-token-55"
	ch := c.do("POST", "/api/v1/channels", map[string]any{"name": "ops", "type": "discord", "config": map[string]any{},
		"secrets": map[string]string{"webhook_url": hook.URL + "/api/webhooks/" + canary}}, 201)
	if ch["secrets"].(map[string]any)["webhook_url"] != "set" {
		t.Fatalf("channel: %v", ch)
	}
	c.do("POST", "/api/v1/channels", map[string]any{"name": "bad", "type": "discord", "config": map[string]any{}, "secrets": map[string]string{"webhook_url": "not a url"}}, 400)
	if r := c.do("POST", "/api/v1/channels/ops/test", nil, 200); r["ok"] != true || hits.Load() != 1 {
		t.Fatalf("test send: %v, %d requests", r, hits.Load())
	}
	c.do("PUT", "/api/v1/channels/ops/system-events", map[string]any{"events": []string{"restore", "destination"}}, 200)
	c.do("PUT", "/api/v1/channels/ops/system-events", map[string]any{"events": []string{"sunrise"}}, 400)
	c.do("GET", "/api/v1/notifications", nil, 200)
	if !strings.Contains(string(lastBody(c)), `"event": "test"`) || !strings.Contains(string(lastBody(c)), `"status": "sent"`) {
		t.Fatalf("notification log: %s", lastBody(c))
	}
	c.do("POST", "/api/v1/sources", map[string]any{"name": "pg", "type": "postgres", "config": map[string]any{"host": "127.0.0.1"}}, 201)
	c.do("POST", "/api/v1/destinations", map[string]any{"name": "disk", "type": "local", "config": map[string]string{"path": t.TempDir()}}, 201)
	job := func(outcomes []string, want int) {
		c.do("POST", "/api/v1/jobs", map[string]any{"name": "j", "source": "pg", "destinations": []map[string]string{{"destination": "disk"}},
			"notifications": []map[string]any{{"channel": "ops", "outcomes": outcomes}}, "expect_every": "26h"}, want)
	}
	job([]string{"sometimes"}, 400)
	job([]string{"failed", "partial"}, 201)
	j := c.do("GET", "/api/v1/jobs/j", nil, 200)
	if j["expect_every"] != "26h0m0s" || len(j["notifications"].([]any)) != 1 {
		t.Fatalf("job: %v", j)
	}
	c.do("DELETE", "/api/v1/channels/ops", nil, 409)
	if strings.Contains(c.seen.String(), canary) {
		t.Fatal("the webhook token appeared in an API response")
	}
}
