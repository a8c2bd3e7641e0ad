package sqlstore

// migrations are applied in order, each in its own transaction, and recorded
// in schema_migrations. Never edit an applied one: append a new one.
// {BLOB} and {BIGINT} are replaced per dialect.
var migrations = []string{
	`CREATE TABLE sources (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		type TEXT NOT NULL,
		config TEXT NOT NULL,
		secrets {BLOB},
		created_at {BIGINT} NOT NULL,
		updated_at {BIGINT} NOT NULL
	);
	CREATE TABLE destinations (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		type TEXT NOT NULL,
		config TEXT NOT NULL,
		secrets {BLOB},
		created_at {BIGINT} NOT NULL,
		updated_at {BIGINT} NOT NULL
	);
	CREATE TABLE encryption_profiles (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		key_sealed {BLOB} NOT NULL,
		created_at {BIGINT} NOT NULL
	);
	CREATE TABLE jobs (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		source_id TEXT NOT NULL REFERENCES sources(id),
		databases TEXT NOT NULL,
		compression TEXT NOT NULL,
		compression_level INTEGER NOT NULL,
		profile_id TEXT REFERENCES encryption_profiles(id),
		naming_template TEXT NOT NULL,
		schedule TEXT NOT NULL,
		enabled INTEGER NOT NULL,
		created_at {BIGINT} NOT NULL,
		updated_at {BIGINT} NOT NULL
	);
	CREATE TABLE job_destinations (
		job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
		ord INTEGER NOT NULL,
		destination_id TEXT NOT NULL REFERENCES destinations(id),
		retention TEXT NOT NULL,
		PRIMARY KEY (job_id, ord),
		UNIQUE (job_id, destination_id)
	);
	CREATE INDEX job_destinations_dest ON job_destinations(destination_id);
	CREATE TABLE executions (
		id TEXT PRIMARY KEY,
		job_id TEXT REFERENCES jobs(id) ON DELETE SET NULL,
		job_name TEXT NOT NULL,
		kind TEXT NOT NULL,
		status TEXT NOT NULL,
		trigger_type TEXT NOT NULL,
		stage TEXT NOT NULL,
		created_at {BIGINT} NOT NULL,
		started_at {BIGINT},
		ended_at {BIGINT},
		bytes_dumped {BIGINT} NOT NULL,
		bytes_stored {BIGINT} NOT NULL,
		backup_name TEXT NOT NULL,
		sha256 TEXT NOT NULL,
		error TEXT NOT NULL,
		destinations TEXT NOT NULL,
		locked INTEGER NOT NULL
	);
	CREATE INDEX executions_created ON executions(created_at, id);
	CREATE INDEX executions_job ON executions(job_id, created_at);
	CREATE INDEX executions_status ON executions(status, created_at);
	CREATE TABLE execution_logs (
		execution_id TEXT NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
		seq {BIGINT} NOT NULL,
		ts {BIGINT} NOT NULL,
		level TEXT NOT NULL,
		stage TEXT NOT NULL,
		message TEXT NOT NULL,
		PRIMARY KEY (execution_id, seq)
	);
	CREATE TABLE settings (
		name TEXT PRIMARY KEY,
		value TEXT NOT NULL
	);`,
	`CREATE TABLE retention_policies (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		config TEXT NOT NULL,
		is_default INTEGER NOT NULL,
		created_at {BIGINT} NOT NULL,
		updated_at {BIGINT} NOT NULL
	);
	ALTER TABLE job_destinations ADD COLUMN policy_id TEXT REFERENCES retention_policies(id);
	CREATE INDEX job_destinations_policy ON job_destinations(policy_id);`,
	`CREATE TABLE channels (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		type TEXT NOT NULL,
		config TEXT NOT NULL,
		secrets {BLOB},
		created_at {BIGINT} NOT NULL,
		updated_at {BIGINT} NOT NULL
	);
	CREATE TABLE job_channels (
		job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
		channel_id TEXT NOT NULL REFERENCES channels(id),
		outcomes TEXT NOT NULL,
		PRIMARY KEY (job_id, channel_id)
	);
	CREATE INDEX job_channels_channel ON job_channels(channel_id);
	CREATE TABLE system_channels (
		channel_id TEXT PRIMARY KEY REFERENCES channels(id) ON DELETE CASCADE,
		events TEXT NOT NULL
	);
	ALTER TABLE jobs ADD COLUMN expect_every {BIGINT} NOT NULL DEFAULT 0;
	ALTER TABLE jobs ADD COLUMN remind_every {BIGINT} NOT NULL DEFAULT 0;
	ALTER TABLE jobs ADD COLUMN alarm_at {BIGINT};
	CREATE TABLE notification_log (
		id TEXT PRIMARY KEY,
		created_at {BIGINT} NOT NULL,
		channel_id TEXT NOT NULL,
		channel_name TEXT NOT NULL,
		channel_type TEXT NOT NULL,
		event TEXT NOT NULL,
		outcome TEXT NOT NULL,
		job_name TEXT NOT NULL,
		execution_id TEXT NOT NULL,
		attempt INTEGER NOT NULL,
		status TEXT NOT NULL,
		error TEXT NOT NULL,
		payload TEXT NOT NULL
	);
	CREATE INDEX notification_log_created ON notification_log(created_at);
	CREATE INDEX notification_log_execution ON notification_log(execution_id);`,
	`ALTER TABLE executions ADD COLUMN node TEXT NOT NULL DEFAULT '';
	ALTER TABLE executions ADD COLUMN heartbeat_at {BIGINT};
	ALTER TABLE executions ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE executions ADD COLUMN not_before {BIGINT} NOT NULL DEFAULT 0;
	ALTER TABLE executions ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
	ALTER TABLE executions ADD COLUMN scheduled_for {BIGINT};
	CREATE INDEX executions_queue ON executions(status, not_before, created_at);
	ALTER TABLE jobs ADD COLUMN timezone TEXT NOT NULL DEFAULT '';
	ALTER TABLE jobs ADD COLUMN catch_up INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE jobs ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE jobs ADD COLUMN retry_backoff {BIGINT} NOT NULL DEFAULT 0;
	ALTER TABLE jobs ADD COLUMN max_duration {BIGINT} NOT NULL DEFAULT 0;
	ALTER TABLE jobs ADD COLUMN stall_timeout {BIGINT} NOT NULL DEFAULT 0;
	ALTER TABLE jobs ADD COLUMN last_scheduled_at {BIGINT};
	CREATE TABLE leases (
		name TEXT PRIMARY KEY,
		holder TEXT NOT NULL,
		expires_at {BIGINT} NOT NULL
	);`,
	`CREATE TABLE users (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		role TEXT NOT NULL,
		password_hash TEXT NOT NULL,
		created_at {BIGINT} NOT NULL,
		updated_at {BIGINT} NOT NULL
	);
	CREATE TABLE sessions (
		token_hash TEXT PRIMARY KEY,
		user_id TEXT NOT NULL REFERENCES users(id),
		csrf_hash TEXT NOT NULL,
		ip TEXT NOT NULL,
		created_at {BIGINT} NOT NULL,
		expires_at {BIGINT} NOT NULL
	);
	CREATE TABLE api_keys (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		role TEXT NOT NULL,
		salt TEXT NOT NULL,
		hash TEXT NOT NULL,
		created_by TEXT NOT NULL,
		created_at {BIGINT} NOT NULL,
		expires_at {BIGINT},
		last_used_at {BIGINT},
		revoked_at {BIGINT}
	);
	CREATE TABLE audit_log (
		id TEXT PRIMARY KEY,
		at {BIGINT} NOT NULL,
		actor TEXT NOT NULL,
		ip TEXT NOT NULL,
		action TEXT NOT NULL,
		target TEXT NOT NULL,
		ok INTEGER NOT NULL,
		detail TEXT NOT NULL
	);
	CREATE INDEX audit_log_at ON audit_log(at);`,
	// 6: the history's trigger filter, the dashboard's per-day counts, a
	// job's last success (the progress estimate).
	`CREATE INDEX executions_trigger ON executions(trigger_type, created_at);
	CREATE INDEX executions_kind ON executions(kind, created_at, status);
	CREATE INDEX executions_job_status ON executions(job_id, status, created_at);`,
	// 7: the history's sorts by duration and by size (read backwards).
	`CREATE INDEX executions_duration ON executions((COALESCE(ended_at - started_at, -1)), created_at, id);
	CREATE INDEX executions_size ON executions(bytes_stored, created_at, id);`,
	// 8: the instance key that authenticates unencrypted backups' sidecars;
	// the databases a restore creates, until they are in place or dropped.
	`CREATE TABLE instance_keys (
		id TEXT PRIMARY KEY,
		key_sealed {BLOB} NOT NULL,
		created_at {BIGINT} NOT NULL
	);
	CREATE TABLE restore_leftovers (
		id TEXT PRIMARY KEY,
		source_id TEXT NOT NULL,
		database_name TEXT NOT NULL,
		state TEXT NOT NULL,
		execution_id TEXT NOT NULL,
		created_at {BIGINT} NOT NULL,
		expires_at {BIGINT}
	);
	CREATE INDEX restore_leftovers_execution ON restore_leftovers(execution_id);`,
	// 9: restore drills: what a drill found, the jobs' drill settings and
	// recovery point objective, sources marked as drill targets.
	`ALTER TABLE executions ADD COLUMN drill TEXT NOT NULL DEFAULT '';
	ALTER TABLE executions ADD COLUMN proves_at {BIGINT} NOT NULL DEFAULT 0;
	CREATE INDEX executions_backup_name ON executions(backup_name, kind, created_at);
	ALTER TABLE jobs ADD COLUMN drill_every INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE jobs ADD COLUMN drill_schedule TEXT NOT NULL DEFAULT '';
	ALTER TABLE jobs ADD COLUMN drill_target_id TEXT REFERENCES sources(id);
	ALTER TABLE jobs ADD COLUMN proven_within {BIGINT} NOT NULL DEFAULT 0;
	ALTER TABLE jobs ADD COLUMN proven_alarm_at {BIGINT};
	ALTER TABLE jobs ADD COLUMN drill_scheduled_at {BIGINT};
	ALTER TABLE sources ADD COLUMN scratch INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE destinations ADD COLUMN scratch INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE channels ADD COLUMN scratch INTEGER NOT NULL DEFAULT 0;`,
	// 10: single-use download links; backups' stage timings.
	`ALTER TABLE executions ADD COLUMN timings TEXT NOT NULL DEFAULT '';
	CREATE TABLE download_links (
		token_hash TEXT PRIMARY KEY,
		destination_id TEXT NOT NULL,
		backup_key TEXT NOT NULL,
		plain INTEGER NOT NULL,
		created_by TEXT NOT NULL,
		created_at {BIGINT} NOT NULL,
		expires_at {BIGINT} NOT NULL,
		used_at {BIGINT}
	);
	CREATE INDEX download_links_expires ON download_links(expires_at);`,
}
