package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/store"
)

func seconds(d backup.Duration) int64 { return int64(time.Duration(d) / time.Second) }

func secs(n int64) backup.Duration { return backup.Duration(time.Duration(n) * time.Second) }

func (s *DB) loadJobChannels(ctx context.Context, jobs ...*backup.Job) error {
	byID := make(map[string]*backup.Job, len(jobs))
	for _, j := range jobs {
		j.Notifications = []backup.JobChannel{}
		byID[j.ID] = j
	}
	return s.eachJobRow(ctx, jobs, "SELECT job_id, channel_id, outcomes FROM job_channels", "job_id, channel_id", func(rows *sql.Rows) error {
		var jobID, outcomes string
		var c backup.JobChannel
		if err := rows.Scan(&jobID, &c.ChannelID, &outcomes); err != nil {
			return err
		}
		if outcomes != "" {
			c.Outcomes = strings.Split(outcomes, ",")
		}
		if j := byID[jobID]; j != nil {
			j.Notifications = append(j.Notifications, c)
		}
		return nil
	})
}

// SetSystemChannel routes system events to a channel.
func (s *DB) SetSystemChannel(ctx context.Context, channelID string, events []string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM system_channels WHERE channel_id = ?"), channelID); err != nil {
			return err
		}
		if len(events) == 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, s.q("INSERT INTO system_channels (channel_id, events) VALUES (?, ?)"), channelID, strings.Join(events, ","))
		return classify(err, "route system events")
	})
}

// SystemChannels maps channel ids to the system events they receive.
func (s *DB) SystemChannels(ctx context.Context) (map[string][]string, error) {
	rows, err := s.query(ctx, "SELECT channel_id, events FROM system_channels")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var id, events string
		if err := rows.Scan(&id, &events); err != nil {
			return nil, err
		}
		out[id] = strings.Split(events, ",")
	}
	return out, rows.Err()
}

// AppendNotificationLog records one delivery attempt.
func (s *DB) AppendNotificationLog(ctx context.Context, e *backup.NotificationLogEntry) error {
	if e.ID == "" {
		e.ID = uuid.Must(uuid.NewV7()).String()
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	_, err := s.exec(ctx, `INSERT INTO notification_log (id, created_at, channel_id, channel_name, channel_type, event, outcome, job_name,
		execution_id, attempt, status, error, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, micros(e.Time), e.ChannelID, e.ChannelName, e.ChannelType, e.Event, e.Outcome, e.JobName, e.ExecutionID, e.Attempt, e.Status, e.Error, e.Payload)
	return err
}

// ListNotificationLog lists delivery attempts, newest first.
func (s *DB) ListNotificationLog(ctx context.Context, f store.NotificationFilter) ([]backup.NotificationLogEntry, error) {
	q := `SELECT id, created_at, channel_id, channel_name, channel_type, event, outcome, job_name, execution_id, attempt, status, error, payload
		FROM notification_log`
	var where []string
	var args []any
	if f.ExecutionID != "" {
		where, args = append(where, "execution_id = ?"), append(args, f.ExecutionID)
	}
	if f.JobName != "" {
		where, args = append(where, "job_name = ?"), append(args, f.JobName)
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	q += " ORDER BY created_at DESC, id DESC LIMIT ?"
	args = append(args, f.Limit)
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []backup.NotificationLogEntry{}
	for rows.Next() {
		var e backup.NotificationLogEntry
		var ts int64
		if err := rows.Scan(&e.ID, &ts, &e.ChannelID, &e.ChannelName, &e.ChannelType, &e.Event, &e.Outcome, &e.JobName,
			&e.ExecutionID, &e.Attempt, &e.Status, &e.Error, &e.Payload); err != nil {
			return nil, err
		}
		e.Time = fromMicros(ts)
		out = append(out, e)
	}
	return out, rows.Err()
}

// MarkAlarm records when a job's missed-backup alarm (kind backup) or its
// missed recovery point objective alarm (kind drill) fired.
func (s *DB) MarkAlarm(ctx context.Context, jobID string, kind backup.Kind, at time.Time) error {
	col := map[backup.Kind]string{backup.KindBackup: "alarm_at", backup.KindDrill: "proven_alarm_at"}[kind]
	if col == "" {
		return fmt.Errorf("%w: no alarm for %s", backup.ErrInvalid, kind)
	}
	res, err := s.exec(ctx, "UPDATE jobs SET "+col+" = ? WHERE id = ?", micros(at), jobID)
	if err != nil {
		return err
	}
	return mustAffect(res, "job", jobID)
}
