package metrics

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// The Grafana dashboard in docs asks only for metrics dbackup exports.
func TestDashboardUsesExportedMetrics(t *testing.T) {
	m := New(func(context.Context) (State, error) { return State{}, nil }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	names := map[string]bool{}
	descs := make(chan *prometheus.Desc, 100)
	go func() { m.Describe(descs); close(descs) }()
	re := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	for d := range descs {
		names[re.FindStringSubmatch(d.String())[1]] = true
	}
	for _, c := range []prometheus.Collector{m.runs, m.duration, m.dumped, m.stored, m.stageBytes, m.stageSeconds, m.notifyFailures} {
		ch := make(chan *prometheus.Desc, 10)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			n := re.FindStringSubmatch(d.String())[1]
			names[n] = true
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[n+suffix] = true
			}
		}
	}
	raw, err := os.ReadFile("../../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	used := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, n := range regexp.MustCompile(`dbackup_[a-z_]+`).FindAllString(tg.Expr, -1) {
				used++
				if !names[n] {
					t.Errorf("panel %q asks for %s, which dbackup does not export (it has %s)", p.Title, n, strings.Join(keys(names), ", "))
				}
			}
		}
	}
	if len(dash.Panels) < 10 || used < 15 {
		t.Fatalf("%d panels, %d metric uses", len(dash.Panels), used)
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
