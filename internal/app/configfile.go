package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/pipeline/crypt"
	"github.com/dbackup/dbackup/internal/store"
)

// ConfigFile is an installation's configuration as code: every source,
// destination, channel, profile, policy and job, by name, secrets and
// keys as references (env:NAME or file:/path), never values.
type ConfigFile struct {
	Version      int              `json:"version"`
	Policies     []ConfigPolicy   `json:"policies,omitempty"`
	Profiles     []ConfigProfile  `json:"profiles,omitempty"`
	Sources      []ConfigEndpoint `json:"sources,omitempty"`
	Destinations []ConfigEndpoint `json:"destinations,omitempty"`
	Channels     []ConfigEndpoint `json:"channels,omitempty"`
	Jobs         []JobInput       `json:"jobs,omitempty"`
}

// ConfigEndpoint is a source, destination or channel.
type ConfigEndpoint struct {
	Name    string            `json:"name"`
	Type    string            `json:"type"`
	Config  json.RawMessage   `json:"config,omitempty"`
	Secrets map[string]string `json:"secrets,omitempty"` // name → env:NAME or file:/path
	Scratch bool              `json:"scratch,omitempty"` // sources: a drill target
	// SystemEvents routes system events to a channel (restore, destination).
	SystemEvents []string `json:"system_events,omitempty"`
}

// ConfigProfile is an encryption profile: its key id, and where to find
// its key when the profile must be created.
type ConfigProfile struct {
	Name  string `json:"name"`
	KeyID string `json:"key_id,omitempty"`
	Key   string `json:"key,omitempty"` // env:NAME or file:/path, 64 hex digits
}

// ConfigPolicy is a retention policy template.
type ConfigPolicy struct {
	Name    string          `json:"name"`
	Policy  json.RawMessage `json:"policy"`
	Default bool            `json:"default,omitempty"`
}

// ConfigVersion is the format's version.
const ConfigVersion = 1

// Change is one step of a plan.
type Change struct {
	Op     string   // create, update, delete
	Kind   string   // source, destination, channel, profile, policy, job
	Name   string   //
	Fields []string // what an update changes
	Line   int      // where the file says it (0 for deletes)
}

func (c Change) String() string {
	sign := map[string]string{"create": "+", "update": "~", "delete": "-"}[c.Op]
	s := fmt.Sprintf("%s %s %s", sign, c.Kind, c.Name)
	if len(c.Fields) > 0 {
		s += " (" + strings.Join(c.Fields, ", ") + ")"
	}
	return s
}

// ApplyOptions say how to apply a configuration file.
type ApplyOptions struct {
	Prune  bool // delete what the file does not name (never profiles)
	DryRun bool // validate and plan, change nothing
	// Lookup reads environment variables for env: references.
	Lookup func(string) (string, bool)
}

var errDryRun = errors.New("dry run")

// ExportConfig is the configuration of this installation, by name, in a
// fixed order; secrets and keys are references named after what they
// belong to (env:DBACKUP_SOURCE_PROD_PG_PASSWORD).
func (a *App) ExportConfig(ctx context.Context) (*ConfigFile, error) {
	f := &ConfigFile{Version: ConfigVersion}
	pols, err := a.Store.ListPolicies(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range pols {
		f.Policies = append(f.Policies, ConfigPolicy{Name: p.Name, Policy: sortedJSON(p.Policy), Default: p.Default})
	}
	profs, err := a.Store.ListProfiles(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range profs {
		f.Profiles = append(f.Profiles, ConfigProfile{Name: p.Name, KeyID: crypt.KeyID(p.Key), Key: "env:" + envName("profile", p.Name, "key")})
	}
	system, err := a.Store.SystemChannels(ctx)
	if err != nil {
		return nil, err
	}
	for _, k := range []Kind{KindSource, KindDestination, KindChannel} {
		list, err := a.endpoints(k).List(ctx)
		if err != nil {
			return nil, err
		}
		for _, e := range list {
			ce := ConfigEndpoint{Name: e.Name, Type: e.Type, Config: sortedJSON(e.Config), Scratch: e.Scratch, SystemEvents: system[e.ID]}
			for name := range e.Secrets {
				if ce.Secrets == nil {
					ce.Secrets = map[string]string{}
				}
				ce.Secrets[name] = "env:" + envName(string(k), e.Name, name)
			}
			f.endpoints(k, func(l *[]ConfigEndpoint) { *l = append(*l, ce) })
		}
	}
	jobs, err := a.Store.ListJobs(ctx)
	if err != nil {
		return nil, err
	}
	names, err := a.namesByID(ctx)
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		in := byNames(InputOf(j), names)
		for i, d := range in.Destinations {
			if len(d.Retention) > 0 {
				in.Destinations[i].Retention = sortedJSON(d.Retention)
			}
		}
		f.Jobs = append(f.Jobs, in)
	}
	return f, nil
}

// sortedJSON is a JSON object with its keys sorted, so that an export
// does not depend on the order a setting was once written in.
func sortedJSON(raw json.RawMessage) json.RawMessage {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return raw
	}
	b, _ := json.Marshal(v)
	return b
}

func (f *ConfigFile) endpoints(k Kind, fn func(*[]ConfigEndpoint)) {
	switch k {
	case KindSource:
		fn(&f.Sources)
	case KindDestination:
		fn(&f.Destinations)
	default:
		fn(&f.Channels)
	}
}

var notName = regexp.MustCompile(`[^A-Z0-9]+`)

// envName is the environment variable an export names for a secret.
func envName(parts ...string) string {
	return "DBACKUP_" + strings.Trim(notName.ReplaceAllString(strings.ToUpper(strings.Join(parts, "_")), "_"), "_")
}

// namesByID maps the ids of everything a job refers to to their names.
func (a *App) namesByID(ctx context.Context) (map[string]string, error) {
	names := map[string]string{}
	for _, es := range []store.Endpoints{a.Store.Sources(), a.Store.Destinations(), a.Store.Channels()} {
		list, err := es.List(ctx)
		if err != nil {
			return nil, err
		}
		for _, e := range list {
			names[e.ID] = e.Name
		}
	}
	pols, err := a.Store.ListPolicies(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range pols {
		names[p.ID] = p.Name
	}
	profs, err := a.Store.ListProfiles(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range profs {
		names[p.ID] = p.Name
	}
	return names, nil
}

// byNames is a job's input with its references as names.
func byNames(in JobInput, names map[string]string) JobInput {
	name := func(id string) string {
		if n, ok := names[id]; ok {
			return n
		}
		return id
	}
	in.Source, in.Profile, in.DrillTarget = name(in.Source), name(in.Profile), name(in.DrillTarget)
	for i := range in.Destinations {
		in.Destinations[i].Destination, in.Destinations[i].Policy = name(in.Destinations[i].Destination), name(in.Destinations[i].Policy)
	}
	for i := range in.Notifications {
		in.Notifications[i].Channel = name(in.Notifications[i].Channel)
	}
	return in
}

// located is a configuration item and its line in the file.
type located[T any] struct {
	item T
	line int
}

// parsedConfig is a file's items with their lines.
type parsedConfig struct {
	policies  []located[ConfigPolicy]
	profiles  []located[ConfigProfile]
	endpoints map[Kind][]located[ConfigEndpoint]
	jobs      []located[JobInput]
}

// ApplyConfig makes the installation what the file says, in one
// transaction: everything validated as the API validates it (the same
// messages, with the file's line), then created or changed, and with
// Prune, what the file does not name deleted. It returns the plan; a
// second apply of the same file changes nothing.
func (a *App) ApplyConfig(ctx context.Context, raw []byte, opt ApplyOptions) ([]Change, error) {
	p, err := parseConfig(raw)
	if err != nil {
		return nil, err
	}
	var plan []Change
	err = a.Store.InTx(ctx, func(st store.Store) error {
		tx := &App{Cfg: a.Cfg, Store: st, Sources: a.Sources, Dests: a.Dests, Channels: a.Channels, Runner: a.Runner, Queue: a.Queue,
			Log: a.Log, Location: a.Location, Metrics: a.Metrics}
		var err error
		if plan, err = tx.applyConfig(ctx, p, opt); err != nil {
			return err
		}
		if opt.DryRun {
			return errDryRun
		}
		for _, c := range plan {
			tx.Audit(ctx, "config."+c.Op, c.Kind+" "+c.Name, true, strings.Join(c.Fields, ", "))
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		err = nil
	}
	return plan, err
}

func (a *App) applyConfig(ctx context.Context, p *parsedConfig, opt ApplyOptions) ([]Change, error) {
	var plan []Change
	at := func(line int, kind, name string, err error) error {
		return fmt.Errorf("line %d: %s %q: %w", line, kind, name, err)
	}
	for _, l := range p.policies {
		c, err := a.applyPolicy(ctx, l.item)
		if err != nil {
			return nil, at(l.line, "policy", l.item.Name, err)
		}
		plan = appendChange(plan, c, l.line)
	}
	for _, l := range p.profiles {
		c, err := a.applyProfile(ctx, l.item, opt.Lookup)
		if err != nil {
			return nil, at(l.line, "profile", l.item.Name, err)
		}
		plan = appendChange(plan, c, l.line)
	}
	for _, k := range []Kind{KindSource, KindDestination, KindChannel} {
		for _, l := range p.endpoints[k] {
			c, err := a.applyEndpoint(ctx, k, l.item, opt.Lookup)
			if err != nil {
				return nil, at(l.line, string(k), l.item.Name, err)
			}
			plan = appendChange(plan, c, l.line)
		}
	}
	for _, l := range p.jobs {
		c, err := a.applyJob(ctx, l.item)
		if err != nil {
			return nil, at(l.line, "job", l.item.Name, err)
		}
		plan = appendChange(plan, c, l.line)
	}
	if opt.Prune {
		deletes, err := a.prune(ctx, p)
		if err != nil {
			return nil, err
		}
		plan = append(plan, deletes...)
	}
	return plan, nil
}

func appendChange(plan []Change, c *Change, line int) []Change {
	if c == nil {
		return plan
	}
	c.Line = line
	return append(plan, *c)
}

func (a *App) applyPolicy(ctx context.Context, in ConfigPolicy) (*Change, error) {
	pi := PolicyInput{Name: in.Name, Policy: in.Policy, Default: in.Default}
	cur, err := a.Store.GetPolicy(ctx, in.Name)
	if errors.Is(err, backup.ErrNotFound) {
		_, err = a.CreatePolicy(ctx, pi)
		return &Change{Op: "create", Kind: "policy", Name: in.Name}, err
	} else if err != nil {
		return nil, err
	}
	var fields []string
	if !sameJSON(cur.Policy, in.Policy) {
		fields = append(fields, "policy")
	}
	if cur.Default != in.Default {
		fields = append(fields, "default")
	}
	if fields == nil {
		return nil, nil
	}
	_, err = a.UpdatePolicy(ctx, cur.ID, pi)
	return &Change{Op: "update", Kind: "policy", Name: in.Name, Fields: fields}, err
}

// applyProfile creates a missing profile from its key reference; an
// existing one must have the key the file names: a key never changes.
func (a *App) applyProfile(ctx context.Context, in ConfigProfile, lookup func(string) (string, bool)) (*Change, error) {
	cur, err := a.Store.GetProfile(ctx, in.Name)
	if err == nil {
		if id := crypt.KeyID(cur.Key); in.KeyID != "" && id != in.KeyID {
			return nil, fmt.Errorf("%w: its key here has id %s, the file says %s; a profile's key never changes (create a profile of another name)", backup.ErrInvalid, id, in.KeyID)
		}
		return nil, nil
	} else if !errors.Is(err, backup.ErrNotFound) {
		return nil, err
	}
	keyHex, ok, err := resolveRef(in.Key, lookup)
	if err != nil {
		return nil, fmt.Errorf("%w: key: %v", backup.ErrInvalid, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: the profile does not exist here and its key (%s) is not set: its backups could not be decrypted with a new one", backup.ErrInvalid, orNone(in.Key))
	}
	p, err := a.CreateProfile(ctx, in.Name, keyHex)
	if err != nil {
		return nil, err
	}
	if in.KeyID != "" && crypt.KeyID(p.Key) != in.KeyID {
		return nil, fmt.Errorf("%w: the key from %s has id %s, the file says %s", backup.ErrInvalid, in.Key, crypt.KeyID(p.Key), in.KeyID)
	}
	return &Change{Op: "create", Kind: "profile", Name: in.Name}, nil
}

func orNone(ref string) string {
	if ref == "" {
		return "no key reference"
	}
	return ref
}

// applyEndpoint creates or changes a source, destination or channel.
// Secrets come from their references; an existing endpoint keeps a
// secret whose reference is not set here.
func (a *App) applyEndpoint(ctx context.Context, k Kind, in ConfigEndpoint, lookup func(string) (string, bool)) (*Change, error) {
	if k != KindChannel && len(in.SystemEvents) > 0 {
		return nil, fmt.Errorf("%w: system_events are for channels", backup.ErrInvalid)
	}
	cur, err := a.endpoints(k).Get(ctx, in.Name)
	exists := err == nil
	if err != nil && !errors.Is(err, backup.ErrNotFound) {
		return nil, err
	}
	secrets := map[string]string{}
	for name, ref := range in.Secrets {
		v, ok, err := resolveRef(ref, lookup)
		if err != nil {
			return nil, fmt.Errorf("%w: secret %s: %v", backup.ErrInvalid, name, err)
		}
		if !ok && !exists {
			return nil, fmt.Errorf("%w: secret %s: %s is not set", backup.ErrInvalid, name, ref)
		}
		if ok && (!exists || cur.Secrets[name] != v) {
			secrets[name] = v
		}
	}
	scratch := in.Scratch
	ei := EndpointInput{Name: in.Name, Type: in.Type, Config: in.Config, Secrets: secrets}
	if k == KindSource {
		ei.Scratch = &scratch
	}
	change := &Change{Op: "create", Kind: string(k), Name: in.Name}
	if !exists {
		if _, err := a.CreateEndpoint(ctx, k, ei); err != nil {
			return nil, err
		}
	} else {
		change.Op = "update"
		if cur.Type != in.Type {
			change.Fields = append(change.Fields, "type")
		}
		if !sameJSON(cur.Config, in.Config) {
			change.Fields = append(change.Fields, "config")
		}
		if len(secrets) > 0 {
			change.Fields = append(change.Fields, "secrets")
		}
		if cur.Scratch != in.Scratch && k == KindSource {
			change.Fields = append(change.Fields, "scratch")
		}
		if len(change.Fields) > 0 {
			if _, err := a.UpdateEndpoint(ctx, k, cur.ID, ei); err != nil {
				return nil, err
			}
		}
	}
	if k == KindChannel {
		system, err := a.Store.SystemChannels(ctx)
		if err != nil {
			return nil, err
		}
		id := in.Name
		if exists {
			id = cur.ID
		}
		ch, err := a.Store.Channels().Get(ctx, id)
		if err != nil {
			return nil, err
		}
		want, have := slices.Sorted(slices.Values(in.SystemEvents)), slices.Sorted(slices.Values(system[ch.ID]))
		if !slices.Equal(want, have) {
			if err := a.SetSystemEvents(ctx, ch.ID, in.SystemEvents); err != nil {
				return nil, err
			}
			if exists {
				change.Fields = append(change.Fields, "system_events")
			}
		}
	}
	if exists && len(change.Fields) == 0 {
		return nil, nil
	}
	return change, nil
}

// applyJob creates a job or changes what differs.
func (a *App) applyJob(ctx context.Context, in JobInput) (*Change, error) {
	if in.Enabled == nil {
		yes := true
		in.Enabled = &yes
	}
	cur, err := a.Store.GetJob(ctx, in.Name)
	if errors.Is(err, backup.ErrNotFound) {
		_, err = a.CreateJob(ctx, in)
		return &Change{Op: "create", Kind: "job", Name: in.Name}, err
	} else if err != nil {
		return nil, err
	}
	names, err := a.namesByID(ctx)
	if err != nil {
		return nil, err
	}
	have, want := jsonFields(byNames(InputOf(cur), names)), jsonFields(in)
	var fields []string
	for _, k := range slices.Sorted(maps.Keys(union(have, want))) {
		if !sameJSON(have[k], want[k]) {
			fields = append(fields, k)
		}
	}
	if fields == nil {
		return nil, nil
	}
	_, err = a.UpdateJob(ctx, cur.ID, in)
	return &Change{Op: "update", Kind: "job", Name: in.Name, Fields: fields}, err
}

// prune deletes what the file does not name: jobs first, then what they
// used. Profiles stay: their keys decrypt backups.
func (a *App) prune(ctx context.Context, p *parsedConfig) ([]Change, error) {
	var plan []Change
	named := map[string]bool{}
	for _, l := range p.jobs {
		named["job "+l.item.Name] = true
	}
	for k, list := range p.endpoints {
		for _, l := range list {
			named[string(k)+" "+l.item.Name] = true
		}
	}
	for _, l := range p.policies {
		named["policy "+l.item.Name] = true
	}
	jobs, err := a.Store.ListJobs(ctx)
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		if !named["job "+j.Name] {
			if err := a.DeleteJob(ctx, j.ID); err != nil {
				return nil, fmt.Errorf("delete job %q: %w", j.Name, err)
			}
			plan = append(plan, Change{Op: "delete", Kind: "job", Name: j.Name})
		}
	}
	for _, k := range []Kind{KindChannel, KindDestination, KindSource} {
		list, err := a.endpoints(k).List(ctx)
		if err != nil {
			return nil, err
		}
		for _, e := range list {
			if !named[string(k)+" "+e.Name] {
				if err := a.DeleteEndpoint(ctx, k, e.ID); err != nil {
					return nil, fmt.Errorf("delete %s %q: %w", k, e.Name, err)
				}
				plan = append(plan, Change{Op: "delete", Kind: string(k), Name: e.Name})
			}
		}
	}
	pols, err := a.Store.ListPolicies(ctx)
	if err != nil {
		return nil, err
	}
	for _, pt := range pols {
		if !named["policy "+pt.Name] {
			if err := a.DeletePolicy(ctx, pt.ID); err != nil {
				return nil, fmt.Errorf("delete policy %q: %w", pt.Name, err)
			}
			plan = append(plan, Change{Op: "delete", Kind: "policy", Name: pt.Name})
		}
	}
	return plan, nil
}

// resolveRef reads a secret reference: env:NAME or file:/path. A value
// written in the file itself is refused: configuration lives in git.
func resolveRef(ref string, lookup func(string) (string, bool)) (string, bool, error) {
	switch {
	case strings.HasPrefix(ref, "env:"):
		name := strings.TrimPrefix(ref, "env:")
		if lookup == nil {
			lookup = os.LookupEnv
		}
		v, ok := lookup(name)
		return strings.TrimSpace(v), ok && v != "", nil
	case strings.HasPrefix(ref, "file:"):
		b, err := os.ReadFile(strings.TrimPrefix(ref, "file:"))
		if errors.Is(err, os.ErrNotExist) {
			return "", false, nil
		}
		return strings.TrimSpace(string(b)), err == nil, err
	case ref == "":
		return "", false, nil
	}
	return "", false, errors.New("a secret in the file must be a reference, env:NAME or file:/path, never the value itself")
}

// sameJSON compares two JSON values whatever their formatting and key order.
func sameJSON(a, b json.RawMessage) bool {
	na, nb := normalJSON(a), normalJSON(b)
	return bytes.Equal(na, nb)
}

func normalJSON(raw json.RawMessage) []byte {
	var v any
	if len(bytes.TrimSpace(raw)) == 0 || json.Unmarshal(raw, &v) != nil {
		return nil
	}
	v = dropZero(v)
	b, _ := json.Marshal(v) // map keys sorted
	return b
}

// dropZero removes empty values (false, 0, "", null, [], {}) from maps,
// so that a setting left out and a setting at its zero compare equal.
func dropZero(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = dropZero(e)
			if isZero(x[k]) {
				delete(x, k)
			}
		}
		if len(x) == 0 {
			return nil
		}
	case []any:
		for i := range x {
			x[i] = dropZero(x[i])
		}
		if len(x) == 0 {
			return nil
		}
	}
	return v
}

func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case float64:
		return x == 0
	case string:
		return x == "" || x == "0s"
	}
	return false
}

// jsonFields is a value's top-level JSON fields.
func jsonFields(v any) map[string]json.RawMessage {
	b, _ := json.Marshal(v)
	var m map[string]json.RawMessage
	json.Unmarshal(b, &m)
	return m
}

func union[V any](a, b map[string]V) map[string]V {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}
