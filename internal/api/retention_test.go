package api

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

func TestAPIRetentionLocksAndPolicies(t *testing.T) {
	t.Parallel()
	src, _ := pgtest.NewDatabase(t, "dbackup_api_ret")
	pgtest.Connect(t, src).Exec(context.Background(), "CREATE TABLE t AS SELECT generate_series(1, 10) AS id")
	c, _ := setup(t)
	c.do("POST", "/api/v1/sources", map[string]any{"name": "pg", "type": "postgres", "config": map[string]any{"host": "127.0.0.1", "user": "postgres", "sslmode": "disable"}}, 201)
	c.do("POST", "/api/v1/destinations", map[string]any{"name": "disk", "type": "local", "config": map[string]string{"path": t.TempDir()}}, 201)
	c.do("POST", "/api/v1/policies", map[string]any{"name": "keep-1", "policy": map[string]any{"mode": "simple", "keep": 1}}, 201)
	c.do("POST", "/api/v1/policies", map[string]any{"name": "bad", "policy": map[string]any{"mode": "simple", "keep": 0}}, 400)
	c.do("POST", "/api/v1/jobs", map[string]any{"name": "j", "source": "pg", "databases": []string{src},
		"destinations": []map[string]any{{"destination": "disk", "policy": "keep-1"}}}, 201)
	c.do("POST", "/api/v1/jobs", map[string]any{"name": "j2", "source": "pg", "databases": []string{src},
		"destinations": []map[string]any{{"destination": "disk", "retention": map[string]any{"mode": "gfs"}}}}, 400)
	c.do("DELETE", "/api/v1/policies/keep-1", nil, 409)
	c.do("PUT", "/api/v1/settings/retention_max_delete_percent", map[string]string{"value": "75"}, 200)
	c.do("PUT", "/api/v1/settings/retention_max_delete_percent", map[string]string{"value": "-1"}, 400)
	c.do("PUT", "/api/v1/settings/no_such", map[string]string{"value": "1"}, 400)

	run := func(lock bool) {
		e := c.do("POST", "/api/v1/jobs/j/run", map[string]bool{"lock": lock}, 202)
		if f := c.waitDone(e["id"].(string)); f["status"] != "success" {
			t.Fatalf("run: %v", f)
		}
	}
	run(true) // A, locked
	run(false)
	run(false) // the run before is deleted by this run's retention
	list := c.do("GET", "/api/v1/destinations/disk/backups?job=j", nil, 200)["backups"].([]any)
	if len(list) != 2 || !list[0].(map[string]any)["meta"].(map[string]any)["locked"].(bool) {
		t.Fatalf("after three runs with keep-1 and a locked first backup: %v", list)
	}
	locked := list[0].(map[string]any)["key"].(string)
	newest := list[1].(map[string]any)["key"].(string)

	var plans []map[string]any
	getPlans := func(method, path string, body any) {
		t.Helper()
		c.do(method, path, body, 200)
		json.Unmarshal(lastBody(c), &plans)
	}
	getPlans("GET", "/api/v1/jobs/j/retention", nil)
	if len(plans) != 1 || plans[0]["keep"].(float64) != 2 || plans[0]["delete"].(float64) != 0 || plans[0]["policy_source"] != "template keep-1" {
		t.Fatalf("plan: %v", plans)
	}
	c.do("POST", "/api/v1/destinations/disk/backups/lock", map[string]any{"key": locked, "locked": false}, 200)
	getPlans("POST", "/api/v1/jobs/j/retention/preview", map[string]any{"policy": map[string]any{"mode": "simple", "keep": 5}})
	if plans[0]["delete"].(float64) != 0 || plans[0]["policy_source"] != "preview" {
		t.Fatalf("preview: %v", plans)
	}
	getPlans("POST", "/api/v1/jobs/j/retention/apply", nil)
	if plans[0]["deleted"].(float64) != 1 {
		t.Fatalf("apply: %v", plans)
	}
	list = c.do("GET", "/api/v1/destinations/disk/backups", nil, 200)["backups"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["key"] != newest {
		t.Fatalf("after apply: %v", list)
	}
	c.do("POST", "/api/v1/destinations/disk/backups/delete", map[string]string{"key": newest}, 204)
	c.do("POST", "/api/v1/destinations/disk/backups/delete", map[string]string{"key": newest}, 404)
	if list = c.do("GET", "/api/v1/destinations/disk/backups", nil, 200)["backups"].([]any); len(list) != 0 {
		t.Fatalf("after delete: %v", list)
	}
}
