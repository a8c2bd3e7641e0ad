package api

import (
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/auth"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/runner"
	"github.com/dbackup/dbackup/internal/version"
)

// doc describes one route for the OpenAPI description: what it does,
// its JSON body, its answer. A route without one fails the route test.
type doc struct {
	summary string
	in      reflect.Type // JSON body; nil: none
	status  int          // the answer's status when it succeeds
	out     reflect.Type // JSON answer; nil: none (or file, below)
	file    bool         // the answer is a file (application/octet-stream)
	stream  reflect.Type // the answer is Server-Sent Events, each of this JSON
	query   []string     // query parameters
}

func t[T any]() reflect.Type { return reflect.TypeFor[T]() }

// Shapes of answers and bodies written as maps or inline structs.
type (
	errorOut struct {
		Error string `json:"error"`
	}
	healthOut struct{ Status, Version, Error string }
	typesOut  struct{ Sources, Destinations, Channels []string }
	verifyOut struct {
		Key           string
		Passed        bool
		Authenticated bool
		Error         string
	}
	loginOut struct {
		User      *backup.User
		CSRFToken string
	}
	meOut        struct{ Actor, Role string }
	keyCreateOut struct {
		Key    string
		APIKey *backup.APIKey
		Note   string
	}
	lockOut struct {
		Key    string
		Locked bool
	}
	trustOut struct {
		Key  string
		Meta *backup.Meta
	}
	settingOut     struct{ Name, Value string }
	systemEventOut struct {
		Channel string
		Events  []string
	}
	preflightOut struct {
		OK     bool
		Checks []string
		Error  string
	}
	credentialsIn struct{ Name, Password string }
	userIn        struct{ Name, Password, Role string }
	keyIn         struct{ Name, Role, ExpiresIn string }
	profileIn     struct{ Name, Key string }
	backupKeyIn   struct{ Key string }
	drillIn       struct{ Key, Target string }
	lockIn        struct {
		Key    string
		Locked bool
	}
	trustIn struct{ Key, MasterKey string }
	linkIn  struct {
		Key   string
		Plain bool
		TTL   string
	}
	runIn  struct{ Lock bool }
	bulkIn struct {
		Action string
		Jobs   []string
	}
	previewIn struct {
		Destination string
		Policy      map[string]any
	}
	applyIn struct {
		Destination string
		Force       bool
	}
	eventsIn  struct{ Events []string }
	valueIn   struct{ Value string }
	restoreIn struct {
		runner.RestoreRequest
		EncryptionKey string
	}
)

// jsonNames are the JSON names of the shapes above (their fields carry no
// tags to stay short): CSRFToken → csrf_token.
var jsonNames = map[string]string{"CSRFToken": "csrf_token", "APIKey": "api_key", "MasterKey": "master_key", "ExpiresIn": "expires_in",
	"EncryptionKey": "encryption_key", "TTL": "ttl", "OK": "ok"}

// optional fields of the shapes above (omitempty in what they describe).
var optional = map[string]bool{"healthOut.Version": true, "healthOut.Error": true, "verifyOut.Authenticated": true, "verifyOut.Error": true,
	"preflightOut.Error": true, "keyIn.ExpiresIn": true, "profileIn.Key": true, "drillIn.Target": true, "trustIn.MasterKey": true,
	"linkIn.Plain": true, "linkIn.TTL": true, "runIn.Lock": true, "previewIn.Destination": true, "applyIn.Destination": true,
	"applyIn.Force": true, "restoreIn.EncryptionKey": true}

// docs describes every route by its pattern.
func docs() map[string]doc {
	d := map[string]doc{
		"GET /api/v1/health":                              {summary: "whether the service and its store answer (public)", status: 200, out: t[healthOut]()},
		"GET /api/v1/openapi.json":                        {summary: "this description (public)", status: 200, out: t[map[string]any]()},
		"POST /api/v1/auth/login":                         {summary: "log in: a session cookie and its CSRF token", in: t[credentialsIn](), status: 200, out: t[loginOut]()},
		"POST /api/v1/auth/setup":                         {summary: "create the first admin, once", in: t[credentialsIn](), status: 201, out: t[*backup.User]()},
		"POST /api/v1/auth/logout":                        {summary: "end this session", status: 204},
		"GET /api/v1/auth/me":                             {summary: "who is asking, with which role", status: 200, out: t[meOut]()},
		"GET /api/v1/types":                               {summary: "the source, destination and channel types", status: 200, out: t[typesOut]()},
		"GET /api/v1/destinations/{ref}/backups":          {summary: "complete backups at a destination, and what looks like one but is not", status: 200, out: t[app.BackupList](), query: []string{"job"}},
		"GET /api/v1/destinations/{ref}/backups/download": {summary: "a backup's stored bytes, or with plain=1 the dump, checked as it streams", status: 200, file: true, query: []string{"key", "plain"}},
		"POST /api/v1/destinations/{ref}/backups/link":    {summary: "a short-lived, single-use download link", in: t[linkIn](), status: 201, out: t[app.DownloadLinkInfo]()},
		"GET /api/v1/downloads/{token}":                   {summary: "download by link, once (public: the token is the credential)", status: 200, file: true},
		"POST /api/v1/destinations/{ref}/verify":          {summary: "read a backup whole against its sidecar", in: t[backupKeyIn](), status: 200, out: t[verifyOut]()},
		"POST /api/v1/destinations/{ref}/backups/lock":    {summary: "lock or unlock a backup against retention", in: t[lockIn](), status: 200, out: t[lockOut]()},
		"POST /api/v1/destinations/{ref}/backups/delete":  {summary: "delete a backup (never a locked one)", in: t[backupKeyIn](), status: 204},
		"POST /api/v1/destinations/{ref}/backups/trust":   {summary: "re-sign a backup after reading it whole (admins)", in: t[trustIn](), status: 200, out: t[trustOut]()},
		"POST /api/v1/destinations/{ref}/backups/drill":   {summary: "queue a restore drill of a backup", in: t[drillIn](), status: 202, out: t[*backup.Execution]()},
		"GET /api/v1/recovery":                            {summary: "what drills proved per job", status: 200, out: t[[]app.JobRecovery]()},
		"GET /api/v1/policies":                            {summary: "retention policy templates", status: 200, out: t[[]*backup.PolicyTemplate]()},
		"POST /api/v1/policies":                           {summary: "create a policy template", in: t[app.PolicyInput](), status: 201, out: t[*backup.PolicyTemplate]()},
		"GET /api/v1/policies/{ref}":                      {summary: "a policy template", status: 200, out: t[*backup.PolicyTemplate]()},
		"PUT /api/v1/policies/{ref}":                      {summary: "replace a policy template", in: t[app.PolicyInput](), status: 200, out: t[*backup.PolicyTemplate]()},
		"DELETE /api/v1/policies/{ref}":                   {summary: "delete a policy template no job uses", status: 204},
		"GET /api/v1/profiles":                            {summary: "encryption profiles (key ids, never keys)", status: 200, out: t[[]app.ProfileView]()},
		"POST /api/v1/profiles":                           {summary: "create a profile with a new key, or import one", in: t[profileIn](), status: 201, out: t[app.ProfileView]()},
		"GET /api/v1/profiles/{ref}":                      {summary: "a profile", status: 200, out: t[app.ProfileView]()},
		"DELETE /api/v1/profiles/{ref}":                   {summary: "delete a profile no job uses", status: 204},
		"GET /api/v1/jobs":                                {summary: "jobs with their last run, next run and state", status: 200, out: t[[]app.JobSummary]()},
		"POST /api/v1/jobs":                               {summary: "create a job", in: t[app.JobInput](), status: 201, out: t[*backup.Job]()},
		"GET /api/v1/jobs/{ref}":                          {summary: "a job", status: 200, out: t[*backup.Job]()},
		"PUT /api/v1/jobs/{ref}":                          {summary: "replace a job's settings", in: t[app.JobInput](), status: 200, out: t[*backup.Job]()},
		"PATCH /api/v1/jobs/{ref}":                        {summary: "change the settings given; the others stay", in: t[app.JobInput](), status: 200, out: t[*backup.Job]()},
		"DELETE /api/v1/jobs/{ref}":                       {summary: "delete a job (its backups and history stay)", status: 204},
		"POST /api/v1/jobs/{ref}/clone":                   {summary: "copy a job, disabled", status: 201, out: t[*backup.Job]()},
		"POST /api/v1/jobs/bulk":                          {summary: "enable, disable, delete or run several jobs", in: t[bulkIn](), status: 200, out: t[[]app.BulkResult]()},
		"POST /api/v1/jobs/{ref}/run":                     {summary: "queue a run now", in: t[runIn](), status: 202, out: t[*backup.Execution]()},
		"GET /api/v1/jobs/{ref}/next":                     {summary: "the next five scheduled runs", status: 200, out: t[app.NextRuns]()},
		"POST /api/v1/jobs/{ref}/enable":                  {summary: "schedule the job again", status: 200, out: t[*backup.Job]()},
		"POST /api/v1/jobs/{ref}/disable":                 {summary: "stop scheduling the job", status: 200, out: t[*backup.Job]()},
		"GET /api/v1/jobs/{ref}/retention":                {summary: "what retention would delete now (dry run)", status: 200, out: t[[]runner.RetentionPlan](), query: []string{"destination"}},
		"POST /api/v1/jobs/{ref}/retention/preview":       {summary: "dry run of a policy being edited", in: t[previewIn](), status: 200, out: t[[]runner.RetentionPlan]()},
		"POST /api/v1/jobs/{ref}/retention/apply":         {summary: "apply retention now", in: t[applyIn](), status: 200, out: t[[]app.RetentionResult]()},
		"GET /api/v1/executions":                          {summary: "the history, newest first unless sorted", status: 200, out: t[[]*backup.Execution](), query: []string{"job", "status", "kind", "trigger", "sort", "limit", "offset"}},
		"GET /api/v1/executions/{id}":                     {summary: "an execution with its log after a sequence number", status: 200, out: t[app.ExecutionWithLogs](), query: []string{"after"}},
		"GET /api/v1/executions/{id}/events":              {summary: "the execution as Server-Sent Events until it ends: each event the execution with the log entries since the last", status: 200, stream: t[app.ExecutionWithLogs](), query: []string{"after"}},
		"POST /api/v1/executions/{id}/cancel":             {summary: "cancel a queued or running execution", status: 202, out: t[*backup.Execution]()},
		"POST /api/v1/restores":                           {summary: "start a restore", in: t[restoreIn](), status: 202, out: t[*backup.Execution]()},
		"POST /api/v1/restores/preflight":                 {summary: "a restore's checks, writing nothing", in: t[restoreIn](), status: 200, out: t[preflightOut]()},
		"PUT /api/v1/channels/{ref}/system-events":        {summary: "route system events to a channel", in: t[eventsIn](), status: 200, out: t[systemEventOut]()},
		"GET /api/v1/notifications":                       {summary: "the delivery log", status: 200, out: t[[]backup.NotificationLogEntry](), query: []string{"job", "execution", "limit"}},
		"GET /api/v1/settings":                            {summary: "settings with their defaults", status: 200, out: t[[]app.Setting]()},
		"PUT /api/v1/settings/{name}":                     {summary: "change a setting (admins)", in: t[valueIn](), status: 200, out: t[settingOut]()},
		"GET /api/v1/users":                               {summary: "users", status: 200, out: t[[]*backup.User]()},
		"POST /api/v1/users":                              {summary: "add a user", in: t[userIn](), status: 201, out: t[*backup.User]()},
		"DELETE /api/v1/users/{ref}":                      {summary: "delete a user (never the last admin)", status: 204},
		"GET /api/v1/apikeys":                             {summary: "API keys (never the keys)", status: 200, out: t[[]*backup.APIKey]()},
		"POST /api/v1/apikeys":                            {summary: "create an API key, shown once", in: t[keyIn](), status: 201, out: t[keyCreateOut]()},
		"POST /api/v1/apikeys/{ref}/revoke":               {summary: "revoke an API key", status: 204},
		"GET /api/v1/audit":                               {summary: "the audit log, newest first", status: 200, out: t[[]backup.AuditEntry](), query: []string{"limit", "offset"}},
	}
	for _, k := range []string{"source", "destination", "channel"} {
		base := "/api/v1/" + k + "s"
		d["GET "+base] = doc{summary: k + "s (secrets shown only as set)", status: 200, out: t[[]app.EndpointView]()}
		d["POST "+base] = doc{summary: "create a " + k, in: t[app.EndpointInput](), status: 201, out: t[app.EndpointView]()}
		d["GET "+base+"/{ref}"] = doc{summary: "a " + k, status: 200, out: t[app.EndpointView]()}
		d["PUT "+base+"/{ref}"] = doc{summary: "change a " + k + " (secrets again when where it connects changes)", in: t[app.EndpointInput](), status: 200, out: t[app.EndpointView]()}
		d["DELETE "+base+"/{ref}"] = doc{summary: "delete a " + k + " nothing uses", status: 204}
		d["POST "+base+"/{ref}/test"] = doc{summary: "test a " + k, status: 200, out: t[app.TestResult](), query: []string{"write"}}
	}
	return d
}

// OpenAPI is the OpenAPI 3.1 description of the routes registered, each
// with the permission it needs.
func (h *Handler) OpenAPI() map[string]any {
	s := &schemas{defs: map[string]any{}}
	d := docs()
	paths := map[string]any{}
	for _, r := range h.Routes {
		method, path, _ := strings.Cut(r.Pattern, " ")
		dd, ok := d[r.Pattern]
		if !ok {
			continue // the route test reports it
		}
		op := map[string]any{
			"summary":              dd.summary,
			"operationId":          operationID(r.Pattern),
			"x-dbackup-permission": string(r.Permission),
			"responses":            map[string]any{},
		}
		if r.Permission == auth.Public {
			op["security"] = []any{}
		}
		var params []any
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, map[string]any{"name": strings.Trim(seg, "{}"), "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
			}
		}
		for _, q := range dd.query {
			params = append(params, map[string]any{"name": q, "in": "query", "schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if dd.in != nil {
			op["requestBody"] = map[string]any{"content": map[string]any{"application/json": map[string]any{"schema": s.shape(dd.in)}}}
		}
		ok200 := map[string]any{"description": http.StatusText(dd.status)}
		switch {
		case dd.file:
			ok200["content"] = map[string]any{"application/octet-stream": map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}}
		case dd.stream != nil:
			ok200["content"] = map[string]any{"text/event-stream": map[string]any{"itemSchema": s.shape(dd.stream)}}
		case dd.out != nil:
			ok200["content"] = map[string]any{"application/json": map[string]any{"schema": s.shape(dd.out)}}
		}
		resp := op["responses"].(map[string]any)
		resp[strconv.Itoa(dd.status)] = ok200
		resp["default"] = map[string]any{"description": "an error", "content": map[string]any{"application/json": map[string]any{"schema": s.shape(t[errorOut]())}}}
		item, _ := paths[path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[path] = item
		}
		item[strings.ToLower(method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "dbackup API", "version": version.Version,
			"description": "dbackup's JSON API. Authenticate with an API key as a bearer token (or a session cookie and its CSRF token). " +
				"Each operation's x-dbackup-permission is the permission its caller's role needs (docs/api.md)."},
		"servers":    []any{map[string]any{"url": "/"}},
		"security":   []any{map[string]any{"bearer": []any{}}},
		"paths":      paths,
		"components": map[string]any{"schemas": s.defs, "securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}}},
	}
}

// shape is the schema of a documented type; the shapes declared here (no
// json tags) get snake_case names and their optional fields.
func (s *schemas) shape(t reflect.Type) map[string]any {
	if t.Kind() == reflect.Struct && t.PkgPath() == reflect.TypeFor[doc]().PkgPath() {
		props, required := map[string]any{}, []string{}
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Anonymous {
				s.fields(f.Type, props, &required)
				continue
			}
			name := jsonNames[f.Name]
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			props[name] = s.of(f.Type)
			if !optional[t.Name()+"."+f.Name] {
				required = append(required, name)
			}
		}
		sort.Strings(required)
		return map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false}
	}
	return s.of(t)
}

// operationID is a route's name: "GET /api/v1/jobs/{ref}/next" → "get_jobs_ref_next".
func operationID(pattern string) string {
	method, path, _ := strings.Cut(pattern, " ")
	path = strings.NewReplacer("/api/v1/", "", "{", "", "}", "", "/", "_", ".", "_", "-", "_").Replace(path)
	return strings.ToLower(method) + "_" + path
}

func (h *Handler) openapi(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.OpenAPI())
}
