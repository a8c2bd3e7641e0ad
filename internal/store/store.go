// Package store defines the metadata store. sqlstore implements it over
// SQLite and PostgreSQL; storetest is the suite both must pass.
package store

import (
	"context"
	"fmt"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/secret"
)

// Endpoints stores one family of configured plugins (sources or
// destinations). Secrets are encrypted at rest and decrypted on read.
type Endpoints interface {
	Create(ctx context.Context, e *backup.Endpoint) error
	// Get finds an endpoint by id or by name.
	Get(ctx context.Context, ref string) (*backup.Endpoint, error)
	List(ctx context.Context) ([]*backup.Endpoint, error)
	Update(ctx context.Context, e *backup.Endpoint) error
	// Delete refuses (backup.ErrInUse) an endpoint a job still uses.
	Delete(ctx context.Context, id string) error
}

// ExecutionFilter selects executions, newest first unless Sort says
// otherwise.
type ExecutionFilter struct {
	JobID   string
	Status  backup.Status
	Kind    backup.Kind
	Trigger backup.Trigger
	// Since and Until bound created_at (Until excluded); zero: unbounded.
	Since, Until time.Time
	Sort         ExecutionSort
	Limit        int
	Offset       int
}

// ExecutionSort orders a list of executions.
type ExecutionSort string

const (
	SortNewest  ExecutionSort = ""        // by creation, newest first
	SortOldest  ExecutionSort = "oldest"  // by creation, oldest first
	SortLongest ExecutionSort = "longest" // by duration (start to end), longest first; unfinished last
	SortLargest ExecutionSort = "largest" // by bytes stored, largest first
)

// ParseExecutionSort accepts the sorts' names ("newest" for the default).
func ParseExecutionSort(s string) (ExecutionSort, error) {
	switch v := ExecutionSort(s); v {
	case SortNewest, SortOldest, SortLongest, SortLargest:
		return v, nil
	case "newest":
		return SortNewest, nil
	}
	return "", fmt.Errorf("%w: unknown sort %q: use newest, oldest, longest or largest", backup.ErrInvalid, s)
}

// JobFilter selects a page of jobs, sorted by name.
type JobFilter struct {
	Name   string // part of the name, any case; empty: all
	Limit  int
	Offset int
}

// JobSchedule is what the scheduler's overview needs of a job.
type JobSchedule struct {
	ID, Name, Schedule, Timezone string
}

// DayCount is how many backup executions of one local day ended in one status.
type DayCount struct {
	Day    time.Time // midnight UTC of the local day's date
	Status backup.Status
	Count  int
}

// NotificationFilter selects delivery log entries, newest first.
type NotificationFilter struct {
	ExecutionID string
	JobName     string
	Limit       int
}

// Store is all of dbackup's persistent state except the backups themselves.
type Store interface {
	// InTx runs fn with a store whose reads and writes are one
	// transaction: committed when fn returns nil, else rolled back.
	InTx(ctx context.Context, fn func(Store) error) error

	Sources() Endpoints
	Destinations() Endpoints
	// Channels are notification channels; Delete refuses one a job routes to.
	Channels() Endpoints
	// SetSystemChannel routes system events (restore, destination) to a
	// channel; no events removes the route.
	SetSystemChannel(ctx context.Context, channelID string, events []string) error
	SystemChannels(ctx context.Context) (map[string][]string, error)
	AppendNotificationLog(ctx context.Context, e *backup.NotificationLogEntry) error
	ListNotificationLog(ctx context.Context, f NotificationFilter) ([]backup.NotificationLogEntry, error)
	// MarkAlarm records when a job's missed-backup alarm (kind backup) or
	// missed recovery point objective alarm (kind drill) last fired.
	MarkAlarm(ctx context.Context, jobID string, kind backup.Kind, at time.Time) error

	CreateProfile(ctx context.Context, p *backup.Profile) error
	GetProfile(ctx context.Context, ref string) (*backup.Profile, error)
	ListProfiles(ctx context.Context) ([]*backup.Profile, error)
	// DeleteProfile refuses a profile a job uses: its jobs would silently
	// stop encrypting.
	DeleteProfile(ctx context.Context, id string) error

	CreateJob(ctx context.Context, j *backup.Job) error
	GetJob(ctx context.Context, ref string) (*backup.Job, error)
	ListJobs(ctx context.Context) ([]*backup.Job, error)
	// FindJobs returns a page of jobs by name and how many match in all.
	FindJobs(ctx context.Context, f JobFilter) ([]*backup.Job, int, error)
	// DrillJobs lists the jobs that drill, have a recovery point objective
	// or were ever drilled, by name.
	DrillJobs(ctx context.Context) ([]*backup.Job, error)
	// ListSchedules lists the enabled jobs that have a schedule.
	ListSchedules(ctx context.Context) ([]JobSchedule, error)
	UpdateJob(ctx context.Context, j *backup.Job) error
	// DeleteJob keeps the job's executions (their job_id becomes empty).
	DeleteJob(ctx context.Context, id string) error

	CreateExecution(ctx context.Context, e *backup.Execution) error
	GetExecution(ctx context.Context, id string) (*backup.Execution, error)
	ListExecutions(ctx context.Context, f ExecutionFilter) ([]*backup.Execution, error)
	// LatestExecutions returns the newest execution of a kind of each of
	// some jobs, by job id.
	LatestExecutions(ctx context.Context, kind backup.Kind, jobIDs []string) (map[string]*backup.Execution, error)
	// LastSuccesses returns, by job id, when each job's newest successful
	// execution of a kind ended.
	LastSuccesses(ctx context.Context, kind backup.Kind) (map[string]time.Time, error)
	// CountActive counts the queued and the running executions.
	CountActive(ctx context.Context) (queued, running int, err error)
	// ProvenPoints returns, by job id, when the newest backup that passed a
	// drill was made (jobs without one are absent).
	ProvenPoints(ctx context.Context, jobIDs []string) (map[string]time.Time, error)
	// LatestDrills returns the newest finished drill of each of some
	// backups, by data key (backups never drilled are absent).
	LatestDrills(ctx context.Context, keys []string) (map[string]*backup.Execution, error)
	// ExecutionDays counts backup executions per day and status since a
	// time, days counted in a zone offset (seconds east of UTC).
	ExecutionDays(ctx context.Context, since time.Time, offset int) ([]DayCount, error)
	// UpdateExecution writes the progress fields of a running execution.
	UpdateExecution(ctx context.Context, e *backup.Execution) error
	// Transition moves an execution from one status to another atomically;
	// false means it was not in status from.
	Transition(ctx context.Context, id string, from, to backup.Status, at time.Time, errMsg string) (bool, error)
	AppendLogs(ctx context.Context, executionID string, entries []backup.LogEntry) error
	ListLogs(ctx context.Context, executionID string, afterSeq int64, limit int) ([]backup.LogEntry, error)

	CreatePolicy(ctx context.Context, p *backup.PolicyTemplate) error
	GetPolicy(ctx context.Context, ref string) (*backup.PolicyTemplate, error)
	ListPolicies(ctx context.Context) ([]*backup.PolicyTemplate, error)
	// UpdatePolicy rewrites a template; making it the default clears the
	// flag on every other template.
	UpdatePolicy(ctx context.Context, p *backup.PolicyTemplate) error
	// DeletePolicy refuses a template a job destination uses.
	DeletePolicy(ctx context.Context, id string) error
	// DefaultPolicy returns the default template, or nil if there is none.
	DefaultPolicy(ctx context.Context) (*backup.PolicyTemplate, error)

	// Enqueue records e as queued (or as running when e.Status says so: a
	// foreground run), or as skipped with the reason when its job already has
	// a queued or running backup (for a drill: its backup already has a
	// queued or running drill), atomically.
	Enqueue(ctx context.Context, e *backup.Execution) error
	// EnqueueScheduled moves the job's schedule mark of e's kind from prev
	// to at and enqueues e, in one transaction: false (nothing written)
	// when another node moved the mark first.
	EnqueueScheduled(ctx context.Context, e *backup.Execution, prev *time.Time, at time.Time) (bool, error)
	// Claim starts the oldest queued backup or drill that may run now: at
	// most max running executions in all, never two backups (or two
	// drills) of one job. nil if none.
	Claim(ctx context.Context, node string, max int, now time.Time) (*backup.Execution, error)
	// ClaimID claims one given queued execution under the same limits.
	ClaimID(ctx context.Context, id, node string, max int, now time.Time) (*backup.Execution, error)
	// Heartbeat marks executions of node alive and returns those whose
	// cancellation was requested.
	Heartbeat(ctx context.Context, node string, ids []string, now time.Time) ([]string, error)
	// RequestCancel flags a running execution for its node to cancel.
	RequestCancel(ctx context.Context, id string) (bool, error)
	// StaleRunning lists running executions claimed by a node that has not
	// sent a heartbeat since before.
	StaleRunning(ctx context.Context, before time.Time) ([]*backup.Execution, error)
	// AcquireLease takes or renews a named lease for ttl; false if another
	// holder has it.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
	// MarkScheduled moves a job's last scheduled time of its backups (kind
	// backup) or drills (kind drill) from prev to at; false if another node
	// moved it first.
	MarkScheduled(ctx context.Context, jobID string, kind backup.Kind, prev *time.Time, at time.Time) (bool, error)

	GetSetting(ctx context.Context, name string) (string, bool, error)
	SetSetting(ctx context.Context, name, value string) error

	CreateUser(ctx context.Context, u *backup.User) error
	// CreateFirstUser creates the first user, once: false when a user
	// exists or another first-start setup came first.
	CreateFirstUser(ctx context.Context, u *backup.User) (bool, error)
	// GetUser finds a user by id or name.
	GetUser(ctx context.Context, ref string) (*backup.User, error)
	ListUsers(ctx context.Context) ([]*backup.User, error)
	// UpdateUser rewrites role and password hash; a new password ends the
	// user's sessions.
	UpdateUser(ctx context.Context, u *backup.User) error
	DeleteUser(ctx context.Context, id string) error
	CountUsers(ctx context.Context) (int, error)
	CreateSession(ctx context.Context, s *backup.Session) error
	GetSession(ctx context.Context, tokenHash string) (*backup.Session, error)
	DeleteSession(ctx context.Context, tokenHash string) error
	DeleteExpiredSessions(ctx context.Context, now time.Time) error
	CreateAPIKey(ctx context.Context, k *backup.APIKey) error
	// GetAPIKey finds a key by id or name.
	GetAPIKey(ctx context.Context, ref string) (*backup.APIKey, error)
	ListAPIKeys(ctx context.Context) ([]*backup.APIKey, error)
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error
	TouchAPIKey(ctx context.Context, id string, at time.Time) error
	AppendAudit(ctx context.Context, e *backup.AuditEntry) error
	// CreateDownloadLink stores a single-use download link.
	CreateDownloadLink(ctx context.Context, l *backup.DownloadLink) error
	// UseDownloadLink marks a link used and returns it, once: not found
	// when it is unknown, used or expired.
	UseDownloadLink(ctx context.Context, tokenHash string, now time.Time) (*backup.DownloadLink, error)
	// ListAudit lists entries newest first.
	ListAudit(ctx context.Context, limit, offset int) ([]backup.AuditEntry, error)
	PruneAudit(ctx context.Context, before time.Time) (int, error)

	// InstanceKey returns the instance's random 32-byte key named id,
	// created on first use, the same for every node.
	InstanceKey(ctx context.Context, id string) ([]byte, error)
	// AddLeftover records a database a restore creates or keeps.
	AddLeftover(ctx context.Context, l *backup.Leftover) error
	DeleteLeftover(ctx context.Context, id string) error
	// ListLeftovers lists the records of one execution, or all ("").
	ListLeftovers(ctx context.Context, executionID string) ([]*backup.Leftover, error)

	// Rekey re-seals every secret under a new server key atomically and
	// records its id; KeyID is the id of the key in use.
	Rekey(ctx context.Context, next *secret.Box) (int, error)
	KeyID() string

	Close() error
}
