package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/runner"
	"github.com/dbackup/dbackup/internal/store"
)

// remote is a dbackup server's API.
type remote struct {
	base string // http(s)://host:port, without a trailing slash
	key  string
	hc   *http.Client
}

func (e *env) remote(server string) (*remote, error) {
	u, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: -server wants a URL such as https://backups.example.com, got %q", errUsage, server)
	}
	key, err := e.apiKey()
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(u.Hostname()); u.Scheme == "http" && u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		fmt.Fprintf(e.stderr, "warning: the API key goes to %s over plain http; use https\n", u.Host)
	}
	return &remote{base: u.String(), key: key, hc: &http.Client{}}, nil
}

// remoteError is what the server answered instead of a result.
type remoteError struct {
	status int
	msg    string
}

func (e *remoteError) Error() string { return e.msg }

// send makes one request and returns the answer when it succeeded.
func (r *remote) send(ctx context.Context, method, path string, in any, accept string) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+r.key)
	req.Header.Set("Accept", accept)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", r.base, err)
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e struct {
		Error string `json:"error"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(raw, &e) != nil || e.Error == "" {
		e.Error = fmt.Sprintf("server %s answered %s", r.base, resp.Status)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		e.Error = "the server refused the API key (DBACKUP_API_KEY): " + e.Error
	}
	return nil, &remoteError{resp.StatusCode, e.Error}
}

// call sends in as JSON and decodes the answer into out (nil: none).
func (r *remote) call(ctx context.Context, method, path string, in, out any) error {
	resp, err := r.send(ctx, method, path, in, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("server %s: unreadable answer to %s %s: %v", r.base, method, path, err)
	}
	return nil
}

func ref(s string) string { return url.PathEscape(s) }

func endpointPath(k app.Kind) string { return "/api/v1/" + string(k) + "s" }

func (r *remote) CreateEndpoint(ctx context.Context, k app.Kind, in app.EndpointInput) (v app.EndpointView, err error) {
	return v, r.call(ctx, "POST", endpointPath(k), in, &v)
}
func (r *remote) UpdateEndpoint(ctx context.Context, k app.Kind, name string, in app.EndpointInput) (v app.EndpointView, err error) {
	return v, r.call(ctx, "PUT", endpointPath(k)+"/"+ref(name), in, &v)
}
func (r *remote) ListEndpoints(ctx context.Context, k app.Kind) (v []app.EndpointView, err error) {
	return v, r.call(ctx, "GET", endpointPath(k), nil, &v)
}
func (r *remote) GetEndpoint(ctx context.Context, k app.Kind, name string) (v app.EndpointView, err error) {
	return v, r.call(ctx, "GET", endpointPath(k)+"/"+ref(name), nil, &v)
}
func (r *remote) DeleteEndpoint(ctx context.Context, k app.Kind, name string) error {
	return r.call(ctx, "DELETE", endpointPath(k)+"/"+ref(name), nil, nil)
}
func (r *remote) TestEndpoint(ctx context.Context, k app.Kind, name string, write bool) (v app.TestResult, err error) {
	return v, r.call(ctx, "POST", endpointPath(k)+"/"+ref(name)+"/test?write="+strconv.FormatBool(write), nil, &v)
}

func (r *remote) CreateProfile(ctx context.Context, name, keyHex string) (v app.ProfileView, err error) {
	return v, r.call(ctx, "POST", "/api/v1/profiles", map[string]string{"name": name, "key": keyHex}, &v)
}
func (r *remote) ListProfiles(ctx context.Context) (v []app.ProfileView, err error) {
	return v, r.call(ctx, "GET", "/api/v1/profiles", nil, &v)
}
func (r *remote) GetProfile(ctx context.Context, name string) (v app.ProfileView, err error) {
	return v, r.call(ctx, "GET", "/api/v1/profiles/"+ref(name), nil, &v)
}
func (r *remote) DeleteProfile(ctx context.Context, name string) error {
	return r.call(ctx, "DELETE", "/api/v1/profiles/"+ref(name), nil, nil)
}

func (r *remote) CreateJob(ctx context.Context, in app.JobInput) (j *backup.Job, err error) {
	return j, r.call(ctx, "POST", "/api/v1/jobs", in, &j)
}
func (r *remote) UpdateJob(ctx context.Context, name string, in app.JobInput) (j *backup.Job, err error) {
	return j, r.call(ctx, "PUT", "/api/v1/jobs/"+ref(name), in, &j)
}
func (r *remote) GetJob(ctx context.Context, name string) (j *backup.Job, err error) {
	return j, r.call(ctx, "GET", "/api/v1/jobs/"+ref(name), nil, &j)
}
func (r *remote) ListJobs(ctx context.Context) (v []app.JobSummary, err error) {
	return v, r.call(ctx, "GET", "/api/v1/jobs", nil, &v)
}
func (r *remote) DeleteJob(ctx context.Context, name string) error {
	return r.call(ctx, "DELETE", "/api/v1/jobs/"+ref(name), nil, nil)
}
func (r *remote) JobNextRuns(ctx context.Context, name string) (v app.NextRuns, err error) {
	return v, r.call(ctx, "GET", "/api/v1/jobs/"+ref(name)+"/next", nil, &v)
}
func (r *remote) SetEnabled(ctx context.Context, name string, enabled bool) (j *backup.Job, err error) {
	action := "disable"
	if enabled {
		action = "enable"
	}
	return j, r.call(ctx, "POST", "/api/v1/jobs/"+ref(name)+"/"+action, nil, &j)
}
func (r *remote) Recovery(ctx context.Context) (v []app.JobRecovery, err error) {
	return v, r.call(ctx, "GET", "/api/v1/recovery", nil, &v)
}

func (r *remote) ListExecutions(ctx context.Context, f store.ExecutionFilter) (v []*backup.Execution, err error) {
	q := url.Values{"job": {f.JobID}, "status": {string(f.Status)}, "kind": {string(f.Kind)}, "sort": {string(f.Sort)}, "limit": {strconv.Itoa(f.Limit)}}
	return v, r.call(ctx, "GET", "/api/v1/executions?"+q.Encode(), nil, &v)
}
func (r *remote) GetExecution(ctx context.Context, id string) (v app.ExecutionWithLogs, err error) {
	return v, r.call(ctx, "GET", "/api/v1/executions/"+ref(id), nil, &v)
}
func (r *remote) Cancel(ctx context.Context, id string) (e *backup.Execution, err error) {
	return e, r.call(ctx, "POST", "/api/v1/executions/"+ref(id)+"/cancel", nil, &e)
}

func (r *remote) ListBackups(ctx context.Context, dest, job string) (v app.BackupList, err error) {
	return v, r.call(ctx, "GET", "/api/v1/destinations/"+ref(dest)+"/backups?job="+url.QueryEscape(job), nil, &v)
}

// VerifyBackup asks the server to read the backup whole; the meta
// returned says only whether it was encrypted.
func (r *remote) VerifyBackup(ctx context.Context, dest, key string) (*backup.Meta, error) {
	var v struct {
		Passed        bool   `json:"passed"`
		Authenticated bool   `json:"authenticated"`
		Error         string `json:"error"`
	}
	if err := r.call(ctx, "POST", "/api/v1/destinations/"+ref(dest)+"/verify", map[string]string{"key": key}, &v); err != nil {
		return nil, err
	}
	if !v.Passed {
		return nil, errors.New(v.Error)
	}
	m := &backup.Meta{}
	if v.Authenticated {
		m.Encryption = &backup.MetaEncryption{}
	}
	return m, nil
}

// Download streams the backup from the server; a damaged backup breaks
// the stream before its end, which the reader sees as an error.
func (r *remote) Download(ctx context.Context, dest, key string, plain bool) (io.ReadCloser, error) {
	q := url.Values{"key": {key}}
	if plain {
		q.Set("plain", "1")
	}
	resp, err := r.send(ctx, "GET", "/api/v1/destinations/"+ref(dest)+"/backups/download?"+q.Encode(), nil, "application/octet-stream")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// RunJob queues a run on the server and follows it.
func (r *remote) RunJob(ctx context.Context, w io.Writer, name string, lock bool) error {
	var ex *backup.Execution
	if err := r.call(ctx, "POST", "/api/v1/jobs/"+ref(name)+"/run", map[string]bool{"lock": lock}, &ex); err != nil {
		return err
	}
	if ex.Status == backup.StatusSkipped {
		return exitError{ExitFailed, ex.Error}
	}
	return r.follow(ctx, w, ex.ID)
}

func (r *remote) Drill(ctx context.Context, w io.Writer, req app.DrillRequest) error {
	var ex *backup.Execution
	if err := r.call(ctx, "POST", "/api/v1/destinations/"+ref(req.Destination)+"/backups/drill", map[string]string{"key": req.Key, "target": req.Target}, &ex); err != nil {
		return err
	}
	if ex.Status == backup.StatusSkipped {
		return exitError{ExitFailed, ex.Error}
	}
	return r.follow(ctx, w, ex.ID)
}

// Restore starts a restore on the server; a key given by hand travels in
// the request body (use https).
func (r *remote) Restore(ctx context.Context, w io.Writer, req runner.RestoreRequest) error {
	in := struct {
		runner.RestoreRequest
		EncryptionKey string `json:"encryption_key,omitempty"`
	}{RestoreRequest: req}
	if req.MasterKey != nil {
		in.EncryptionKey = hex.EncodeToString(req.MasterKey)
	}
	var ex *backup.Execution
	if err := r.call(ctx, "POST", "/api/v1/restores", in, &ex); err != nil {
		return err
	}
	return r.follow(ctx, w, ex.ID)
}

// follow prints an execution's log from the server's event stream until
// it ends, then its outcome; interrupting the command cancels it there.
func (r *remote) follow(ctx context.Context, w io.Writer, id string) error {
	var last app.ExecutionWithLogs
	var seq int64
	for attempt := 0; ; attempt++ {
		err := r.stream(ctx, id, seq, func(ev app.ExecutionWithLogs) {
			for _, l := range ev.Logs {
				printLog(w, l)
				seq = l.Seq
			}
			last = ev
		})
		switch {
		case last.Execution != nil && last.Status.Terminal():
			return summarize(w, last.Execution)
		case ctx.Err() != nil:
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			r.Cancel(cctx, id)
			cancel()
			return fmt.Errorf("interrupted: cancellation of execution %s requested on the server", id)
		case err != nil && attempt >= 5:
			return err
		}
		time.Sleep(time.Second) // the stream broke: resume after the last entry
	}
}

// stream reads one event stream.
func (r *remote) stream(ctx context.Context, id string, after int64, fn func(app.ExecutionWithLogs)) error {
	resp, err := r.send(ctx, "GET", fmt.Sprintf("/api/v1/executions/%s/events?after=%d", ref(id), after), nil, "text/event-stream")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev app.ExecutionWithLogs
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return fmt.Errorf("server %s: unreadable event: %v", r.base, err)
		}
		fn(ev)
	}
	return sc.Err()
}

// printLog prints a log entry as the foreground runs do.
func printLog(w io.Writer, l backup.LogEntry) {
	fmt.Fprintf(w, "%s %-5s [%s] %s\n", l.Time.Local().Format("15:04:05"), l.Level, l.Stage, l.Message)
}
