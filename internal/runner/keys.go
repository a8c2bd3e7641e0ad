package runner

import (
	"context"
	"fmt"
	"sync"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/catalog"
	"github.com/dbackup/dbackup/internal/pipeline/crypt"
)

// InstanceKeySidecars names the instance key whose derived key
// authenticates the sidecars of unencrypted backups.
const InstanceKeySidecars = "sidecars"

// SidecarKey is the key that authenticates m: derived from the profile key
// that encrypts the backup, or from the instance key when it is not
// encrypted.
func (r *Runner) SidecarKey(ctx context.Context, m *backup.Meta) ([]byte, error) {
	if m.Encryption == nil {
		k, err := r.Store.InstanceKey(ctx, InstanceKeySidecars)
		if err != nil {
			return nil, err
		}
		return backup.SidecarKey(k)
	}
	p, err := r.profileFor(ctx, m.Encryption)
	if err != nil {
		return nil, err
	}
	return backup.SidecarKey(p.Key)
}

// profileFor finds the profile whose key sealed a backup: the one the
// sidecar names if its key fits, else any profile with that key (imported
// under another id).
func (r *Runner) profileFor(ctx context.Context, enc *backup.MetaEncryption) (*backup.Profile, error) {
	if p, err := r.Store.GetProfile(ctx, enc.ProfileID); err == nil && crypt.KeyID(p.Key) == enc.KeyID {
		return p, nil
	}
	all, err := r.Store.ListProfiles(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range all {
		if crypt.KeyID(p.Key) == enc.KeyID {
			return p, nil
		}
	}
	return nil, fmt.Errorf("no encryption profile holds key %s", enc.KeyID)
}

// Keyring is a catalog.Keyring over this instance's keys, remembering the
// keys it found for the length of one operation (a listing reads many
// sidecars with the same key).
func (r *Runner) Keyring() catalog.Keyring {
	var mu sync.Mutex
	seen := map[string][]byte{}
	return func(ctx context.Context, m *backup.Meta) ([]byte, error) {
		id := ""
		if m.Encryption != nil {
			id = m.Encryption.KeyID
		}
		mu.Lock()
		k, ok := seen[id]
		mu.Unlock()
		if ok {
			return k, nil
		}
		k, err := r.SidecarKey(ctx, m)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		seen[id] = k
		mu.Unlock()
		return k, nil
	}
}

// KeyringWith authenticates with a profile key given by hand, and with the
// instance's keys otherwise.
func (r *Runner) KeyringWith(masterKey []byte) catalog.Keyring {
	keys := r.Keyring()
	return func(ctx context.Context, m *backup.Meta) ([]byte, error) {
		if m.Encryption != nil && masterKey != nil && crypt.KeyID(masterKey) == m.Encryption.KeyID {
			return backup.SidecarKey(masterKey)
		}
		return keys(ctx, m)
	}
}

// ProfileKey is the key that opens an encrypted backup: masterKey when it
// fits, else the key of a profile that holds it.
func (r *Runner) ProfileKey(ctx context.Context, enc *backup.MetaEncryption, masterKey []byte) ([]byte, error) {
	if masterKey != nil {
		if id := crypt.KeyID(masterKey); id != enc.KeyID {
			return nil, fmt.Errorf("%w: the backup needs key %s, this key is %s", crypt.ErrWrongKey, enc.KeyID, id)
		}
		return masterKey, nil
	}
	p, err := r.profileFor(ctx, enc)
	if err != nil {
		return nil, err
	}
	return p.Key, nil
}
