package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"

	"time"

	"github.com/google/uuid"

	"github.com/dbackup/dbackup/internal/backup"
)

// InstanceKey returns the instance's random key named id, creating it on
// first use. Every node sharing the store gets the same key; it is sealed
// with the server key like every other secret, so it survives rotation.
func (s *DB) InstanceKey(ctx context.Context, id string) ([]byte, error) {
	key := make([]byte, 32)
	rand.Read(key)
	sealed, err := s.box.Seal(key, "instance:"+id)
	if err != nil {
		return nil, err
	}
	// The first writer wins; everyone reads what it wrote.
	if _, err := s.exec(ctx, "INSERT INTO instance_keys (id, key_sealed, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
		id, sealed, micros(time.Now())); err != nil {
		return nil, err
	}
	if err := s.queryRow(ctx, "SELECT key_sealed FROM instance_keys WHERE id = ?", id).Scan(&sealed); err != nil {
		return nil, err
	}
	return s.box.Open(sealed, "instance:"+id)
}

// AddLeftover records a database a restore is about to create or keep.
func (s *DB) AddLeftover(ctx context.Context, l *backup.Leftover) error {
	if l.ID == "" {
		l.ID = uuid.Must(uuid.NewV7()).String()
	}
	if l.CreatedAt.IsZero() {
		l.CreatedAt = time.Now().UTC()
	}
	_, err := s.exec(ctx, "INSERT INTO restore_leftovers (id, source_id, database_name, state, execution_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
		l.ID, l.SourceID, l.Database, l.State, l.ExecutionID, micros(l.CreatedAt), nullMicros(l.ExpiresAt))
	return err
}

// DeleteLeftover forgets a database that was dropped or put in place.
func (s *DB) DeleteLeftover(ctx context.Context, id string) error {
	_, err := s.exec(ctx, "DELETE FROM restore_leftovers WHERE id = ?", id)
	return err
}

// ListLeftovers lists the recorded databases of one execution (executionID
// set), or all of them.
func (s *DB) ListLeftovers(ctx context.Context, executionID string) ([]*backup.Leftover, error) {
	q := "SELECT id, source_id, database_name, state, execution_id, created_at, expires_at FROM restore_leftovers"
	var args []any
	if executionID != "" {
		q += " WHERE execution_id = ?"
		args = append(args, executionID)
	}
	rows, err := s.query(ctx, q+" ORDER BY created_at, id", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*backup.Leftover
	for rows.Next() {
		var l backup.Leftover
		var created int64
		var expires sql.NullInt64
		if err := rows.Scan(&l.ID, &l.SourceID, &l.Database, &l.State, &l.ExecutionID, &created, &expires); err != nil {
			return nil, err
		}
		l.CreatedAt = fromMicros(created)
		if expires.Valid {
			t := fromMicros(expires.Int64)
			l.ExpiresAt = &t
		}
		out = append(out, &l)
	}
	return out, rows.Err()
}
