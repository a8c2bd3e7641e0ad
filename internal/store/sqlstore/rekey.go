package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/dbackup/dbackup/internal/secret"
)

// SettingServerKeyID records which server key the secrets are sealed with.
const SettingServerKeyID = "server_key_id"

// Rekey re-seals every secret (endpoint credentials, profile keys) under
// next, in one transaction that also records next's key id, and then uses
// next. It returns how many values it re-sealed.
func (s *DB) Rekey(ctx context.Context, next *secret.Box) (int, error) {
	n := 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		reseal := func(table, column, context string) error {
			rows, err := tx.QueryContext(ctx, "SELECT id, "+column+" FROM "+table+" WHERE "+column+" IS NOT NULL")
			if err != nil {
				return err
			}
			type row struct {
				id     string
				sealed []byte
			}
			var all []row
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.id, &r.sealed); err != nil {
					rows.Close()
					return err
				}
				all = append(all, r)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, r := range all {
				if len(r.sealed) == 0 {
					continue
				}
				plain, err := s.box.Open(r.sealed, context+":"+r.id)
				if err != nil {
					return fmt.Errorf("%s %s: cannot open with the current server key: %w", table, r.id, err)
				}
				sealed, err := next.Seal(plain, context+":"+r.id)
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, s.q("UPDATE "+table+" SET "+column+" = ? WHERE id = ?"), sealed, r.id); err != nil {
					return err
				}
				n++
			}
			return nil
		}
		for _, t := range []string{"sources", "destinations", "channels"} {
			if err := reseal(t, "secrets", t); err != nil {
				return err
			}
		}
		if err := reseal("encryption_profiles", "key_sealed", "profile"); err != nil {
			return err
		}
		if err := reseal("instance_keys", "key_sealed", "instance"); err != nil {
			return err
		}
		return setSetting(ctx, tx, s, SettingServerKeyID, next.KeyID())
	})
	if err != nil {
		return 0, err
	}
	s.box = next
	return n, nil
}

// KeyID is the id of the server key the store seals with.
func (s *DB) KeyID() string { return s.box.KeyID() }

func setSetting(ctx context.Context, tx *sql.Tx, s *DB, name, value string) error {
	_, err := tx.ExecContext(ctx, s.q("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value"), name, value)
	return err
}
