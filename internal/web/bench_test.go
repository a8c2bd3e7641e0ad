package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/config"
	"github.com/dbackup/dbackup/internal/httpsec"
)

// BenchmarkPages renders every page over a store of 10,000 jobs and
// 100,000 executions (a year of them). The target is under 100 ms of
// server time per page (`make bench`; docs/benchmarks.md).
func BenchmarkPages(b *testing.B) {
	const jobs, executions = 10000, 100000
	ctx := context.Background()
	dir := b.TempDir()
	a, err := app.Open(ctx, config.Config{DataDir: dir, DatabaseURL: filepath.Join(dir, "db"), SecretKeyFile: filepath.Join(dir, "key"), Timezone: "UTC"},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	start := time.Now()
	src := &backup.Endpoint{Name: "pg", Type: "postgres", Config: []byte(`{"host":"127.0.0.1"}`)}
	must(b, a.Store.Sources().Create(ctx, src))
	var dests []*backup.Endpoint
	for i := range 3 {
		d := &backup.Endpoint{Name: fmt.Sprintf("disk%d", i), Type: "local", Config: fmt.Appendf(nil, `{"path":%q}`, b.TempDir())}
		must(b, a.Store.Destinations().Create(ctx, d))
		dests = append(dests, d)
	}
	var ids []string
	for i := range jobs {
		j := &backup.Job{Name: fmt.Sprintf("job-%05d", i), SourceID: src.ID, Compression: backup.CompressionZstd, Enabled: i%10 != 0,
			Schedule: fmt.Sprintf("%d %d * * *", i%60, i%24), Destinations: []backup.JobDestination{{DestinationID: dests[i%3].ID}}}
		must(b, a.Store.CreateJob(ctx, j))
		ids = append(ids, j.ID)
	}
	now := time.Now().UTC()
	statuses := []backup.Status{backup.StatusSuccess, backup.StatusSuccess, backup.StatusSuccess, backup.StatusSuccess, backup.StatusSuccess,
		backup.StatusSuccess, backup.StatusSuccess, backup.StatusFailed, backup.StatusPartial, backup.StatusCancelled}
	var last string
	for i := range executions {
		at := now.Add(-time.Duration(executions-i) * 315 * time.Second) // one year, evenly
		ended := at.Add(time.Duration(30+i%97) * time.Second)           // sizes and durations vary for the sorts
		e := &backup.Execution{JobID: ids[i%jobs], JobName: fmt.Sprintf("job-%05d", i%jobs), Kind: backup.KindBackup, Status: statuses[i%len(statuses)],
			Trigger: backup.TriggerSchedule, Stage: backup.StageComplete, CreatedAt: at, StartedAt: &at, EndedAt: &ended, BytesDumped: 1 << 30, BytesStored: 1<<28 + int64(i%1013)<<10,
			Destinations: []backup.DestResult{{DestinationID: dests[i%3].ID, Name: dests[i%3].Name, Status: backup.StatusSuccess, Size: 1 << 28, Verified: true}}}
		if e.Status == backup.StatusFailed {
			e.Error = "connection refused"
		}
		must(b, a.Store.CreateExecution(ctx, e))
		last = e.ID
	}
	b.Logf("seeded %d jobs and %d executions in %s", jobs, executions, time.Since(start).Round(time.Second))
	if _, err := a.Setup(ctx, "root", "bench-password-1"); err != nil {
		b.Fatal(err)
	}
	token, csrf, _, err := a.Login(ctx, "root", "bench-password-1", "127.0.0.1")
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(a)
	if err != nil {
		b.Fatal(err)
	}
	// The dashboard last: it counts the year of history once, in the
	// background, from the handler's start (about 100 ms here).
	for _, page := range []string{"/jobs", "/jobs/new", "/jobs/job-05000/edit", "/executions", "/executions?status=failed",
		"/executions?job=job-00042", "/executions?trigger=schedule&sort=oldest", "/executions?offset=99950",
		"/executions?sort=longest", "/executions?sort=largest", "/executions?status=failed&sort=largest", "/executions/" + last,
		"/storage", "/sources", "/destinations", "/channels", "/profiles", "/settings", "/users", "/audit", "/"} {
		b.Run(page, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, page, nil)
				req.AddCookie(&http.Cookie{Name: httpsec.SessionCookie, Value: token})
				req.AddCookie(&http.Cookie{Name: csrfCookie, Value: csrf})
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", page, rec.Code, rec.Body.String())
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/page")
		})
	}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
