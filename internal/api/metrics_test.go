package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

// metric finds the value of one sample in Prometheus' text format: the
// sample of name whose labels include every one given.
func metric(t *testing.T, body, name string, labels ...string) float64 {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			match = match && strings.Contains(rest, fmt.Sprintf("%s=%q", labels[i], labels[i+1]))
		}
		if match {
			v, err := strconv.ParseFloat(rest[strings.LastIndexByte(rest, ' ')+1:], 64)
			if err != nil {
				t.Fatalf("sample %s: %v", line, err)
			}
			return v
		}
	}
	t.Fatalf("no sample %s %v in:\n%s", name, labels, body)
	return 0
}

func scrape(t *testing.T, url, bearer string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A backup moves the per-stage counters by the bytes it reports; the
// output passes promtool; /metrics is for administrators or the token.
func TestMetricsScrape(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is missing: `make services` installs Debian's prometheus package")
	}
	src, _ := pgtest.NewDatabase(t, "dbackup_metrics")
	pgtest.Connect(t, src).Exec(context.Background(), "CREATE TABLE t AS SELECT generate_series(1, 20000) AS id, md5(random()::text) AS v")
	c, a := setup(t)
	srv := httptest.NewServer(New(a).Metrics())
	t.Cleanup(srv.Close)
	if code, _ := scrape(t, srv.URL, ""); code != 401 {
		t.Fatalf("anonymous scrape: %d", code)
	}
	c.do("POST", "/api/v1/sources", map[string]any{"name": "pg", "type": "postgres", "config": map[string]any{"host": "127.0.0.1", "user": "postgres", "sslmode": "disable"}}, 201)
	c.do("POST", "/api/v1/destinations", map[string]any{"name": "disk", "type": "local", "config": map[string]string{"path": t.TempDir()}}, 201)
	c.do("POST", "/api/v1/destinations", map[string]any{"name": "disk2", "type": "local", "config": map[string]string{"path": t.TempDir()}}, 201)
	c.do("POST", "/api/v1/profiles", map[string]any{"name": "k"}, 201)
	c.do("POST", "/api/v1/jobs", map[string]any{"name": "m", "source": "pg", "databases": []string{src},
		"destinations": []map[string]any{{"destination": "disk"}, {"destination": "disk2"}}, "encryption_profile": "k"}, 201)
	e := c.waitDone(c.do("POST", "/api/v1/jobs/m/run", nil, 202)["id"].(string))
	if e["status"] != "success" {
		t.Fatalf("run: %v", e)
	}
	// The execution says where its time went, and so does its log.
	stages := map[string]map[string]any{}
	for _, x := range e["timings"].([]any) {
		st := x.(map[string]any)
		key := st["stage"].(string)
		if d, _ := st["destination"].(string); d != "" {
			key += ":" + d
		}
		stages[key] = st
	}
	for _, k := range []string{"dump", "compress", "encrypt", "upload:disk", "upload:disk2", "verify:disk", "verify:disk2"} {
		if stages[k] == nil {
			t.Fatalf("no %s timing in %v", k, e["timings"])
		}
	}
	log := fmt.Sprint(e["logs"])
	if !strings.Contains(log, "upload to disk2: ") || strings.Contains(log, "stage upload finished in") {
		t.Fatalf("log without per-stage timings, or with the old upload line: %s", log)
	}
	a.RefreshUsage(context.Background())

	code, body := scrape(t, srv.URL, c.key)
	if code != 200 {
		t.Fatalf("admin scrape: %d %s", code, body)
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(body)
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	dumped, stored := e["bytes_dumped"].(float64), e["bytes_stored"].(float64)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"dbackup_stage_bytes_total", []string{"stage", "dump", "job_name", "m"}, dumped},
		{"dbackup_stage_bytes_total", []string{"stage", "compress", "job_name", "m"}, dumped},
		{"dbackup_stage_bytes_total", []string{"stage", "encrypt", "job_name", "m"}, stored},
		{"dbackup_stage_bytes_total", []string{"stage", "upload", "destination", "disk"}, stored},
		{"dbackup_stage_bytes_total", []string{"stage", "upload", "destination", "disk2"}, stored},
		{"dbackup_stage_bytes_total", []string{"stage", "verify", "destination", "disk"}, stored},
		{"dbackup_stage_seconds_total", []string{"stage", "dump", "job_name", "m"}, stages["dump"]["seconds"].(float64)},
		{"dbackup_executions_total", []string{"kind", "backup", "job_name", "m", "status", "success"}, 1},
		{"dbackup_job_last_status", []string{"job_name", "m", "status", "success"}, 1},
		{"dbackup_job_last_status", []string{"job_name", "m", "status", "failed"}, 0},
		{"dbackup_backup_dumped_bytes_sum", []string{"job_name", "m"}, dumped},
		{"dbackup_backup_duration_seconds_count", []string{"job_name", "m"}, 1},
		{"dbackup_destination_up", []string{"destination", "disk"}, 1},
		{"dbackup_destination_backups", []string{"destination", "disk2"}, 1},
		{"dbackup_queue_depth", nil, 0},
		{"dbackup_running_executions", nil, 0},
	} {
		if got := metric(t, body, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if metric(t, body, "dbackup_job_last_success_timestamp_seconds", "job_name", "m") < 1.7e9 {
		t.Error("no last success time")
	}
	if dumped < 1e5 || bytes.Contains([]byte(body), []byte(c.key)) {
		t.Fatalf("dumped %v bytes; or the key leaked", dumped)
	}

	// With a metrics token, the token and nothing else.
	a.Cfg.MetricsToken = "scrape-token-1"
	tokSrv := httptest.NewServer(New(a).Metrics())
	t.Cleanup(tokSrv.Close)
	if code, _ := scrape(t, tokSrv.URL, "wrong"); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	if code, _ := scrape(t, tokSrv.URL, c.key); code != 401 {
		t.Fatalf("an API key instead of the token: %d", code)
	}
	if code, body := scrape(t, tokSrv.URL, "scrape-token-1"); code != 200 || !strings.Contains(body, "dbackup_stage_bytes_total") {
		t.Fatalf("token scrape: %d", code)
	}
}
