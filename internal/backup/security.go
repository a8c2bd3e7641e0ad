package backup

import "time"

// User is a person who logs in. PasswordHash never leaves the server.
type User struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Role         string    `json:"role"`
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Session is a logged-in browser; only hashes of its tokens are stored.
type Session struct {
	TokenHash string
	UserID    string
	CSRFHash  string
	IP        string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// APIKey is a key for scripts; only its salted hash is stored.
type APIKey struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	Salt       string     `json:"-"`
	Hash       string     `json:"-"`
	CreatedBy  string     `json:"created_by,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// Usable reports whether the key may be used at now.
func (k *APIKey) Usable(now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}

// AuditEntry records who did what, from where, and whether it worked.
type AuditEntry struct {
	ID     string    `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"` // "user:alice", "key:build-bot", "cli", "system"
	IP     string    `json:"ip,omitempty"`
	Action string    `json:"action"` // e.g. "login", "job.create", "restore.start"
	Target string    `json:"target,omitempty"`
	OK     bool      `json:"ok"`
	Detail string    `json:"detail,omitempty"`
}

// DownloadLink lets whoever holds its token download one backup once,
// before it expires, without logging in; only the token's hash is stored.
type DownloadLink struct {
	TokenHash     string
	DestinationID string
	Key           string // the backup's data key
	Plain         bool   // decrypted and decompressed
	CreatedBy     string // the actor who made it, for the audit log
	CreatedAt     time.Time
	ExpiresAt     time.Time
	UsedAt        *time.Time
}
