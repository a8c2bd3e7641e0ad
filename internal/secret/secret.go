// Package secret encrypts credentials and profile keys at rest with the
// server key. Each sealed value is bound to the record it belongs to, so a
// sealed secret copied onto another row does not open.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

const sealVersion = 1

// Box seals and opens values with one 32-byte server key.
type Box struct {
	aead cipher.AEAD
	id   string
}

// NewBox returns a Box for a 32-byte key.
func NewBox(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("server key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte("dbackup server key id"), key...))
	return &Box{aead: aead, id: hex.EncodeToString(sum[:4])}, nil
}

// KeyID is a short fingerprint of the server key, safe to print.
func (b *Box) KeyID() string { return b.id }

// Seal encrypts plain, bound to context (for example "source:<id>").
func (b *Box) Seal(plain []byte, context string) ([]byte, error) {
	out := make([]byte, 1+12, 1+12+len(plain)+16)
	out[0] = sealVersion
	if _, err := rand.Read(out[1:13]); err != nil {
		return nil, err
	}
	return b.aead.Seal(out, out[1:13], plain, []byte(context)), nil
}

// ErrOpen means a sealed value does not open: wrong server key, or tampering.
var ErrOpen = errors.New("stored secret cannot be decrypted: wrong server key or damaged data")

// Open decrypts a value sealed with the same context.
func (b *Box) Open(sealed []byte, context string) ([]byte, error) {
	if len(sealed) < 1+12+16 || sealed[0] != sealVersion {
		return nil, ErrOpen
	}
	plain, err := b.aead.Open(nil, sealed[1:13], sealed[13:], []byte(context))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// ParseKey decodes a key given as 64 hex digits.
func ParseKey(s string) ([]byte, error) {
	k, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(k) != 32 {
		return nil, errors.New("key must be 64 hexadecimal digits (32 bytes)")
	}
	return k, nil
}

// LoadKeyFile reads the hex key at path; exists is false when there is no
// file. A key file that others than its owner may read is refused: the
// key opens every stored credential.
func LoadKeyFile(path string) (key []byte, exists bool, err error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, true, fmt.Errorf("server key file %s can be read by other users (mode %04o): run `chmod 600 %s`", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, true, err
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, true, fmt.Errorf("server key file %s: %w", path, err)
	}
	return k, true, nil
}

// CreateKeyFile writes a new key to path (mode 0600), refusing to replace
// a file that exists.
func CreateKeyFile(path string, key []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// NewKey returns a fresh random server key.
func NewKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// WriteKeyFile writes key to path (mode 0600) through a temporary file
// that is synced and renamed, so path holds the old key or the new one.
func WriteKeyFile(path string, key []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
