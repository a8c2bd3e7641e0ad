// Package backup holds dbackup's domain types and rules. It does no I/O and
// imports nothing of ours, so every other package can depend on it.
package backup

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Endpoint is a configured plugin instance: a database source, a storage
// destination, or (later) a notification channel. Config is the plugin's
// non-secret JSON; Secrets holds plaintext secrets in memory only. The store
// encrypts Secrets at rest and the API never returns them.
type Endpoint struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	Type    string            `json:"type"`
	Config  json.RawMessage   `json:"config"`
	Secrets map[string]string `json:"-"`
	// Scratch marks a source as a drill target: drills may create and
	// drop databases on it (and replace a Redis keyspace).
	Scratch   bool      `json:"scratch,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SecretNames lists which secrets are set, for display ("password": "set").
func (e *Endpoint) SecretNames() map[string]string {
	out := make(map[string]string, len(e.Secrets))
	for k, v := range e.Secrets {
		if v != "" {
			out[k] = "set"
		}
	}
	return out
}

// Profile is an encryption profile: a 32-byte master key from which every
// backup derives its own key. Key never leaves the process unencrypted.
type Profile struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Key       []byte    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

// JobDestination is one entry of a job's ordered destination list.
type JobDestination struct {
	DestinationID string `json:"destination_id"`
	// PolicyID names a retention policy template; it wins over Retention.
	PolicyID string `json:"policy_id,omitempty"`
	// Retention is an inline retention policy. With neither set, the
	// default template applies, and without one everything is kept.
	Retention json.RawMessage `json:"retention,omitempty"`
}

// JobChannel routes a job's outcomes to a notification channel.
type JobChannel struct {
	ChannelID string   `json:"channel_id"`
	Outcomes  []string `json:"outcomes"` // success, partial, failed, cancelled
}

// Duration is a time.Duration that reads and writes JSON as "26h" or "90m".
type Duration time.Duration

// String is the duration as time.Duration writes it: "26h0m0s".
func (d Duration) String() string { return time.Duration(d).String() }

// Short is the duration without its zero tail: "26h", "1h30m", "90s".
func (d Duration) Short() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "26h" (or a number of seconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var secs int64
		if err2 := json.Unmarshal(b, &secs); err2 != nil {
			return err
		}
		*d = Duration(time.Duration(secs) * time.Second)
		return nil
	}
	if s == "" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// NotificationLogEntry is one attempt to deliver one event to one channel.
type NotificationLogEntry struct {
	ID          string    `json:"id"`
	Time        time.Time `json:"time"`
	ChannelID   string    `json:"channel_id"`
	ChannelName string    `json:"channel_name"`
	ChannelType string    `json:"channel_type"`
	Event       string    `json:"event"`
	Outcome     string    `json:"outcome"`
	JobName     string    `json:"job_name,omitempty"`
	ExecutionID string    `json:"execution_id,omitempty"`
	Attempt     int       `json:"attempt"`
	Status      string    `json:"status"` // sent or failed
	Error       string    `json:"error,omitempty"`
	Payload     string    `json:"payload"`
}

// PolicyTemplate is a named, reusable retention policy.
type PolicyTemplate struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Policy    json.RawMessage `json:"policy"`
	Default   bool            `json:"default"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Job connects one source to one or more destinations.
type Job struct {
	ID               string           `json:"id"`
	Name             string           `json:"name"`
	SourceID         string           `json:"source_id"`
	Databases        []string         `json:"databases"` // empty = all user databases
	Destinations     []JobDestination `json:"destinations"`
	Compression      Compression      `json:"compression"`
	CompressionLevel int              `json:"compression_level"` // 0 = algorithm default
	ProfileID        string           `json:"encryption_profile_id,omitempty"`
	NamingTemplate   string           `json:"naming_template,omitempty"`
	Schedule         string           `json:"schedule,omitempty"`
	Enabled          bool             `json:"enabled"`
	Notifications    []JobChannel     `json:"notifications"`
	// ExpectEvery raises the missed-backup alarm when no backup succeeded
	// for this long (0: off); RemindEvery repeats it (0: every 24h).
	ExpectEvery Duration `json:"expect_every,omitempty"`
	RemindEvery Duration `json:"remind_every,omitempty"`
	// AlarmAt is when the missed-backup alarm last fired.
	AlarmAt *time.Time `json:"alarm_at,omitempty"`
	// Timezone overrides the scheduler time zone for this job's schedule.
	Timezone string `json:"timezone,omitempty"`
	// CatchUp runs once at start when a scheduled time passed while down.
	CatchUp bool `json:"catch_up,omitempty"`
	// Retries of a failed run, RetryBackoff apart (doubling each time).
	Retries      int      `json:"retries,omitempty"`
	RetryBackoff Duration `json:"retry_backoff,omitempty"`
	// MaxDuration fails a run that takes longer (0: no limit).
	MaxDuration Duration `json:"max_duration,omitempty"`
	// StallTimeout fails a run that moves no bytes this long (0: setting).
	StallTimeout    Duration   `json:"stall_timeout,omitempty"`
	LastScheduledAt *time.Time `json:"last_scheduled_at,omitempty"`
	// Restore drills of the job's backups: after every DrillEvery-th
	// successful backup (0: never) and on DrillSchedule (the newest
	// backup), into a throwaway server, or into DrillTargetID (a scratch
	// source) when set.
	DrillEvery    int    `json:"drill_every,omitempty"`
	DrillSchedule string `json:"drill_schedule,omitempty"`
	DrillTargetID string `json:"drill_target_id,omitempty"`
	// ProvenWithin is the recovery point objective: a backup proven by a
	// drill no older than this (0: none); ProvenAlarmAt is when its alarm
	// last fired, DrillScheduledAt when the drill schedule last fired.
	ProvenWithin     Duration   `json:"proven_within,omitempty"`
	ProvenAlarmAt    *time.Time `json:"proven_alarm_at,omitempty"`
	DrillScheduledAt *time.Time `json:"drill_scheduled_at,omitempty"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
}

// Status is an execution's state. Only the transitions in CanTransition are allowed.
type Status string

const (
	StatusQueued    Status = "queued"
	StatusRunning   Status = "running"
	StatusSuccess   Status = "success"
	StatusPartial   Status = "partial"
	StatusFailed    Status = "failed"
	StatusCancelled Status = "cancelled"
	// StatusSkipped records a trigger that did not run: the job was already
	// queued or running.
	StatusSkipped Status = "skipped"
)

// Terminal reports whether s is a final state.
func (s Status) Terminal() bool {
	switch s {
	case StatusSuccess, StatusPartial, StatusFailed, StatusCancelled, StatusSkipped:
		return true
	}
	return false
}

// CanTransition reports whether an execution may move from s to next.
func (s Status) CanTransition(next Status) bool {
	switch s {
	case StatusQueued:
		return next == StatusRunning || next == StatusCancelled || next == StatusFailed
	case StatusRunning:
		return next.Terminal()
	}
	return false
}

// Trigger says what started an execution.
type Trigger string

const (
	TriggerManual   Trigger = "manual"
	TriggerSchedule Trigger = "schedule"
	TriggerAPI      Trigger = "api"
	TriggerRetry    Trigger = "retry"
	TriggerCatchUp  Trigger = "catch-up"
	// TriggerAfterBackup starts a drill after every Nth backup of a job.
	TriggerAfterBackup Trigger = "after-backup"
)

// Automatic reports whether no one asked for this run just now: the size
// bound of drills applies to these.
func (t Trigger) Automatic() bool {
	return t == TriggerSchedule || t == TriggerCatchUp || t == TriggerAfterBackup || t == TriggerRetry
}

// Kind distinguishes backups, restores and drills in the history.
type Kind string

const (
	KindBackup  Kind = "backup"
	KindRestore Kind = "restore"
	// KindDrill restores a backup into a throwaway server (or a scratch
	// source) and compares what it finds with the backup's counts.
	KindDrill Kind = "drill"
)

// Stage is a step of the pipeline, shown live and tagged on every log entry.
type Stage string

const (
	StageQueued     Stage = "queued"
	StageInitialize Stage = "initialize"
	StageDump       Stage = "dump"
	StageUpload     Stage = "upload"
	StageVerify     Stage = "verify"
	StageComplete   Stage = "complete"
	StageDownload   Stage = "download"
	StageRestore    Stage = "restore"
	StageRetention  Stage = "retention"
	// StageServer starts a drill's throwaway server.
	StageServer Stage = "server"
)

// DestResult is the outcome of one execution at one destination.
type DestResult struct {
	DestinationID string `json:"destination_id"`
	Name          string `json:"name"`
	Status        Status `json:"status"` // success or failed
	Key           string `json:"key,omitempty"`
	Size          int64  `json:"size,omitempty"`
	Verified      bool   `json:"verified"`
	// VerifyMethod says how: "read-back-sha256" or "provider-sha256".
	VerifyMethod string `json:"verify_method,omitempty"`
	Error        string `json:"error,omitempty"`
}

// StageTiming is the time one stage of a backup spent on its own work and
// the bytes it handled. The stages of a backup stream at once (the dump,
// compression, encryption and every upload overlap), so their times do
// not add up to the run's; compression's is summed over the cores it used.
type StageTiming struct {
	Stage       string  `json:"stage"` // dump, compress, encrypt, upload, verify
	Destination string  `json:"destination,omitempty"`
	Bytes       int64   `json:"bytes"`
	Seconds     float64 `json:"seconds"`
}

// Rate is the stage's throughput in bytes per second of its own time.
func (t StageTiming) Rate() float64 { return float64(t.Bytes) / max(t.Seconds, 0.001) }

// String is "dump: 1.0 GiB in 4.1 s (250.0 MiB/s)".
func (t StageTiming) String() string {
	name := t.Stage
	if t.Destination != "" {
		name += " to " + t.Destination
	}
	return fmt.Sprintf("%s: %s in %.1f s (%s/s)", name, HumanBytes(t.Bytes), t.Seconds, HumanBytes(int64(t.Rate())))
}

// Execution is one run of a job (or one restore), as the history shows it.
type Execution struct {
	ID           string       `json:"id"`
	JobID        string       `json:"job_id,omitempty"`
	JobName      string       `json:"job_name,omitempty"`
	Kind         Kind         `json:"kind"`
	Status       Status       `json:"status"`
	Trigger      Trigger      `json:"trigger"`
	Stage        Stage        `json:"stage"`
	CreatedAt    time.Time    `json:"created_at"`
	StartedAt    *time.Time   `json:"started_at,omitempty"`
	EndedAt      *time.Time   `json:"ended_at,omitempty"`
	BytesDumped  int64        `json:"bytes_dumped"`
	BytesStored  int64        `json:"bytes_stored"`
	BackupName   string       `json:"backup_name,omitempty"`
	SHA256       string       `json:"sha256,omitempty"`
	Error        string       `json:"error,omitempty"`
	Destinations []DestResult `json:"destinations"`
	Lock         bool         `json:"lock,omitempty"`
	// Drill is what a drill proved (Kind drill); its backup is
	// Destinations[0].Key at Destinations[0].DestinationID.
	Drill *Drill `json:"drill,omitempty"`
	// Timings say where a backup's time went, stage by stage.
	Timings []StageTiming `json:"timings,omitempty"`
	// Queue bookkeeping.
	Attempt         int        `json:"attempt"`
	NotBefore       *time.Time `json:"not_before,omitempty"`
	ScheduledFor    *time.Time `json:"scheduled_for,omitempty"`
	Node            string     `json:"node,omitempty"`
	HeartbeatAt     *time.Time `json:"heartbeat_at,omitempty"`
	CancelRequested bool       `json:"cancel_requested,omitempty"`
}

// Level is a log entry's severity.
type Level string

const (
	LevelInfo  Level = "info"
	LevelWarn  Level = "warn"
	LevelError Level = "error"
)

// LogEntry is one line of an execution's log.
type LogEntry struct {
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Level   Level     `json:"level"`
	Stage   Stage     `json:"stage"`
	Message string    `json:"message"`
}

// Leftover is a database a restore created and has not yet put in place
// or dropped (State LeftoverScratch), or the database a restore replaced,
// kept until ExpiresAt (State LeftoverReplaced). A crash leaves the record,
// and the recovery sweep drops what it names.
type Leftover struct {
	ID          string
	SourceID    string
	Database    string
	State       string
	ExecutionID string
	CreatedAt   time.Time
	ExpiresAt   *time.Time
}

// Leftover states.
const (
	LeftoverScratch  = "scratch"
	LeftoverReplaced = "replaced"
)
