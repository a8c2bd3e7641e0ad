package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/config"
	"github.com/dbackup/dbackup/internal/runner"
)

// setup returns a serving App on a fresh SQLite store in a temporary data directory.
func setup(t *testing.T) *App { return setupWith(t, nil) }

// setupWith lets configure change the App (clocks, time zones) before its
// queue starts.
func setupWith(t *testing.T, configure func(a *App)) *App {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Config{DataDir: dir, DatabaseURL: filepath.Join(dir, "dbackup.db"), SecretKeyFile: filepath.Join(dir, "server.key"), Timezone: "Europe/Berlin",
		ToolDirs: []string{os.TempDir()}} // the tests' stand-in tools live in their temporary directories
	a, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	a.Queue.Poll = 50 * time.Millisecond
	if configure != nil {
		configure(a)
	}
	a.Serve(context.Background())
	t.Cleanup(func() { a.Close() })
	return a
}

func raw(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// pgSource registers the test PostgreSQL server as a source.
func pgSource(t *testing.T, a *App, name, user, password string) *backup.Endpoint {
	t.Helper()
	in := EndpointInput{Name: name, Type: "postgres", Config: raw(map[string]any{"host": "127.0.0.1", "port": 5432, "user": user, "sslmode": "disable"})}
	if password != "" {
		in.Secrets = map[string]string{"password": password}
	}
	e, err := a.CreateEndpoint(context.Background(), KindSource, in)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// localDest registers a local directory destination.
func localDest(t *testing.T, a *App, name, dir string) *backup.Endpoint {
	t.Helper()
	e, err := a.CreateEndpoint(context.Background(), KindDestination, EndpointInput{Name: name, Type: "local", Config: raw(map[string]string{"path": dir})})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func mustJob(t *testing.T, a *App, in JobInput) *backup.Job {
	t.Helper()
	j, err := a.CreateJob(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func dests(names ...string) []JobDestInput {
	var out []JobDestInput
	for _, n := range names {
		out = append(out, JobDestInput{Destination: n})
	}
	return out
}

func restore(t *testing.T, a *App, req runner.RestoreRequest) *backup.Execution {
	t.Helper()
	e, err := a.Restore(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func logsOf(t *testing.T, a *App, id string) string {
	t.Helper()
	ex, err := a.GetExecution(context.Background(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := ""
	for _, l := range ex.Logs {
		s += string(l.Level) + " [" + string(l.Stage) + "] " + l.Message + "\n"
	}
	return s
}
