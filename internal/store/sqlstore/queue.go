package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/dbackup/dbackup/internal/backup"
)

// queueTx runs fn in a transaction that holds the queue lock: on
// PostgreSQL an advisory lock shared by every node, on SQLite the single
// writer (transactions begin IMMEDIATE).
func (s *DB) queueTx(ctx context.Context, fn func(*sql.Tx) error) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if s.d.postgres {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(726174)"); err != nil {
				return err
			}
		}
		return fn(tx)
	})
}

// Enqueue inserts e as queued, or as skipped when its job is busy.
func (s *DB) Enqueue(ctx context.Context, e *backup.Execution) error {
	prepare(e)
	return s.queueTx(ctx, func(tx *sql.Tx) error { return s.enqueue(ctx, tx, e) })
}

// EnqueueScheduled moves the job's schedule mark of e's kind from prev to
// at and enqueues e in the same transaction: a crash cannot leave a fired
// schedule without its run. False (nothing written) when another node
// moved the mark first.
func (s *DB) EnqueueScheduled(ctx context.Context, e *backup.Execution, prev *time.Time, at time.Time) (bool, error) {
	prepare(e)
	marked := false
	err := s.queueTx(ctx, func(tx *sql.Tx) error {
		ok, err := s.markScheduled(ctx, tx, e.JobID, e.Kind, prev, at)
		if err != nil || !ok {
			return err
		}
		marked = true
		return s.enqueue(ctx, tx, e)
	})
	return marked && err == nil, err
}

func prepare(e *backup.Execution) {
	if e.ID == "" {
		e.ID = uuid.Must(uuid.NewV7()).String()
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = time.Now().UTC()
	}
}

// enqueue inserts e within tx, as queued or as skipped.
func (s *DB) enqueue(ctx context.Context, tx *sql.Tx, e *backup.Execution) error {
	// One backup of a job at a time; one drill of a backup at a time.
	busyQuery, busyArg, busyMsg := "SELECT count(*) FROM executions WHERE job_id = ? AND kind = 'backup' AND status IN ('queued', 'running')",
		e.JobID, "skipped: job "+e.JobName+" is already queued or running"
	if e.Kind == backup.KindDrill {
		busyQuery, busyArg, busyMsg = "SELECT count(*) FROM executions WHERE backup_name = ? AND kind = 'drill' AND status IN ('queued', 'running')",
			e.BackupName, "skipped: a drill of "+e.BackupName+" is already queued or running"
	}
	var busy int
	if err := tx.QueryRowContext(ctx, s.q(busyQuery), busyArg).Scan(&busy); err != nil {
		return err
	}
	switch {
	case busy > 0:
		e.Status, e.EndedAt = backup.StatusSkipped, &e.CreatedAt
		e.Error = busyMsg
	case e.Status == backup.StatusRunning:
		// A foreground run (the CLI's): started at once, never claimed.
		e.StartedAt = &e.CreatedAt
	default:
		e.Status = backup.StatusQueued
	}
	dests, _ := json.Marshal(nonNilDests(e.Destinations))
	_, err := tx.ExecContext(ctx, s.q(insertExecution), executionArgs(e, string(dests))...)
	return classify(err, "enqueue")
}

// Claim starts the next runnable queued backup or drill.
func (s *DB) Claim(ctx context.Context, node string, max int, now time.Time) (*backup.Execution, error) {
	return s.claim(ctx, node, max, now, "")
}

// ClaimID starts one given queued execution when the limits allow it.
func (s *DB) ClaimID(ctx context.Context, id, node string, max int, now time.Time) (*backup.Execution, error) {
	return s.claim(ctx, node, max, now, id)
}

func (s *DB) claim(ctx context.Context, node string, max int, now time.Time, onlyID string) (*backup.Execution, error) {
	var claimed *backup.Execution
	err := s.queueTx(ctx, func(tx *sql.Tx) error {
		var running int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM executions WHERE status = 'running'").Scan(&running); err != nil {
			return err
		}
		if running >= max {
			return nil
		}
		var id string
		q := `SELECT id FROM executions e WHERE e.status = 'queued' AND e.kind IN ('backup', 'drill') AND e.not_before <= ?
			AND NOT EXISTS (SELECT 1 FROM executions r WHERE r.status = 'running' AND r.job_id = e.job_id AND r.kind = e.kind)`
		args := []any{micros(now)}
		if onlyID != "" {
			q, args = q+" AND e.id = ?", append(args, onlyID)
		}
		err := tx.QueryRowContext(ctx, s.q(q+" ORDER BY e.created_at, e.id LIMIT 1"), args...).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q("UPDATE executions SET status = 'running', started_at = ?, node = ?, heartbeat_at = ? WHERE id = ? AND status = 'queued'"),
			micros(now), node, micros(now), id); err != nil {
			return err
		}
		claimed, err = scanExecution(tx.QueryRowContext(ctx, s.q("SELECT "+executionColumns+" FROM executions WHERE id = ?"), id))
		return err
	})
	return claimed, err
}

// Heartbeat refreshes a node's running executions and reports cancel requests.
func (s *DB) Heartbeat(ctx context.Context, node string, ids []string, now time.Time) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := []any{micros(now), node}
	marks := make([]string, len(ids))
	for i, id := range ids {
		marks[i] = "?"
		args = append(args, id)
	}
	in := strings.Join(marks, ", ")
	if _, err := s.exec(ctx, "UPDATE executions SET heartbeat_at = ? WHERE node = ? AND status = 'running' AND id IN ("+in+")", args...); err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, "SELECT id FROM executions WHERE cancel_requested = 1 AND status = 'running' AND id IN ("+in+")", args[2:]...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// RequestCancel flags a running execution.
func (s *DB) RequestCancel(ctx context.Context, id string) (bool, error) {
	res, err := s.exec(ctx, "UPDATE executions SET cancel_requested = 1 WHERE id = ? AND status = 'running'", id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// StaleRunning lists running executions whose node stopped beating.
func (s *DB) StaleRunning(ctx context.Context, before time.Time) ([]*backup.Execution, error) {
	// Only runs claimed by a node's queue beat; foreground runs (the CLI's,
	// restores) are recovered by their own process.
	return s.queryExecutions(ctx, "SELECT "+executionColumns+" FROM executions WHERE status = 'running' AND node <> '' AND heartbeat_at < ?", micros(before))
}

// AcquireLease takes a free or expired lease, or renews one's own.
func (s *DB) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error) {
	ok := false
	err := s.queueTx(ctx, func(tx *sql.Tx) error {
		var cur string
		var expires int64
		err := tx.QueryRowContext(ctx, s.q("SELECT holder, expires_at FROM leases WHERE name = ?"), name).Scan(&cur, &expires)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, s.q("INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)"), name, holder, micros(now.Add(ttl)))
			ok = err == nil
			return err
		case err != nil:
			return err
		case cur != holder && expires > micros(now):
			return nil
		}
		_, err = tx.ExecContext(ctx, s.q("UPDATE leases SET holder = ?, expires_at = ? WHERE name = ?"), holder, micros(now.Add(ttl)), name)
		ok = err == nil
		return err
	})
	return ok, err
}

// ReleaseLease gives a lease up so another node can take it at once.
func (s *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := s.exec(ctx, "DELETE FROM leases WHERE name = ? AND holder = ?", name, holder)
	return err
}

// scheduledColumn is where a kind's schedule is marked.
var scheduledColumn = map[backup.Kind]string{backup.KindBackup: "last_scheduled_at", backup.KindDrill: "drill_scheduled_at"}

// MarkScheduled moves a job's last scheduled time (of its backups or its
// drills) from prev to at; false if another node moved it first.
func (s *DB) MarkScheduled(ctx context.Context, jobID string, kind backup.Kind, prev *time.Time, at time.Time) (bool, error) {
	var ok bool
	err := s.tx(ctx, func(tx *sql.Tx) (err error) {
		ok, err = s.markScheduled(ctx, tx, jobID, kind, prev, at)
		return err
	})
	return ok, err
}

func (s *DB) markScheduled(ctx context.Context, tx *sql.Tx, jobID string, kind backup.Kind, prev *time.Time, at time.Time) (bool, error) {
	col, ok := scheduledColumn[kind]
	if !ok {
		return false, fmt.Errorf("%w: no schedule for %s", backup.ErrInvalid, kind)
	}
	var res sql.Result
	var err error
	if prev == nil {
		res, err = tx.ExecContext(ctx, s.q("UPDATE jobs SET "+col+" = ? WHERE id = ? AND "+col+" IS NULL"), micros(at), jobID)
	} else {
		res, err = tx.ExecContext(ctx, s.q("UPDATE jobs SET "+col+" = ? WHERE id = ? AND "+col+" = ?"), micros(at), jobID, micros(*prev))
	}
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
