package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/dbackup/dbackup/internal/backup"
)

// CreateUser stores a user.
func (s *DB) CreateUser(ctx context.Context, u *backup.User) error {
	if u.ID == "" {
		u.ID = uuid.Must(uuid.NewV7()).String()
	}
	now := time.Now().UTC()
	u.CreatedAt, u.UpdatedAt = now, now
	_, err := s.exec(ctx, "INSERT INTO users (id, name, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
		u.ID, u.Name, u.Role, u.PasswordHash, micros(now), micros(now))
	return classify(err, "create user "+u.Name)
}

// settingFirstUser marks that the first user was created: inserted once,
// in the same transaction as that user, it makes first-start setup happen
// exactly once whatever runs at the same time (PostgreSQL blocks the
// second insert on the key until the first commits, then sees it).
const settingFirstUser = "first_user_created"

// CreateFirstUser creates u only if no user was ever created this way and
// none exists; false when another setup came first.
func (s *DB) CreateFirstUser(ctx context.Context, u *backup.User) (bool, error) {
	if u.ID == "" {
		u.ID = uuid.Must(uuid.NewV7()).String()
	}
	now := time.Now().UTC()
	u.CreatedAt, u.UpdatedAt = now, now
	created := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING"), settingFirstUser, u.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		var users int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&users); err != nil || users > 0 {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q("INSERT INTO users (id, name, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)"),
			u.ID, u.Name, u.Role, u.PasswordHash, micros(now), micros(now)); err != nil {
			return classify(err, "create user "+u.Name)
		}
		created = true
		return nil
	})
	return created, err
}

const userColumns = "id, name, role, password_hash, created_at, updated_at"

func scanUser(row interface{ Scan(...any) error }) (*backup.User, error) {
	var u backup.User
	var created, updated int64
	if err := row.Scan(&u.ID, &u.Name, &u.Role, &u.PasswordHash, &created, &updated); err != nil {
		return nil, err
	}
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &u, nil
}

// GetUser finds a user by id or name.
func (s *DB) GetUser(ctx context.Context, ref string) (*backup.User, error) {
	u, err := scanUser(s.queryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = ? OR name = ? ORDER BY (id = ?) DESC LIMIT 1", ref, ref, ref))
	return u, notFound(err, "user", ref)
}

// ListUsers lists users by name.
func (s *DB) ListUsers(ctx context.Context) ([]*backup.User, error) {
	rows, err := s.query(ctx, "SELECT "+userColumns+" FROM users ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*backup.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// UpdateUser rewrites a user's role and password hash; a new password
// ends the user's sessions.
func (s *DB) UpdateUser(ctx context.Context, u *backup.User) error {
	u.UpdatedAt = time.Now().UTC()
	return s.tx(ctx, func(tx *sql.Tx) error {
		var old string
		if err := tx.QueryRowContext(ctx, s.q("SELECT password_hash FROM users WHERE id = ?"), u.ID).Scan(&old); err != nil {
			return notFound(err, "user", u.ID)
		}
		if _, err := tx.ExecContext(ctx, s.q("UPDATE users SET role = ?, password_hash = ?, updated_at = ? WHERE id = ?"),
			u.Role, u.PasswordHash, micros(u.UpdatedAt), u.ID); err != nil {
			return err
		}
		if old != u.PasswordHash {
			_, err := tx.ExecContext(ctx, s.q("DELETE FROM sessions WHERE user_id = ?"), u.ID)
			return err
		}
		return nil
	})
}

// DeleteUser removes a user and their sessions.
func (s *DB) DeleteUser(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM sessions WHERE user_id = ?"), id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q("DELETE FROM users WHERE id = ?"), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound(sql.ErrNoRows, "user", id)
		}
		return nil
	})
}

// CountUsers counts users (none: the first start is not done).
func (s *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.queryRow(ctx, "SELECT count(*) FROM users").Scan(&n)
	return n, err
}

// CreateSession stores a session.
func (s *DB) CreateSession(ctx context.Context, se *backup.Session) error {
	_, err := s.exec(ctx, "INSERT INTO sessions (token_hash, user_id, csrf_hash, ip, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
		se.TokenHash, se.UserID, se.CSRFHash, se.IP, micros(se.CreatedAt), micros(se.ExpiresAt))
	return classify(err, "create session")
}

// GetSession finds a session by its token's hash.
func (s *DB) GetSession(ctx context.Context, tokenHash string) (*backup.Session, error) {
	var se backup.Session
	var created, expires int64
	err := s.queryRow(ctx, "SELECT token_hash, user_id, csrf_hash, ip, created_at, expires_at FROM sessions WHERE token_hash = ?", tokenHash).
		Scan(&se.TokenHash, &se.UserID, &se.CSRFHash, &se.IP, &created, &expires)
	if err != nil {
		return nil, notFound(err, "session", "")
	}
	se.CreatedAt, se.ExpiresAt = fromMicros(created), fromMicros(expires)
	return &se, nil
}

// DeleteSession ends a session (logout).
func (s *DB) DeleteSession(ctx context.Context, tokenHash string) error {
	_, err := s.exec(ctx, "DELETE FROM sessions WHERE token_hash = ?", tokenHash)
	return err
}

// DeleteExpiredSessions removes sessions that expired before now.
func (s *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) error {
	_, err := s.exec(ctx, "DELETE FROM sessions WHERE expires_at < ?", micros(now))
	return err
}

// CreateAPIKey stores a key (its salted hash only).
func (s *DB) CreateAPIKey(ctx context.Context, k *backup.APIKey) error {
	k.CreatedAt = time.Now().UTC()
	_, err := s.exec(ctx, "INSERT INTO api_keys (id, name, role, salt, hash, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		k.ID, k.Name, k.Role, k.Salt, k.Hash, k.CreatedBy, micros(k.CreatedAt), nullMicros(k.ExpiresAt))
	return classify(err, "create API key "+k.Name)
}

const keyColumns = "id, name, role, salt, hash, created_by, created_at, expires_at, last_used_at, revoked_at"

func scanKey(row interface{ Scan(...any) error }) (*backup.APIKey, error) {
	var k backup.APIKey
	var created int64
	var expires, used, revoked sql.NullInt64
	if err := row.Scan(&k.ID, &k.Name, &k.Role, &k.Salt, &k.Hash, &k.CreatedBy, &created, &expires, &used, &revoked); err != nil {
		return nil, err
	}
	k.CreatedAt, k.ExpiresAt, k.LastUsedAt, k.RevokedAt = fromMicros(created), fromNullMicros(expires), fromNullMicros(used), fromNullMicros(revoked)
	return &k, nil
}

// GetAPIKey finds a key by id or name.
func (s *DB) GetAPIKey(ctx context.Context, ref string) (*backup.APIKey, error) {
	k, err := scanKey(s.queryRow(ctx, "SELECT "+keyColumns+" FROM api_keys WHERE id = ? OR name = ? ORDER BY (id = ?) DESC LIMIT 1", ref, ref, ref))
	return k, notFound(err, "API key", ref)
}

// ListAPIKeys lists keys by name.
func (s *DB) ListAPIKeys(ctx context.Context) ([]*backup.APIKey, error) {
	rows, err := s.query(ctx, "SELECT "+keyColumns+" FROM api_keys ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*backup.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeAPIKey makes a key unusable from at on.
func (s *DB) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	res, err := s.exec(ctx, "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", micros(at), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound(sql.ErrNoRows, "usable API key", id)
	}
	return nil
}

// TouchAPIKey records a key's use.
func (s *DB) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	_, err := s.exec(ctx, "UPDATE api_keys SET last_used_at = ? WHERE id = ?", micros(at), id)
	return err
}

// AppendAudit records an audit entry.
func (s *DB) AppendAudit(ctx context.Context, e *backup.AuditEntry) error {
	if e.ID == "" {
		e.ID = uuid.Must(uuid.NewV7()).String()
	}
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	_, err := s.exec(ctx, "INSERT INTO audit_log (id, at, actor, ip, action, target, ok, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		e.ID, micros(e.At), e.Actor, e.IP, e.Action, e.Target, boolInt(e.OK), e.Detail)
	return err
}

// ListAudit lists audit entries, newest first.
func (s *DB) ListAudit(ctx context.Context, limit, offset int) ([]backup.AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.query(ctx, "SELECT id, at, actor, ip, action, target, ok, detail FROM audit_log ORDER BY at DESC, id DESC LIMIT ? OFFSET ?", limit, offset)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []backup.AuditEntry
	for rows.Next() {
		var e backup.AuditEntry
		var at int64
		var ok int
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.IP, &e.Action, &e.Target, &ok, &e.Detail); err != nil {
			return nil, err
		}
		e.At, e.OK = fromMicros(at), ok != 0
		out = append(out, e)
	}
	return out, rows.Err()
}

// PruneAudit deletes entries older than before.
func (s *DB) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	res, err := s.exec(ctx, "DELETE FROM audit_log WHERE at < ?", micros(before))
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// CreateDownloadLink stores a download link, and forgets links expired
// for a day.
func (s *DB) CreateDownloadLink(ctx context.Context, l *backup.DownloadLink) error {
	if _, err := s.exec(ctx, "DELETE FROM download_links WHERE expires_at < ?", micros(l.CreatedAt.Add(-24*time.Hour))); err != nil {
		return err
	}
	_, err := s.exec(ctx, "INSERT INTO download_links (token_hash, destination_id, backup_key, plain, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
		l.TokenHash, l.DestinationID, l.Key, boolInt(l.Plain), l.CreatedBy, micros(l.CreatedAt), micros(l.ExpiresAt))
	return err
}

// UseDownloadLink marks a link used and returns it, exactly once for any
// number of concurrent callers; not found when it is unknown, used or
// expired.
func (s *DB) UseDownloadLink(ctx context.Context, tokenHash string, now time.Time) (*backup.DownloadLink, error) {
	l := backup.DownloadLink{TokenHash: tokenHash}
	var plain int
	var created, expires int64
	err := s.queryRow(ctx, "UPDATE download_links SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ? "+
		"RETURNING destination_id, backup_key, plain, created_by, created_at, expires_at", micros(now), tokenHash, micros(now)).
		Scan(&l.DestinationID, &l.Key, &plain, &l.CreatedBy, &created, &expires)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: this download link is unknown, used or expired; ask for a new one", backup.ErrNotFound)
		}
		return nil, err
	}
	l.Plain, l.CreatedAt, l.ExpiresAt, l.UsedAt = plain != 0, fromMicros(created), fromMicros(expires), &now
	return &l, nil
}
