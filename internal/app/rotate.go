package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/dbackup/dbackup/internal/config"
	"github.com/dbackup/dbackup/internal/secret"
	"github.com/dbackup/dbackup/internal/store"
	"github.com/dbackup/dbackup/internal/store/sqlstore"
)

// pendingKey is where a rotation writes the new key before the secrets are
// re-sealed; it replaces the key file once they are.
func pendingKey(cfg config.Config) string { return cfg.SecretKeyFile + ".new" }

// checkServerKey makes sure the server key is the one the stored secrets
// are sealed with. It finishes a rotation a crash interrupted (the secrets
// were re-sealed, the key file not yet replaced) and refuses a wrong key.
func checkServerKey(ctx context.Context, cfg config.Config, st store.Store, log *slog.Logger) (store.Store, error) {
	want, ok, err := st.GetSetting(ctx, sqlstore.SettingServerKeyID)
	if err != nil {
		return st, err
	}
	pending := pendingKey(cfg)
	if !ok {
		return st, st.SetSetting(ctx, sqlstore.SettingServerKeyID, st.KeyID())
	}
	if want == st.KeyID() {
		if cfg.SecretKey == "" {
			os.Remove(pending) // a rotation that did not commit
		}
		return st, nil
	}
	if cfg.SecretKey == "" {
		if k, err := os.ReadFile(pending); err == nil {
			key, err := secret.ParseKey(string(k))
			if err == nil {
				if b, _ := secret.NewBox(key); b != nil && b.KeyID() == want {
					if err := os.Rename(pending, cfg.SecretKeyFile); err != nil {
						return st, err
					}
					log.Warn("finished an interrupted server key rotation", "key_id", want)
					st.Close()
					db, err := sqlstore.Open(ctx, cfg.DatabaseURL, b)
					if err != nil {
						return nil, err
					}
					return db, nil
				}
			}
		}
	}
	return st, fmt.Errorf("the server key (id %s) is not the one the stored credentials are sealed with (id %s): use the right key file or DBACKUP_SECRET_KEY", st.KeyID(), want)
}

// RotateServerKey re-seals every stored secret under a new server key and
// replaces the key file. The new key is written beside the old one first,
// so a crash at any point leaves a key that opens the secrets (see
// checkServerKey). Other nodes must be stopped and given the new key.
func (a *App) RotateServerKey(ctx context.Context) (oldID, newID string, n int, err error) {
	if a.Cfg.SecretKey != "" {
		return "", "", 0, errors.New("the server key comes from DBACKUP_SECRET_KEY: rotation writes a key file; use DBACKUP_SECRET_KEY_FILE instead")
	}
	oldID = a.Store.KeyID()
	key := secret.NewKey()
	next, err := secret.NewBox(key)
	if err != nil {
		return "", "", 0, err
	}
	pending := pendingKey(a.Cfg)
	if err := secret.WriteKeyFile(pending, key); err != nil {
		return "", "", 0, fmt.Errorf("write the new key: %w", err)
	}
	n, err = a.Store.Rekey(ctx, next)
	if err != nil {
		os.Remove(pending)
		a.Audit(ctx, "secrets.rotate", "", false, err.Error())
		return "", "", 0, err
	}
	if err := os.Rename(pending, a.Cfg.SecretKeyFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return oldID, next.KeyID(), n, fmt.Errorf("the secrets are sealed with the new key, in %s; move it to %s: %w", pending, a.Cfg.SecretKeyFile, err)
	}
	a.Audit(ctx, "secrets.rotate", "", true, fmt.Sprintf("key %s → %s, %d values re-sealed", oldID, next.KeyID(), n))
	return oldID, next.KeyID(), n, nil
}
