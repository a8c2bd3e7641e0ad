package sqlite

import (
	"context"
	"path/filepath"

	"github.com/dbackup/dbackup/internal/source"
)

// StartThrowaway is a private file for a drill: SQLite has no server.
func StartThrowaway(ctx context.Context, o source.ThrowawayOptions) (*source.Throwaway, error) {
	s, err := New(Config{Path: filepath.Join(o.Dir, "drill.db")})
	if err != nil {
		return nil, err
	}
	return &source.Throwaway{Source: s, Version: sqliteVersion(ctx), Stop: func() error { return nil }}, nil
}

// sqliteVersion is the version of the SQLite library dbackup carries.
func sqliteVersion(ctx context.Context) string {
	db, err := open(":memory:", false)
	if err != nil {
		return ""
	}
	defer db.Close()
	var v string
	db.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&v)
	return v
}
