package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/plugin"
	"github.com/dbackup/dbackup/internal/store"
)

// EndpointInput creates or updates a source or destination. On update, an
// empty or missing secret keeps the stored one.
type EndpointInput struct {
	Name    string            `json:"name"`
	Type    string            `json:"type"`
	Config  json.RawMessage   `json:"config"`
	Secrets map[string]string `json:"secrets,omitempty"`
	// Scratch marks a source as a drill target: drills create and drop
	// databases on it (and replace a Redis keyspace). Sources only.
	Scratch *bool `json:"scratch,omitempty"`
}

// EndpointView is what the API and CLI show: secrets only as "set".
type EndpointView struct {
	*backup.Endpoint
	Secrets map[string]string `json:"secrets"`
}

// View hides an endpoint's secrets.
func View(e *backup.Endpoint) EndpointView { return EndpointView{e, e.SecretNames()} }

// Kind selects sources or destinations.
type Kind string

const (
	KindSource      Kind = "source"
	KindDestination Kind = "destination"
	KindChannel     Kind = "channel"
)

func (a *App) endpoints(k Kind) store.Endpoints {
	switch k {
	case KindSource:
		return a.Store.Sources()
	case KindChannel:
		return a.Store.Channels()
	}
	return a.Store.Destinations()
}

// validate builds the plugin from the endpoint, which decodes and checks
// its config strictly without connecting anywhere.
func (a *App) validate(k Kind, e *backup.Endpoint) error {
	var err error
	switch k {
	case KindSource:
		var s interface{ Close() error }
		if s, err = a.Sources.New(e); err == nil {
			s.Close()
		}
	case KindChannel:
		_, err = a.Channels.New(e)
	default:
		var d interface{ Close() error }
		if d, err = a.Dests.New(e); err == nil {
			d.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("%s %q: %w", k, e.Name, invalid(err))
	}
	return nil
}

// invalid marks a plugin's validation error as bad input.
func invalid(err error) error {
	if strings.Contains(err.Error(), backup.ErrInvalid.Error()) {
		return err
	}
	return fmt.Errorf("%w: %v", backup.ErrInvalid, err)
}

// CreateEndpoint validates and stores a new source or destination.
func (a *App) CreateEndpoint(ctx context.Context, k Kind, in EndpointInput) (*backup.Endpoint, error) {
	if err := backup.CheckName(string(k)+" name", strings.TrimSpace(in.Name)); err != nil {
		return nil, err
	}
	e := &backup.Endpoint{Name: strings.TrimSpace(in.Name), Type: in.Type, Config: in.Config, Secrets: dropEmpty(in.Secrets)}
	if err := a.setScratch(ctx, k, e, in.Scratch); err != nil {
		return nil, err
	}
	if err := a.validate(k, e); err != nil {
		return nil, err
	}
	if err := a.endpoints(k).Create(ctx, e); err != nil {
		return nil, err
	}
	return e, nil
}

// UpdateEndpoint changes a source or destination; empty secrets are kept.
func (a *App) UpdateEndpoint(ctx context.Context, k Kind, ref string, in EndpointInput) (*backup.Endpoint, error) {
	e, err := a.endpoints(k).Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := a.merge(ctx, k, e, in); err != nil {
		return nil, err
	}
	return e, a.endpoints(k).Update(ctx, e)
}

// merge applies an update to e and validates it: empty secrets keep the
// stored ones, except where the endpoint would connect elsewhere.
func (a *App) merge(ctx context.Context, k Kind, e *backup.Endpoint, in EndpointInput) error {
	if in.Name != "" {
		if err := backup.CheckName(string(k)+" name", strings.TrimSpace(in.Name)); err != nil {
			return err
		}
		e.Name = strings.TrimSpace(in.Name)
	}
	if in.Type != "" {
		e.Type = in.Type
	}
	if len(in.Config) > 0 {
		if moved := movedTo(e.Config, in.Config); moved != "" && len(e.Secrets) > 0 && len(dropEmpty(in.Secrets)) == 0 {
			return fmt.Errorf("%w: changing %s needs the secrets again: the stored ones are never sent to another server", backup.ErrInvalid, moved)
		}
		e.Config = in.Config
	}
	for name, v := range in.Secrets {
		if v != "" {
			e.Secrets[name] = v
		}
	}
	if err := a.setScratch(ctx, k, e, in.Scratch); err != nil {
		return err
	}
	return a.validate(k, e)
}

// TestEndpointInput tests what a form would save, saving nothing: a new
// endpoint (ref empty) or the change of one (its stored secrets are used
// only where it still connects).
func (a *App) TestEndpointInput(ctx context.Context, k Kind, ref string, in EndpointInput) (TestResult, error) {
	e := &backup.Endpoint{Name: strings.TrimSpace(in.Name), Type: in.Type, Config: in.Config, Secrets: dropEmpty(in.Secrets)}
	if ref != "" {
		cur, err := a.endpoints(k).Get(ctx, ref)
		if err != nil {
			return TestResult{}, err
		}
		e = cur
		if err := a.merge(ctx, k, e, in); err != nil {
			return TestResult{}, err
		}
	} else if err := a.validate(k, e); err != nil {
		return TestResult{}, err
	}
	return a.testEndpoint(ctx, k, e, false), nil
}

// setScratch marks (or unmarks) a source as a drill target. A source a job
// backs up is never scratch: drills would write over what it backs up.
func (a *App) setScratch(ctx context.Context, k Kind, e *backup.Endpoint, scratch *bool) error {
	if scratch == nil {
		return nil
	}
	if k != KindSource && *scratch {
		return fmt.Errorf("%w: only a source can be a drill target (scratch)", backup.ErrInvalid)
	}
	if *scratch && e.ID != "" {
		jobs, err := a.Store.ListJobs(ctx)
		if err != nil {
			return err
		}
		for _, j := range jobs {
			if j.SourceID == e.ID {
				return fmt.Errorf("%w: job %s backs up source %s; a drill target (scratch) must be a server whose contents may be thrown away", backup.ErrInvalid, j.Name, e.Name)
			}
		}
	}
	e.Scratch = *scratch
	return nil
}

// whereFields name where an endpoint connects and as whom; a stored
// password goes only where it was entered for.
var whereFields = []string{"host", "port", "socket", "user", "username", "endpoint", "url", "preset", "account_id", "region", "bucket", "access_key_id", "share", "server", "webhook_url", "topic"}

// movedTo names the first of whereFields whose value differs between two
// configs ("" when none does).
func movedTo(old, next json.RawMessage) string {
	var a, b map[string]any
	json.Unmarshal(old, &a)
	json.Unmarshal(next, &b)
	for _, f := range whereFields {
		if fmt.Sprint(a[f]) != fmt.Sprint(b[f]) {
			return f
		}
	}
	return ""
}

// GetEndpoint finds a source or destination by id or name.
func (a *App) GetEndpoint(ctx context.Context, k Kind, ref string) (*backup.Endpoint, error) {
	return a.endpoints(k).Get(ctx, ref)
}

// ListEndpoints lists sources or destinations.
func (a *App) ListEndpoints(ctx context.Context, k Kind) ([]*backup.Endpoint, error) {
	return a.endpoints(k).List(ctx)
}

// DeleteEndpoint deletes a source or destination no job uses.
func (a *App) DeleteEndpoint(ctx context.Context, k Kind, ref string) error {
	e, err := a.endpoints(k).Get(ctx, ref)
	if err != nil {
		return err
	}
	if users, err := a.jobsUsing(ctx, e.ID); err != nil {
		return err
	} else if len(users) > 0 {
		return fmt.Errorf("%w: %s %q is used by job %s; remove it from them first", backup.ErrInUse, k, e.Name, strings.Join(users, ", "))
	}
	return a.endpoints(k).Delete(ctx, e.ID)
}

// jobsUsing names the jobs that use a source, destination or channel.
func (a *App) jobsUsing(ctx context.Context, id string) ([]string, error) {
	jobs, err := a.Store.ListJobs(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, j := range jobs {
		uses := j.SourceID == id || j.DrillTargetID == id
		for _, d := range j.Destinations {
			uses = uses || d.DestinationID == id
		}
		for _, c := range j.Notifications {
			uses = uses || c.ChannelID == id
		}
		if uses {
			names = append(names, fmt.Sprintf("%q", j.Name))
		}
	}
	return names, nil
}

// TestResult is the outcome of a connection test.
type TestResult struct {
	OK        bool     `json:"ok"`
	Version   string   `json:"version,omitempty"`
	Databases []string `json:"databases,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// TestEndpoint connects to a source (and reads its version and databases)
// or checks a destination, writing nothing; with write, a destination also
// stores, reads back and removes a probe under .dbackup/.
func (a *App) TestEndpoint(ctx context.Context, k Kind, ref string, write bool) (TestResult, error) {
	e, err := a.endpoints(k).Get(ctx, ref)
	if err != nil {
		return TestResult{}, err
	}
	return a.testEndpoint(ctx, k, e, write), nil
}

func (a *App) testEndpoint(ctx context.Context, k Kind, e *backup.Endpoint, write bool) TestResult {
	fail := func(err error) TestResult { return TestResult{Error: err.Error()} }
	if k == KindChannel {
		if err := a.testChannel(ctx, e); err != nil {
			return fail(err)
		}
		return TestResult{OK: true}
	}
	if k == KindDestination {
		d, err := a.Dests.New(e)
		if err != nil {
			return fail(err)
		}
		defer d.Close()
		if err := d.Check(ctx); err != nil {
			if e.ID != "" {
				a.onDestinationFailed(e.Name, err)
			}
			return fail(err)
		}
		if write {
			if err := dest.Probe(ctx, d); err != nil {
				a.onDestinationFailed(e.Name, err)
				return fail(err)
			}
		}
		return TestResult{OK: true}
	}
	s, err := a.Sources.New(e)
	if err != nil {
		return fail(err)
	}
	defer s.Close()
	v, err := s.Version(ctx)
	if err != nil {
		return fail(err)
	}
	dbs, err := s.ListDatabases(ctx)
	if err != nil {
		return fail(err)
	}
	return TestResult{OK: true, Version: v, Databases: dbs}
}

func dropEmpty(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

// PluginType describes a plugin type for forms: its name, label, config
// fields and the secrets it takes.
type PluginType struct {
	Type    string
	Label   string
	Fields  []plugin.Field
	Secrets []string
}

// PluginTypes lists the types of one kind of endpoint, sorted.
func (a *App) PluginTypes(k Kind) []PluginType {
	switch k {
	case KindSource:
		return pluginTypes(a.Sources)
	case KindChannel:
		return pluginTypes(a.Channels)
	}
	return pluginTypes(a.Dests)
}

func pluginTypes[T any](r *plugin.Registry[T]) []PluginType {
	var out []PluginType
	for _, t := range r.Types() {
		f, _ := r.Lookup(t)
		out = append(out, PluginType{Type: t, Label: f.Label, Fields: f.Fields, Secrets: f.Secrets})
	}
	return out
}
