// Package auth holds what dbackup's access control is made of: password
// and API key hashing, roles and their permissions, session tokens and the
// login rate limiter. It knows nothing of HTTP or storage.
package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters (OWASP's minimum: 19 MiB, 2 passes, 1 lane).
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
)

// HashPassword hashes a password with argon2id and a fresh salt, in the
// usual encoded form: $argon2id$v=19$m=…,t=…,p=…$salt$hash.
func HashPassword(password string) (string, error) {
	if len(password) < 10 {
		return "", errors.New("a password needs at least 10 characters")
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	h := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		enc.EncodeToString(salt), enc.EncodeToString(h)), nil
}

// CheckPassword reports whether password matches an encoded hash.
func CheckPassword(encoded, password string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked against when a user does not exist, so that a
// login takes as long for an unknown name as for a wrong password.
// It is made on first use: hashing takes ~20 MB and ~90 ms, which every
// command-line run would otherwise pay at start.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("no such user, no such password")
	return h
})

// Prepare makes the hash CheckNoUser checks against; a server calls it at
// start.
func Prepare() { dummyHash() }

// CheckNoUser spends the time of a password check.
func CheckNoUser(password string) { CheckPassword(dummyHash(), password) }

// KeyPrefix starts every API key, so that it is recognisable in a leak.
const KeyPrefix = "dbk_"

// NewAPIKey returns a key's public id, its secret part, the whole key to
// show once, and the per-key salt and hash to store.
func NewAPIKey() (id, key, salt, hash string) {
	b := make([]byte, 8+32+16)
	rand.Read(b)
	id = hex.EncodeToString(b[:8])
	secret := base64.RawURLEncoding.EncodeToString(b[8:40])
	salt = hex.EncodeToString(b[40:])
	return id, KeyPrefix + id + "_" + secret, salt, HashKey(salt, secret)
}

// ParseAPIKey splits a presented key into its id and secret.
func ParseAPIKey(key string) (id, secret string, ok bool) {
	rest, ok := strings.CutPrefix(key, KeyPrefix)
	if !ok {
		return "", "", false
	}
	id, secret, ok = strings.Cut(rest, "_")
	return id, secret, ok && len(id) == 16 && secret != ""
}

// HashKey is the stored form of an API key's secret: HMAC-SHA256 under the
// key's own salt (the secret has 256 bits of entropy: no slow hash needed).
func HashKey(salt, secret string) string {
	m := hmac.New(sha256.New, []byte(salt))
	m.Write([]byte(secret))
	return hex.EncodeToString(m.Sum(nil))
}

// CheckKey compares a presented secret with a stored hash in constant time.
func CheckKey(salt, hash, secret string) bool {
	return subtle.ConstantTimeCompare([]byte(HashKey(salt, secret)), []byte(hash)) == 1
}

// NewToken returns a random session or CSRF token and the hash to store.
func NewToken() (token, hash string) {
	b := make([]byte, 32)
	rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, TokenHash(token)
}

// TokenHash is the stored form of a session token.
func TokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}
