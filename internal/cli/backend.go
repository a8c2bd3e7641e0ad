package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/runner"
	"github.com/dbackup/dbackup/internal/store"
)

// backend is what the commands that also work remotely ask of dbackup:
// the app in this process (the store on this host), or a running server
// through its API (-server URL, an API key in DBACKUP_API_KEY).
type backend interface {
	CreateEndpoint(ctx context.Context, k app.Kind, in app.EndpointInput) (app.EndpointView, error)
	UpdateEndpoint(ctx context.Context, k app.Kind, ref string, in app.EndpointInput) (app.EndpointView, error)
	ListEndpoints(ctx context.Context, k app.Kind) ([]app.EndpointView, error)
	GetEndpoint(ctx context.Context, k app.Kind, ref string) (app.EndpointView, error)
	DeleteEndpoint(ctx context.Context, k app.Kind, ref string) error
	TestEndpoint(ctx context.Context, k app.Kind, ref string, write bool) (app.TestResult, error)

	CreateProfile(ctx context.Context, name, keyHex string) (app.ProfileView, error)
	ListProfiles(ctx context.Context) ([]app.ProfileView, error)
	GetProfile(ctx context.Context, ref string) (app.ProfileView, error)
	DeleteProfile(ctx context.Context, ref string) error

	CreateJob(ctx context.Context, in app.JobInput) (*backup.Job, error)
	UpdateJob(ctx context.Context, ref string, in app.JobInput) (*backup.Job, error)
	GetJob(ctx context.Context, ref string) (*backup.Job, error)
	ListJobs(ctx context.Context) ([]app.JobSummary, error)
	DeleteJob(ctx context.Context, ref string) error
	JobNextRuns(ctx context.Context, ref string) (app.NextRuns, error)
	SetEnabled(ctx context.Context, ref string, enabled bool) (*backup.Job, error)
	Recovery(ctx context.Context) ([]app.JobRecovery, error)

	ListExecutions(ctx context.Context, f store.ExecutionFilter) ([]*backup.Execution, error)
	GetExecution(ctx context.Context, id string) (app.ExecutionWithLogs, error)
	Cancel(ctx context.Context, id string) (*backup.Execution, error)

	ListBackups(ctx context.Context, dest, job string) (app.BackupList, error)
	VerifyBackup(ctx context.Context, dest, key string) (*backup.Meta, error)
	Download(ctx context.Context, dest, key string, plain bool) (io.ReadCloser, error)

	// The runs a command starts and follows to their end, printing the
	// log to w: here in this process, or on the server.
	RunJob(ctx context.Context, w io.Writer, ref string, lock bool) error
	Drill(ctx context.Context, w io.Writer, req app.DrillRequest) error
	Restore(ctx context.Context, w io.Writer, req runner.RestoreRequest) error
}

// serverFlag registers -server: the commands that can work remotely use
// the API of this server instead of the store.
func (e *env) serverFlag(fs *flag.FlagSet) *string {
	def, _ := e.getenv("DBACKUP_SERVER")
	return fs.String("server", def, "work through the API of the dbackup server at this URL, with the API key in DBACKUP_API_KEY or DBACKUP_API_KEY_FILE (env DBACKUP_SERVER)")
}

// withBackend is withApp for the commands that also work remotely.
func (e *env) withBackend(ctx context.Context, name string, args []string, nargs int, setup func(fs *flag.FlagSet),
	fn func(b backend, fs *flag.FlagSet) error) error {
	fs, cfg, server, err := e.parseArgs(name, args, nargs, setup)
	if err != nil {
		return err
	}
	if server != "" {
		r, err := e.remote(server)
		if err != nil {
			return err
		}
		return fn(r, fs)
	}
	a, err := e.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(local{a}, fs)
}

// apiKey reads the API key of -server: DBACKUP_API_KEY, or the file named
// by DBACKUP_API_KEY_FILE. Never a flag: it would show on the command line.
func (e *env) apiKey() (string, error) {
	if k, ok := e.getenv("DBACKUP_API_KEY"); ok && k != "" {
		return strings.TrimSpace(k), nil
	}
	if path, ok := e.getenv("DBACKUP_API_KEY_FILE"); ok && path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("DBACKUP_API_KEY_FILE: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return "", fmt.Errorf("%w: -server needs an API key in DBACKUP_API_KEY or DBACKUP_API_KEY_FILE (`dbackup apikey create` on the server's host)", errUsage)
}

// local is the app in this process.
type local struct{ a *app.App }

func (l local) CreateEndpoint(ctx context.Context, k app.Kind, in app.EndpointInput) (app.EndpointView, error) {
	return view(l.a.CreateEndpoint(ctx, k, in))
}
func (l local) UpdateEndpoint(ctx context.Context, k app.Kind, ref string, in app.EndpointInput) (app.EndpointView, error) {
	return view(l.a.UpdateEndpoint(ctx, k, ref, in))
}
func (l local) GetEndpoint(ctx context.Context, k app.Kind, ref string) (app.EndpointView, error) {
	return view(l.a.GetEndpoint(ctx, k, ref))
}
func (l local) ListEndpoints(ctx context.Context, k app.Kind) ([]app.EndpointView, error) {
	list, err := l.a.ListEndpoints(ctx, k)
	out := make([]app.EndpointView, 0, len(list))
	for _, ep := range list {
		out = append(out, app.View(ep))
	}
	return out, err
}
func (l local) DeleteEndpoint(ctx context.Context, k app.Kind, ref string) error {
	return l.a.DeleteEndpoint(ctx, k, ref)
}
func (l local) TestEndpoint(ctx context.Context, k app.Kind, ref string, write bool) (app.TestResult, error) {
	return l.a.TestEndpoint(ctx, k, ref, write)
}

func view(ep *backup.Endpoint, err error) (app.EndpointView, error) {
	if err != nil {
		return app.EndpointView{}, err
	}
	return app.View(ep), nil
}

func (l local) CreateProfile(ctx context.Context, name, keyHex string) (app.ProfileView, error) {
	return profileView(l.a.CreateProfile(ctx, name, keyHex))
}
func (l local) GetProfile(ctx context.Context, ref string) (app.ProfileView, error) {
	return profileView(l.a.Store.GetProfile(ctx, ref))
}
func (l local) ListProfiles(ctx context.Context) ([]app.ProfileView, error) {
	list, err := l.a.Store.ListProfiles(ctx)
	out := make([]app.ProfileView, 0, len(list))
	for _, p := range list {
		out = append(out, app.ViewProfile(p))
	}
	return out, err
}
func (l local) DeleteProfile(ctx context.Context, ref string) error {
	return l.a.DeleteProfile(ctx, ref)
}

func profileView(p *backup.Profile, err error) (app.ProfileView, error) {
	if err != nil {
		return app.ProfileView{}, err
	}
	return app.ViewProfile(p), nil
}

func (l local) CreateJob(ctx context.Context, in app.JobInput) (*backup.Job, error) {
	return l.a.CreateJob(ctx, in)
}
func (l local) UpdateJob(ctx context.Context, ref string, in app.JobInput) (*backup.Job, error) {
	return l.a.UpdateJob(ctx, ref, in)
}
func (l local) GetJob(ctx context.Context, ref string) (*backup.Job, error) {
	return l.a.Store.GetJob(ctx, ref)
}
func (l local) ListJobs(ctx context.Context) ([]app.JobSummary, error) {
	jobs, err := l.a.Store.ListJobs(ctx)
	if err != nil {
		return nil, err
	}
	return l.a.SummarizeJobs(ctx, jobs)
}
func (l local) DeleteJob(ctx context.Context, ref string) error { return l.a.DeleteJob(ctx, ref) }
func (l local) JobNextRuns(ctx context.Context, ref string) (app.NextRuns, error) {
	return l.a.JobNextRuns(ctx, ref, 5)
}
func (l local) SetEnabled(ctx context.Context, ref string, enabled bool) (*backup.Job, error) {
	return l.a.SetEnabled(ctx, ref, enabled)
}
func (l local) Recovery(ctx context.Context) ([]app.JobRecovery, error) { return l.a.Recovery(ctx) }

func (l local) ListExecutions(ctx context.Context, f store.ExecutionFilter) ([]*backup.Execution, error) {
	return l.a.ListExecutions(ctx, f)
}
func (l local) GetExecution(ctx context.Context, id string) (app.ExecutionWithLogs, error) {
	return l.a.GetExecution(ctx, id, 0)
}
func (l local) Cancel(ctx context.Context, id string) (*backup.Execution, error) {
	return l.a.Cancel(ctx, id)
}

func (l local) ListBackups(ctx context.Context, dest, job string) (app.BackupList, error) {
	return l.a.ListBackups(ctx, dest, job)
}
func (l local) VerifyBackup(ctx context.Context, dest, key string) (*backup.Meta, error) {
	return l.a.VerifyBackup(ctx, dest, key)
}
func (l local) Download(ctx context.Context, dest, key string, plain bool) (io.ReadCloser, error) {
	return l.a.OpenDownload(ctx, dest, key, plain)
}

// RunJob queues a run that this process runs itself, following its log.
func (l local) RunJob(ctx context.Context, w io.Writer, ref string, lock bool) error {
	ex, err := l.a.EnqueueForeground(ctx, ref, backup.TriggerManual, lock)
	if err != nil {
		return err
	}
	if ex.Status == backup.StatusSkipped {
		return exitError{ExitFailed, ex.Error}
	}
	return follow(ctx, w, l.a, ex.ID, func(ctx context.Context) (*backup.Execution, error) { return l.a.RunQueued(ctx, ex) })
}

func (l local) Drill(ctx context.Context, w io.Writer, req app.DrillRequest) error {
	ex, err := l.a.QueueDrill(ctx, req)
	if err != nil {
		return err
	}
	if ex.Status == backup.StatusSkipped {
		return exitError{ExitFailed, ex.Error}
	}
	return follow(ctx, w, l.a, ex.ID, func(ctx context.Context) (*backup.Execution, error) { return l.a.RunQueued(ctx, ex) })
}

func (l local) Restore(ctx context.Context, w io.Writer, req runner.RestoreRequest) error {
	req.Trigger = backup.TriggerManual
	ex, err := l.a.NewRestore(ctx, req)
	if err != nil {
		return err
	}
	return follow(ctx, w, l.a, ex.ID, func(ctx context.Context) (*backup.Execution, error) { return l.a.RunRestore(ctx, ex, req) })
}
