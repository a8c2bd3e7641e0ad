package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/store"
)

// CreateExecution stores a new execution.
func (s *DB) CreateExecution(ctx context.Context, e *backup.Execution) error {
	if e.ID == "" {
		e.ID = uuid.Must(uuid.NewV7()).String()
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = time.Now().UTC()
	}
	dests, _ := json.Marshal(nonNilDests(e.Destinations))
	_, err := s.exec(ctx, insertExecution, executionArgs(e, string(dests))...)
	return classify(err, "create execution")
}

const insertExecution = `INSERT INTO executions (id, job_id, job_name, kind, status, trigger_type, stage, created_at, started_at, ended_at,
	bytes_dumped, bytes_stored, backup_name, sha256, error, destinations, locked, attempt, not_before, scheduled_for, node, heartbeat_at, drill, proves_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func executionArgs(e *backup.Execution, dests string) []any {
	if e.Attempt == 0 {
		e.Attempt = 1
	}
	var notBefore int64
	if e.NotBefore != nil {
		notBefore = micros(*e.NotBefore)
	}
	return []any{e.ID, nullString(e.JobID), e.JobName, string(e.Kind), string(e.Status), string(e.Trigger), string(e.Stage),
		micros(e.CreatedAt), nullMicros(e.StartedAt), nullMicros(e.EndedAt), e.BytesDumped, e.BytesStored,
		e.BackupName, e.SHA256, e.Error, dests, boolInt(e.Lock), e.Attempt, notBefore, nullMicros(e.ScheduledFor), e.Node, nullMicros(e.HeartbeatAt),
		drillJSON(e.Drill), provesAt(e.Drill)}
}

// provesAt is the recovery point a drill proves if it passes: when its
// backup was made (0 for other kinds).
func provesAt(d *backup.Drill) int64 {
	if d == nil || d.BackupCreatedAt.IsZero() {
		return 0
	}
	return micros(d.BackupCreatedAt)
}

// drillJSON is a drill's result as stored; "" for other kinds.
func drillJSON(d *backup.Drill) string {
	if d == nil {
		return ""
	}
	b, _ := json.Marshal(d)
	return string(b)
}

// timingsJSON is a backup's stage timings as stored; "" when none.
func timingsJSON(t []backup.StageTiming) string {
	if len(t) == 0 {
		return ""
	}
	b, _ := json.Marshal(t)
	return string(b)
}

func nonNilDests(d []backup.DestResult) []backup.DestResult {
	if d == nil {
		return []backup.DestResult{}
	}
	return d
}

const executionColumns = `id, job_id, job_name, kind, status, trigger_type, stage, created_at, started_at, ended_at,
	bytes_dumped, bytes_stored, backup_name, sha256, error, destinations, locked, attempt, not_before, scheduled_for, node, heartbeat_at, cancel_requested, drill, timings`

func scanExecution(row interface{ Scan(...any) error }) (*backup.Execution, error) {
	var e backup.Execution
	var jobID sql.NullString
	var created int64
	var started, ended sql.NullInt64
	var dests string
	var locked, cancel int
	var notBefore int64
	var scheduled, heartbeat sql.NullInt64
	var drill, timings string
	err := row.Scan(&e.ID, &jobID, &e.JobName, &e.Kind, &e.Status, &e.Trigger, &e.Stage, &created, &started, &ended,
		&e.BytesDumped, &e.BytesStored, &e.BackupName, &e.SHA256, &e.Error, &dests, &locked,
		&e.Attempt, &notBefore, &scheduled, &e.Node, &heartbeat, &cancel, &drill, &timings)
	if err != nil {
		return nil, err
	}
	if drill != "" {
		e.Drill = &backup.Drill{}
		if err := json.Unmarshal([]byte(drill), e.Drill); err != nil {
			return nil, fmt.Errorf("execution %s drill: %w", e.ID, err)
		}
	}
	if timings != "" {
		if err := json.Unmarshal([]byte(timings), &e.Timings); err != nil {
			return nil, fmt.Errorf("execution %s timings: %w", e.ID, err)
		}
	}
	e.JobID = jobID.String
	e.CreatedAt = fromMicros(created)
	e.StartedAt, e.EndedAt = fromNullMicros(started), fromNullMicros(ended)
	if err := json.Unmarshal([]byte(dests), &e.Destinations); err != nil {
		return nil, fmt.Errorf("execution %s destinations: %w", e.ID, err)
	}
	e.Lock, e.CancelRequested = locked != 0, cancel != 0
	if notBefore > 0 {
		nb := fromMicros(notBefore)
		e.NotBefore = &nb
	}
	e.ScheduledFor, e.HeartbeatAt = fromNullMicros(scheduled), fromNullMicros(heartbeat)
	return &e, nil
}

// GetExecution reads one execution.
func (s *DB) GetExecution(ctx context.Context, id string) (*backup.Execution, error) {
	e, err := scanExecution(s.queryRow(ctx, "SELECT "+executionColumns+" FROM executions WHERE id = ?", id))
	return e, notFound(err, "execution", id)
}

// executionOrder is each sort's ORDER BY; ties go newest first, so pages
// never overlap. Each has an index (migration 7).
var executionOrder = map[store.ExecutionSort]string{
	store.SortNewest:  "created_at DESC, id DESC",
	store.SortOldest:  "created_at, id",
	store.SortLongest: "COALESCE(ended_at - started_at, -1) DESC, created_at DESC, id DESC",
	store.SortLargest: "bytes_stored DESC, created_at DESC, id DESC",
}

// ListExecutions lists executions in the filter's order.
func (s *DB) ListExecutions(ctx context.Context, f store.ExecutionFilter) ([]*backup.Execution, error) {
	var where []string
	var args []any
	if f.JobID != "" {
		where, args = append(where, "job_id = ?"), append(args, f.JobID)
	}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(f.Status))
	}
	if f.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, string(f.Kind))
	}
	if f.Trigger != "" {
		where, args = append(where, "trigger_type = ?"), append(args, string(f.Trigger))
	}
	if !f.Since.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, micros(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "created_at < ?"), append(args, micros(f.Until))
	}
	q := "SELECT " + executionColumns + " FROM executions"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	sort, err := store.ParseExecutionSort(string(f.Sort))
	if err != nil {
		return nil, err
	}
	q += " ORDER BY " + executionOrder[sort] + " LIMIT ? OFFSET ?"
	return s.queryExecutions(ctx, q, append(args, f.Limit, f.Offset)...)
}

// LatestExecutions returns the newest execution of a kind of each of some
// jobs, in one query (one index probe per job).
func (s *DB) LatestExecutions(ctx context.Context, kind backup.Kind, jobIDs []string) (map[string]*backup.Execution, error) {
	out := make(map[string]*backup.Execution, len(jobIDs))
	if len(jobIDs) == 0 {
		return out, nil
	}
	args := []any{string(kind)}
	for _, id := range jobIDs {
		args = append(args, id)
	}
	list, err := s.queryExecutions(ctx, "SELECT "+executionColumns+` FROM executions WHERE id IN (
		SELECT (SELECT x.id FROM executions x WHERE x.job_id = j.id AND x.kind = ? ORDER BY x.created_at DESC, x.id DESC LIMIT 1)
		FROM jobs j WHERE j.id IN (?`+strings.Repeat(", ?", len(jobIDs)-1)+`))`, args...)
	if err != nil {
		return nil, err
	}
	for _, e := range list {
		out[e.JobID] = e
	}
	return out, nil
}

// ProvenPoints returns, for each of some jobs that has one, the creation
// time of its newest backup that passed a drill.
func (s *DB) ProvenPoints(ctx context.Context, jobIDs []string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	if len(jobIDs) == 0 {
		return out, nil
	}
	args := []any{string(backup.KindDrill)}
	for _, id := range jobIDs {
		args = append(args, id)
	}
	return s.timesByJob(ctx, `SELECT job_id, MAX(proves_at) FROM executions WHERE kind = ? AND status = 'success' AND proves_at > 0
		AND job_id IN (?`+strings.Repeat(", ?", len(jobIDs)-1)+`) GROUP BY job_id`, args...)
}

// timesByJob runs a query of (job id, time in microseconds) rows.
func (s *DB) timesByJob(ctx context.Context, query string, args ...any) (map[string]time.Time, error) {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var at int64
		if err := rows.Scan(&id, &at); err != nil {
			return nil, err
		}
		out[id] = fromMicros(at)
	}
	return out, rows.Err()
}

// LatestDrills returns the newest finished drill of each of some backups
// (by data key) that has one; a trigger skipped because a drill of the
// backup was already queued is not a result.
func (s *DB) LatestDrills(ctx context.Context, keys []string) (map[string]*backup.Execution, error) {
	out := map[string]*backup.Execution{}
	for start := 0; start < len(keys); start += 500 {
		part := keys[start:min(start+500, len(keys))]
		args := []any{string(backup.KindDrill)}
		for _, k := range part {
			args = append(args, k)
		}
		list, err := s.queryExecutions(ctx, "SELECT "+executionColumns+` FROM executions WHERE kind = ? AND status NOT IN ('queued', 'running')
			AND (status <> 'skipped' OR drill <> '') AND backup_name IN (?`+strings.Repeat(", ?", len(part)-1)+`) ORDER BY created_at, id`, args...)
		if err != nil {
			return nil, err
		}
		for _, e := range list {
			out[e.BackupName] = e
		}
	}
	return out, nil
}

// ExecutionDays counts backup executions per local day and status.
func (s *DB) ExecutionDays(ctx context.Context, since time.Time, offset int) ([]store.DayCount, error) {
	const day = int64(24 * time.Hour / time.Microsecond)
	shift := int64(offset) * int64(time.Second/time.Microsecond)
	rows, err := s.query(ctx, `SELECT (created_at + ?) / ?, status, COUNT(*) FROM executions
		WHERE kind = ? AND created_at >= ? GROUP BY 1, 2`,
		shift, day, string(backup.KindBackup), micros(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.DayCount
	for rows.Next() {
		var d int64
		var c store.DayCount
		if err := rows.Scan(&d, &c.Status, &c.Count); err != nil {
			return nil, err
		}
		c.Day = time.Unix(d*86400, 0).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// queryExecutions runs a query that selects executionColumns.
func (s *DB) queryExecutions(ctx context.Context, q string, args ...any) ([]*backup.Execution, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*backup.Execution
	for rows.Next() {
		e, err := scanExecution(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// UpdateExecution writes progress and results; status changes go through Transition.
func (s *DB) UpdateExecution(ctx context.Context, e *backup.Execution) error {
	dests, _ := json.Marshal(nonNilDests(e.Destinations))
	res, err := s.exec(ctx, `UPDATE executions SET stage = ?, bytes_dumped = ?, bytes_stored = ?, backup_name = ?, sha256 = ?,
		error = ?, destinations = ?, drill = ?, proves_at = ?, timings = ? WHERE id = ?`,
		string(e.Stage), e.BytesDumped, e.BytesStored, e.BackupName, e.SHA256, e.Error, string(dests), drillJSON(e.Drill), provesAt(e.Drill), timingsJSON(e.Timings), e.ID)
	if err != nil {
		return err
	}
	return mustAffect(res, "execution", e.ID)
}

// Transition changes status from one value to another, atomically.
func (s *DB) Transition(ctx context.Context, id string, from, to backup.Status, at time.Time, errMsg string) (bool, error) {
	if !from.CanTransition(to) {
		return false, fmt.Errorf("%w: execution cannot go from %s to %s", backup.ErrInvalid, from, to)
	}
	var res sql.Result
	var err error
	switch {
	case to == backup.StatusRunning:
		res, err = s.exec(ctx, "UPDATE executions SET status = ?, started_at = ? WHERE id = ? AND status = ?",
			string(to), micros(at), id, string(from))
	default:
		res, err = s.exec(ctx, `UPDATE executions SET status = ?, ended_at = ?, error = CASE WHEN ? = '' THEN error ELSE ? END
			WHERE id = ? AND status = ?`, string(to), micros(at), errMsg, errMsg, id, string(from))
	}
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// AppendLogs adds log entries in one transaction.
func (s *DB) AppendLogs(ctx context.Context, executionID string, entries []backup.LogEntry) error {
	if len(entries) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, s.q("INSERT INTO execution_logs (execution_id, seq, ts, level, stage, message) VALUES (?, ?, ?, ?, ?, ?)"))
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, l := range entries {
			if _, err := stmt.ExecContext(ctx, executionID, l.Seq, micros(l.Time), string(l.Level), string(l.Stage), l.Message); err != nil {
				return classify(err, "append log")
			}
		}
		return nil
	})
}

// ListLogs returns entries with seq > afterSeq in order.
func (s *DB) ListLogs(ctx context.Context, executionID string, afterSeq int64, limit int) ([]backup.LogEntry, error) {
	if limit <= 0 {
		limit = 10000
	}
	rows, err := s.query(ctx, "SELECT seq, ts, level, stage, message FROM execution_logs WHERE execution_id = ? AND seq > ? ORDER BY seq LIMIT ?",
		executionID, afterSeq, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []backup.LogEntry
	for rows.Next() {
		var l backup.LogEntry
		var ts int64
		if err := rows.Scan(&l.Seq, &ts, &l.Level, &l.Stage, &l.Message); err != nil {
			return nil, err
		}
		l.Time = fromMicros(ts)
		out = append(out, l)
	}
	return out, rows.Err()
}

// LastSuccesses returns, by job id, when each job's newest successful
// execution of a kind ended.
func (s *DB) LastSuccesses(ctx context.Context, kind backup.Kind) (map[string]time.Time, error) {
	return s.timesByJob(ctx, `SELECT job_id, MAX(ended_at) FROM executions WHERE kind = ? AND status = 'success'
		AND job_id IS NOT NULL AND ended_at IS NOT NULL GROUP BY job_id`, string(kind))
}

// CountActive counts the queued and the running executions.
func (s *DB) CountActive(ctx context.Context) (queued, running int, err error) {
	err = s.queryRow(ctx, `SELECT COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END), 0) FROM executions WHERE status IN ('queued', 'running')`).Scan(&queued, &running)
	return queued, running, err
}
