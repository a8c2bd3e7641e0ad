// Package catalog reads backups at a destination: it lists them by their
// sidecars (a data object without one is not a backup), reads sidecars and
// verifies stored bytes against them.
package catalog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/pipeline"
	"github.com/dbackup/dbackup/internal/pipeline/crypt"
)

// maxMetaSize bounds what is read of a sidecar.
const maxMetaSize = 1 << 20

// Backup is one complete backup at a destination.
type Backup struct {
	Key  string       `json:"key"` // the data object
	Meta *backup.Meta `json:"meta"`
}

// Problem is an object that looks like part of a backup but is not one.
type Problem struct {
	Key    string `json:"key"`
	Reason string `json:"reason"`
	// Untrusted: a readable sidecar whose MAC is missing or wrong. An admin
	// who knows where the backup came from may trust it (TrustBackup).
	Untrusted bool `json:"untrusted,omitempty"`
}

// Keyring gives the key that authenticates a sidecar: backup.SidecarKey of
// the backup's profile key, or of the instance key when it is unencrypted.
type Keyring func(ctx context.Context, m *backup.Meta) ([]byte, error)

// Authenticate checks a sidecar's MAC with the key the keyring gives for it.
func Authenticate(ctx context.Context, keys Keyring, m *backup.Meta) error {
	k, err := keys(ctx, m)
	if err != nil {
		return fmt.Errorf("%w: no key to check it with: %v", backup.ErrUntrusted, err)
	}
	return m.Authenticate(k)
}

// ReadTrusted reads the sidecar of key (a data or sidecar key) and
// authenticates it: whoever can write to a destination must not be able to
// make dbackup verify, download or restore data of their choosing.
func ReadTrusted(ctx context.Context, d dest.Destination, key string, keys Keyring) (*backup.Meta, error) {
	m, err := ReadMeta(ctx, d, key)
	if err != nil {
		return nil, err
	}
	if err := Authenticate(ctx, keys, m); err != nil {
		return nil, fmt.Errorf("%s: %w", DataKey(key), err)
	}
	return m, nil
}

// DataKey returns the data key for a data or sidecar key.
func DataKey(key string) string { return strings.TrimSuffix(key, backup.MetaSuffix) }

// List returns the authenticated backups under prefix, oldest first, and
// the objects that are not complete backups of ours (a sidecar without
// data, an unreadable or unauthenticated sidecar, data without sidecar).
func List(ctx context.Context, d dest.Destination, prefix string, keys Keyring) ([]Backup, []Problem, error) {
	objs, err := d.List(ctx, prefix)
	if err != nil {
		return nil, nil, err
	}
	sizes := map[string]int64{}
	for _, o := range objs {
		sizes[o.Key] = o.Size
	}
	var out []Backup
	var problems []Problem
	claimed := map[string]bool{}
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, backup.MetaSuffix) {
			continue
		}
		claimed[o.Key] = true
		dk := DataKey(o.Key)
		m, err := ReadMeta(ctx, d, o.Key)
		if err != nil {
			problems = append(problems, Problem{Key: o.Key, Reason: err.Error()})
			continue
		}
		if path.Base(dk) != m.DataFile {
			problems = append(problems, Problem{Key: o.Key, Reason: fmt.Sprintf("sidecar names data file %q", m.DataFile)})
			continue
		}
		size, ok := sizes[dk]
		if !ok {
			problems = append(problems, Problem{Key: o.Key, Reason: "sidecar without its data object"})
			continue
		}
		claimed[dk] = true
		if size != m.Size {
			problems = append(problems, Problem{Key: dk, Reason: fmt.Sprintf("size %d differs from the sidecar's %d", size, m.Size)})
			continue
		}
		if err := Authenticate(ctx, keys, m); err != nil {
			problems = append(problems, Problem{Key: dk, Reason: err.Error(), Untrusted: true})
			continue
		}
		out = append(out, Backup{Key: dk, Meta: m})
	}
	for _, o := range objs {
		if !claimed[o.Key] && !strings.HasPrefix(o.Key, ".dbackup/") {
			problems = append(problems, Problem{Key: o.Key, Reason: "no sidecar: not a complete backup"})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Meta.CreatedAt.Before(out[j].Meta.CreatedAt) })
	return out, problems, nil
}

// ReadMeta reads and validates the sidecar of key (a data or sidecar key).
func ReadMeta(ctx context.Context, d dest.Destination, key string) (*backup.Meta, error) {
	rc, err := d.Open(ctx, DataKey(key)+backup.MetaSuffix)
	if err != nil {
		if errors.Is(err, dest.ErrNotFound) {
			return nil, fmt.Errorf("%s is not a complete backup: its sidecar %s is missing (%w)", DataKey(key), backup.MetaSuffix, dest.ErrNotFound)
		}
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxMetaSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxMetaSize {
		return nil, fmt.Errorf("%w: sidecar larger than %d bytes", backup.ErrInvalid, maxMetaSize)
	}
	return backup.ParseMeta(b)
}

// Verify reads the whole backup once: its size and SHA-256 must match the
// sidecar and, when a key is given or required, every chunk must
// authenticate and the data must decompress. Nothing is written anywhere.
func Verify(ctx context.Context, d dest.Destination, key string, m *backup.Meta, masterKey []byte) error {
	rc, err := Open(ctx, d, key, m, masterKey, true)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, dest.WithContext(ctx, rc)); err != nil {
		return fmt.Errorf("verify %s: %w", key, err)
	}
	return nil
}

// Open reads a backup checked against its sidecar: the stored bytes, or
// with plain the dump, decrypted (every chunk authenticated) and
// decompressed. Every stored byte is hashed, also those the decoders do
// not need; the last Read fails unless size and SHA-256 are the
// sidecar's, so a caller never takes a damaged backup for a whole one.
func Open(ctx context.Context, d dest.Destination, key string, m *backup.Meta, masterKey []byte, plain bool) (io.ReadCloser, error) {
	if plain {
		if err := CheckKey(m, masterKey); err != nil {
			return nil, err
		}
	}
	raw, err := d.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	c := Checked(raw, m).(*checked)
	if !plain {
		return readCloser{c, raw}, nil
	}
	dec, err := pipeline.Open(c, OpenOptions(m, masterKey))
	if err != nil {
		raw.Close()
		return nil, err
	}
	return readCloser{&drained{dec, c}, multiCloser{dec, raw}}, nil
}

// Checked reads stored bytes and, at their end, fails unless they are the
// ones the sidecar m records (size and SHA-256).
func Checked(r io.Reader, m *backup.Meta) io.Reader {
	return &checked{r: r, h: sha256.New(), m: m}
}

// checked hashes the stored bytes; at their end it fails unless they are
// the ones the sidecar records.
type checked struct {
	r io.Reader
	h hash.Hash
	n int64
	m *backup.Meta
}

func (c *checked) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	if err == io.EOF {
		if c.n != c.m.Size {
			return n, fmt.Errorf("%d bytes stored, sidecar says %d: the backup is truncated or was altered", c.n, c.m.Size)
		}
		if sum := hex.EncodeToString(c.h.Sum(nil)); sum != c.m.SHA256 {
			return n, fmt.Errorf("SHA-256 %s differs from the sidecar's %s: the backup is corrupted or was altered", sum, c.m.SHA256)
		}
	}
	return n, err
}

// drained is the decoded stream; at its end it reads (and so checks) the
// stored bytes the decoders left.
type drained struct {
	io.Reader
	c *checked
}

func (d *drained) Read(p []byte) (int, error) {
	n, err := d.Reader.Read(p)
	if err == io.EOF {
		if _, cerr := io.Copy(io.Discard, d.c); cerr != nil {
			return n, cerr
		}
	}
	return n, err
}

type readCloser struct {
	io.Reader
	io.Closer
}

// multiCloser closes all of its elements, returning the first error.
type multiCloser []io.Closer

func (m multiCloser) Close() error {
	var first error
	for _, c := range m {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// CheckKey tells early whether masterKey fits an encrypted backup.
func CheckKey(m *backup.Meta, masterKey []byte) error {
	if m.Encryption == nil {
		return nil
	}
	if masterKey == nil {
		return fmt.Errorf("the backup is encrypted with profile %s (key %s): a key is required", m.Encryption.ProfileID, m.Encryption.KeyID)
	}
	if id := crypt.KeyID(masterKey); m.Encryption.KeyID != "" && id != m.Encryption.KeyID {
		return fmt.Errorf("%w: the backup needs key %s, this key is %s", crypt.ErrWrongKey, m.Encryption.KeyID, id)
	}
	return nil
}

// OpenOptions are the pipeline options that undo what the sidecar describes.
func OpenOptions(m *backup.Meta, masterKey []byte) pipeline.OpenOptions {
	return pipeline.OpenOptions{Compression: m.Compression.Algorithm, Encrypted: m.Encryption != nil, Key: masterKey}
}

// Delete removes a backup: the sidecar first, so that a crash in between
// leaves data without a sidecar (reported as not a backup), never a listed
// backup without its data.
func Delete(ctx context.Context, d dest.Destination, key string) error {
	key = DataKey(key)
	if err := d.Delete(ctx, key+backup.MetaSuffix); err != nil {
		return fmt.Errorf("delete sidecar of %s: %w", key, err)
	}
	if err := d.Delete(ctx, key); err != nil && !errors.Is(err, dest.ErrNotFound) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// SetLock sets a backup's lock flag by atomically replacing its sidecar,
// authenticated again.
func SetLock(ctx context.Context, d dest.Destination, key string, locked bool, keys Keyring) (*backup.Meta, error) {
	m, err := ReadTrusted(ctx, d, key, keys)
	if err != nil {
		return nil, err
	}
	if m.Locked == locked {
		return m, nil
	}
	m.Locked = locked
	return m, Rewrite(ctx, d, key, m, keys)
}

// Rewrite replaces the sidecar of key with m, authenticated under the key
// the keyring gives for it.
func Rewrite(ctx context.Context, d dest.Destination, key string, m *backup.Meta, keys Keyring) error {
	k, err := keys(ctx, m)
	if err != nil {
		return err
	}
	b, err := m.Marshal(k)
	if err != nil {
		return err
	}
	if _, err := d.Replace(ctx, DataKey(key)+backup.MetaSuffix, bytes.NewReader(b)); err != nil {
		return fmt.Errorf("rewrite sidecar of %s: %w", DataKey(key), err)
	}
	return nil
}
