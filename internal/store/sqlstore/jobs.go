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

// CreateProfile stores a profile; its key is sealed with the server key.
func (s *DB) CreateProfile(ctx context.Context, p *backup.Profile) error {
	if p.ID == "" {
		p.ID = uuid.Must(uuid.NewV7()).String()
	}
	p.CreatedAt = time.Now().UTC()
	sealed, err := s.box.Seal(p.Key, "profile:"+p.ID)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, "INSERT INTO encryption_profiles (id, name, key_sealed, created_at) VALUES (?, ?, ?, ?)",
		p.ID, p.Name, sealed, micros(p.CreatedAt))
	return classify(err, fmt.Sprintf("create encryption profile %q", p.Name))
}

func (s *DB) scanProfile(row interface{ Scan(...any) error }) (*backup.Profile, error) {
	var p backup.Profile
	var sealed []byte
	var created int64
	if err := row.Scan(&p.ID, &p.Name, &sealed, &created); err != nil {
		return nil, err
	}
	p.CreatedAt = fromMicros(created)
	key, err := s.box.Open(sealed, "profile:"+p.ID)
	if err != nil {
		return nil, fmt.Errorf("encryption profile %q: %w", p.Name, err)
	}
	p.Key = key
	return &p, nil
}

// GetProfile finds a profile by id or name.
func (s *DB) GetProfile(ctx context.Context, ref string) (*backup.Profile, error) {
	p, err := s.scanProfile(s.queryRow(ctx, "SELECT id, name, key_sealed, created_at FROM encryption_profiles WHERE id = ? OR name = ? ORDER BY (id = ?) DESC LIMIT 1", ref, ref, ref))
	return p, notFound(err, "encryption profile", ref)
}

// ListProfiles lists every profile by name.
func (s *DB) ListProfiles(ctx context.Context) ([]*backup.Profile, error) {
	rows, err := s.query(ctx, "SELECT id, name, key_sealed, created_at FROM encryption_profiles ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*backup.Profile
	for rows.Next() {
		p, err := s.scanProfile(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// DeleteProfile deletes a profile no job uses.
func (s *DB) DeleteProfile(ctx context.Context, id string) error {
	var n int
	if err := s.queryRow(ctx, "SELECT count(*) FROM jobs WHERE profile_id = ?", id).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("encryption profile is used by %d job(s): %w", n, backup.ErrInUse)
	}
	res, err := s.exec(ctx, "DELETE FROM encryption_profiles WHERE id = ?", id)
	if err != nil {
		return err
	}
	return mustAffect(res, "encryption profile", id)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CreateJob stores a job and its ordered destinations.
func (s *DB) CreateJob(ctx context.Context, j *backup.Job) error {
	if j.ID == "" {
		j.ID = uuid.Must(uuid.NewV7()).String()
	}
	now := time.Now().UTC()
	j.CreatedAt, j.UpdatedAt = now, now
	dbs, _ := json.Marshal(nonNil(j.Databases))
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO jobs (id, name, source_id, databases, compression, compression_level, profile_id,
			naming_template, schedule, enabled, expect_every, remind_every, timezone, catch_up, retries, retry_backoff, max_duration, stall_timeout,
			drill_every, drill_schedule, drill_target_id, proven_within,
			created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			j.ID, j.Name, j.SourceID, string(dbs), string(j.Compression), j.CompressionLevel, nullString(j.ProfileID),
			j.NamingTemplate, j.Schedule, boolInt(j.Enabled), seconds(j.ExpectEvery), seconds(j.RemindEvery),
			j.Timezone, boolInt(j.CatchUp), j.Retries, seconds(j.RetryBackoff), seconds(j.MaxDuration), seconds(j.StallTimeout),
			j.DrillEvery, j.DrillSchedule, nullString(j.DrillTargetID), seconds(j.ProvenWithin), micros(now), micros(now))
		if err != nil {
			return classify(err, fmt.Sprintf("create job %q", j.Name))
		}
		return s.writeJobDestinations(ctx, tx, j)
	})
}

func (s *DB) writeJobDestinations(ctx context.Context, tx *sql.Tx, j *backup.Job) error {
	if _, err := tx.ExecContext(ctx, s.q("DELETE FROM job_channels WHERE job_id = ?"), j.ID); err != nil {
		return err
	}
	for _, c := range j.Notifications {
		_, err := tx.ExecContext(ctx, s.q("INSERT INTO job_channels (job_id, channel_id, outcomes) VALUES (?, ?, ?)"),
			j.ID, c.ChannelID, strings.Join(c.Outcomes, ","))
		if err != nil {
			return classify(err, fmt.Sprintf("job %q channel %s", j.Name, c.ChannelID))
		}
	}
	if _, err := tx.ExecContext(ctx, s.q("DELETE FROM job_destinations WHERE job_id = ?"), j.ID); err != nil {
		return err
	}
	for i, d := range j.Destinations {
		ret := string(d.Retention)
		if ret == "" {
			ret = "{}"
		}
		_, err := tx.ExecContext(ctx, s.q("INSERT INTO job_destinations (job_id, ord, destination_id, retention, policy_id) VALUES (?, ?, ?, ?, ?)"),
			j.ID, i, d.DestinationID, ret, nullString(d.PolicyID))
		if err != nil {
			return classify(err, fmt.Sprintf("job %q destination %s", j.Name, d.DestinationID))
		}
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const jobColumns = `id, name, source_id, databases, compression, compression_level, profile_id, naming_template, schedule, enabled,
	expect_every, remind_every, alarm_at, timezone, catch_up, retries, retry_backoff, max_duration, stall_timeout, last_scheduled_at,
	drill_every, drill_schedule, drill_target_id, proven_within, proven_alarm_at, drill_scheduled_at, created_at, updated_at`

func scanJob(row interface{ Scan(...any) error }) (*backup.Job, error) {
	var j backup.Job
	var dbs string
	var profile sql.NullString
	var enabled int
	var created, updated, expect, remind, backoff, maxDur, stall int64
	var alarm, lastSched, provenAlarm, drillSched sql.NullInt64
	var catchUp int
	var drillTarget sql.NullString
	var provenWithin int64
	err := row.Scan(&j.ID, &j.Name, &j.SourceID, &dbs, &j.Compression, &j.CompressionLevel, &profile,
		&j.NamingTemplate, &j.Schedule, &enabled, &expect, &remind, &alarm,
		&j.Timezone, &catchUp, &j.Retries, &backoff, &maxDur, &stall, &lastSched,
		&j.DrillEvery, &j.DrillSchedule, &drillTarget, &provenWithin, &provenAlarm, &drillSched, &created, &updated)
	if err != nil {
		return nil, err
	}
	json.Unmarshal([]byte(dbs), &j.Databases)
	j.ProfileID = profile.String
	j.Enabled = enabled != 0
	j.ExpectEvery, j.RemindEvery = secs(expect), secs(remind)
	j.AlarmAt = fromNullMicros(alarm)
	j.CatchUp = catchUp != 0
	j.RetryBackoff, j.MaxDuration, j.StallTimeout = secs(backoff), secs(maxDur), secs(stall)
	j.LastScheduledAt = fromNullMicros(lastSched)
	j.DrillTargetID, j.ProvenWithin = drillTarget.String, secs(provenWithin)
	j.ProvenAlarmAt, j.DrillScheduledAt = fromNullMicros(provenAlarm), fromNullMicros(drillSched)
	j.CreatedAt, j.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &j, nil
}

func (s *DB) loadJobDestinations(ctx context.Context, jobs ...*backup.Job) error {
	if err := s.loadJobChannels(ctx, jobs...); err != nil {
		return err
	}
	byID := make(map[string]*backup.Job, len(jobs))
	for _, j := range jobs {
		j.Destinations = nil
		byID[j.ID] = j
	}
	return s.eachJobRow(ctx, jobs, "SELECT job_id, destination_id, retention, policy_id FROM job_destinations", "job_id, ord", func(rows *sql.Rows) error {
		var jobID, ret string
		var d backup.JobDestination
		var policy sql.NullString
		if err := rows.Scan(&jobID, &d.DestinationID, &ret, &policy); err != nil {
			return err
		}
		if ret != "{}" {
			d.Retention = json.RawMessage(ret)
		}
		d.PolicyID = policy.String
		if j := byID[jobID]; j != nil {
			j.Destinations = append(j.Destinations, d)
		}
		return nil
	})
}

// eachJobRow runs a query over a table keyed by job_id for some jobs, in
// one query whatever their number: one job's rows, or the whole table.
func (s *DB) eachJobRow(ctx context.Context, jobs []*backup.Job, q, order string, fn func(*sql.Rows) error) error {
	var args []any
	switch n := len(jobs); {
	case n == 0:
		return nil
	case n <= 500: // a page of jobs; more: read the whole table
		q += " WHERE job_id IN (?" + strings.Repeat(", ?", n-1) + ")"
		for _, j := range jobs {
			args = append(args, j.ID)
		}
	}
	rows, err := s.query(ctx, q+" ORDER BY "+order, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// GetJob finds a job by id or name.
func (s *DB) GetJob(ctx context.Context, ref string) (*backup.Job, error) {
	j, err := scanJob(s.queryRow(ctx, "SELECT "+jobColumns+" FROM jobs WHERE id = ? OR name = ? ORDER BY (id = ?) DESC LIMIT 1", ref, ref, ref))
	if err != nil {
		return nil, notFound(err, "job", ref)
	}
	return j, s.loadJobDestinations(ctx, j)
}

// ListJobs lists every job by name.
func (s *DB) ListJobs(ctx context.Context) ([]*backup.Job, error) {
	return s.queryJobs(ctx, "SELECT "+jobColumns+" FROM jobs ORDER BY name")
}

// queryJobs reads the jobs a query selects (jobColumns), with their
// destinations and channels.
func (s *DB) queryJobs(ctx context.Context, q string, args ...any) ([]*backup.Job, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	var out []*backup.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, s.loadJobDestinations(ctx, out...)
}

// DrillJobs lists the jobs that drill, have a recovery point objective,
// or were ever drilled, by name: what the recovery overview shows.
func (s *DB) DrillJobs(ctx context.Context) ([]*backup.Job, error) {
	return s.queryJobs(ctx, "SELECT "+jobColumns+` FROM jobs WHERE drill_every > 0 OR drill_schedule <> '' OR proven_within > 0
		OR id IN (SELECT job_id FROM executions WHERE kind = ? AND job_id IS NOT NULL) ORDER BY name`, string(backup.KindDrill))
}

// FindJobs returns a page of jobs whose name contains f.Name (any case),
// sorted by name, and how many jobs match in all.
func (s *DB) FindJobs(ctx context.Context, f store.JobFilter) ([]*backup.Job, int, error) {
	like := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(strings.ToLower(f.Name)) + "%"
	var total int
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM jobs WHERE LOWER(name) LIKE ? ESCAPE '\'`, like).Scan(&total); err != nil {
		return nil, 0, err
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	out, err := s.queryJobs(ctx, "SELECT "+jobColumns+` FROM jobs WHERE LOWER(name) LIKE ? ESCAPE '\' ORDER BY name LIMIT ? OFFSET ?`, like, f.Limit, f.Offset)
	return out, total, err
}

// ListSchedules lists the enabled jobs that have a schedule.
func (s *DB) ListSchedules(ctx context.Context) ([]store.JobSchedule, error) {
	rows, err := s.query(ctx, "SELECT id, name, schedule, timezone FROM jobs WHERE enabled = 1 AND schedule <> '' ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.JobSchedule
	for rows.Next() {
		var j store.JobSchedule
		if err := rows.Scan(&j.ID, &j.Name, &j.Schedule, &j.Timezone); err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// UpdateJob rewrites a job and its destinations.
func (s *DB) UpdateJob(ctx context.Context, j *backup.Job) error {
	j.UpdatedAt = time.Now().UTC()
	dbs, _ := json.Marshal(nonNil(j.Databases))
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE jobs SET name = ?, source_id = ?, databases = ?, compression = ?, compression_level = ?,
			profile_id = ?, naming_template = ?, schedule = ?, enabled = ?, expect_every = ?, remind_every = ?,
			timezone = ?, catch_up = ?, retries = ?, retry_backoff = ?, max_duration = ?, stall_timeout = ?,
			drill_every = ?, drill_schedule = ?, drill_target_id = ?, proven_within = ?, updated_at = ? WHERE id = ?`),
			j.Name, j.SourceID, string(dbs), string(j.Compression), j.CompressionLevel, nullString(j.ProfileID),
			j.NamingTemplate, j.Schedule, boolInt(j.Enabled), seconds(j.ExpectEvery), seconds(j.RemindEvery),
			j.Timezone, boolInt(j.CatchUp), j.Retries, seconds(j.RetryBackoff), seconds(j.MaxDuration), seconds(j.StallTimeout),
			j.DrillEvery, j.DrillSchedule, nullString(j.DrillTargetID), seconds(j.ProvenWithin), micros(j.UpdatedAt), j.ID)
		if err != nil {
			return classify(err, fmt.Sprintf("update job %q", j.Name))
		}
		if err := mustAffect(res, "job", j.ID); err != nil {
			return err
		}
		return s.writeJobDestinations(ctx, tx, j)
	})
}

// DeleteJob deletes a job; its history stays, detached.
func (s *DB) DeleteJob(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q("UPDATE executions SET job_id = NULL WHERE job_id = ?"), id); err != nil {
			return err
		}
		for _, table := range []string{"job_destinations", "job_channels"} {
			if _, err := tx.ExecContext(ctx, s.q("DELETE FROM "+table+" WHERE job_id = ?"), id); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, s.q("DELETE FROM jobs WHERE id = ?"), id)
		if err != nil {
			return err
		}
		return mustAffect(res, "job", id)
	})
}
