// Package crypt implements dbackup's encrypted container, version 1: a
// header followed by AES-256-GCM chunks. docs/format.md is the specification;
// this file must agree with it byte for byte.
package crypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

const (
	// Magic opens every container.
	Magic = "DBKUPENC"
	// Version is the container version this package writes.
	Version = 1
	// AlgAES256GCM is algorithm 1: HKDF-SHA256 key derivation, AES-256-GCM chunks.
	AlgAES256GCM = 1
	// KeySize is the size of a profile (master) key.
	KeySize = 32
	// DefaultChunkSize is the plaintext size of every chunk but the last.
	DefaultChunkSize = 256 << 10
	// MaxChunkSize bounds what a reader will allocate for one chunk.
	MaxChunkSize = 16 << 20

	saltSize     = 32
	prefixSize   = 7
	keyCheckSize = 16
	tagSize      = 16
	// HeaderSize is the length of the fixed header.
	HeaderSize = 8 + 1 + 1 + 4 + saltSize + prefixSize + keyCheckSize

	infoKey      = "dbackup container v1 aes-256-gcm key"
	infoKeyCheck = "dbackup container v1 key check"
)

// Errors a reader returns; they are wrapped with detail.
var (
	ErrNotContainer = errors.New("not a dbackup encrypted container")
	ErrWrongKey     = errors.New("wrong encryption key for this backup")
	ErrCorrupt      = errors.New("backup is corrupted or was tampered with")
	ErrTruncated    = errors.New("backup is truncated")
)

// KeyID is a short, one-way fingerprint of a profile key, safe to show and to
// store in sidecars so a restore can tell a wrong key before reading data.
func KeyID(key []byte) string {
	h := sha256.New()
	h.Write([]byte("dbackup key id v1"))
	h.Write(key)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

type header struct {
	raw       [HeaderSize]byte
	chunkSize int
	salt      []byte
	prefix    []byte
	keyCheck  []byte
}

func (h *header) parse() error {
	b := h.raw[:]
	if string(b[:8]) != Magic {
		return ErrNotContainer
	}
	if b[8] != Version {
		return fmt.Errorf("%w: container version %d is not supported", ErrNotContainer, b[8])
	}
	if b[9] != AlgAES256GCM {
		return fmt.Errorf("%w: algorithm %d is not supported", ErrNotContainer, b[9])
	}
	h.chunkSize = int(binary.BigEndian.Uint32(b[10:14]))
	if h.chunkSize < 1 || h.chunkSize > MaxChunkSize {
		return fmt.Errorf("%w: chunk size %d out of range", ErrCorrupt, h.chunkSize)
	}
	h.salt = b[14 : 14+saltSize]
	h.prefix = b[14+saltSize : 14+saltSize+prefixSize]
	h.keyCheck = b[14+saltSize+prefixSize:]
	return nil
}

// derive returns the backup's AEAD and the key check value for masterKey.
func derive(masterKey, salt []byte) (cipher.AEAD, []byte, error) {
	if len(masterKey) != KeySize {
		return nil, nil, fmt.Errorf("encryption key must be %d bytes, got %d", KeySize, len(masterKey))
	}
	key, err := hkdf.Key(sha256.New, masterKey, salt, infoKey, 32)
	if err != nil {
		return nil, nil, err
	}
	check, err := hkdf.Key(sha256.New, masterKey, salt, infoKeyCheck, keyCheckSize)
	if err != nil {
		return nil, nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, nil, err
	}
	aead, err := cipher.NewGCM(block)
	return aead, check, err
}

func nonce(prefix []byte, counter uint32, last bool) []byte {
	n := make([]byte, 12)
	copy(n, prefix)
	binary.BigEndian.PutUint32(n[7:11], counter)
	if last {
		n[11] = 1
	}
	return n
}

// Writer seals everything written to it. Close must be called: it seals the
// final chunk, without which a reader reports the container as truncated.
type Writer struct {
	w       io.Writer
	aead    cipher.AEAD
	hdr     header
	buf     []byte // plaintext of the chunk being filled
	out     []byte
	counter uint64
	err     error
	closed  bool
}

// NewWriter writes a container header to w and returns a Writer using a fresh
// random salt and nonce prefix. chunkSize 0 means DefaultChunkSize.
func NewWriter(w io.Writer, masterKey []byte, chunkSize int) (*Writer, error) {
	var salt [saltSize]byte
	var prefix [prefixSize]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return nil, err
	}
	if _, err := rand.Read(prefix[:]); err != nil {
		return nil, err
	}
	return newWriter(w, masterKey, chunkSize, salt[:], prefix[:])
}

func newWriter(w io.Writer, masterKey []byte, chunkSize int, salt, prefix []byte) (*Writer, error) {
	if chunkSize == 0 {
		chunkSize = DefaultChunkSize
	}
	if chunkSize < 1 || chunkSize > MaxChunkSize {
		return nil, fmt.Errorf("chunk size %d out of range 1..%d", chunkSize, MaxChunkSize)
	}
	aead, check, err := derive(masterKey, salt)
	if err != nil {
		return nil, err
	}
	cw := &Writer{w: w, aead: aead, buf: make([]byte, 0, chunkSize), out: make([]byte, 0, chunkSize+tagSize)}
	b := cw.hdr.raw[:]
	copy(b, Magic)
	b[8], b[9] = Version, AlgAES256GCM
	binary.BigEndian.PutUint32(b[10:14], uint32(chunkSize))
	copy(b[14:], salt)
	copy(b[14+saltSize:], prefix)
	copy(b[14+saltSize+prefixSize:], check)
	if err := cw.hdr.parse(); err != nil {
		return nil, err
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	return cw, nil
}

func (cw *Writer) seal(last bool) error {
	if cw.counter > 0xFFFFFFFF {
		return errors.New("container chunk counter exhausted; use a larger chunk size")
	}
	cw.out = cw.aead.Seal(cw.out[:0], nonce(cw.hdr.prefix, uint32(cw.counter), last), cw.buf, cw.hdr.raw[:])
	cw.counter++
	cw.buf = cw.buf[:0]
	_, err := cw.w.Write(cw.out)
	return err
}

// Write buffers p and seals every full chunk that is known not to be the last.
func (cw *Writer) Write(p []byte) (int, error) {
	if cw.err != nil {
		return 0, cw.err
	}
	if cw.closed {
		return 0, errors.New("write to closed container")
	}
	n := len(p)
	for len(p) > 0 {
		// A full buffer is sealed only once more data proves it is not last.
		if len(cw.buf) == cap(cw.buf) {
			if cw.err = cw.seal(false); cw.err != nil {
				return n - len(p), cw.err
			}
		}
		k := copy(cw.buf[len(cw.buf):cap(cw.buf)], p)
		cw.buf = cw.buf[:len(cw.buf)+k]
		p = p[k:]
	}
	return n, nil
}

// Close seals the final chunk. It does not close the underlying writer.
func (cw *Writer) Close() error {
	if cw.err != nil || cw.closed {
		return cw.err
	}
	cw.closed = true
	cw.err = cw.seal(true)
	return cw.err
}

// Reader authenticates and decrypts a container chunk by chunk. No plaintext
// is returned before its chunk's tag is checked; io.EOF is returned only
// after the final chunk authenticated, so truncation is always reported.
type Reader struct {
	r       io.Reader
	aead    cipher.AEAD
	hdr     header
	in      []byte // one sealed chunk plus one look-ahead byte
	have    int    // bytes of in that are filled
	pbuf    []byte // decrypted chunk storage
	plain   []byte // unread part of pbuf
	counter uint64
	done    bool
	err     error
}

// NewReader reads and checks the header. A wrong key is reported here.
func NewReader(r io.Reader, masterKey []byte) (*Reader, error) {
	cr := &Reader{r: r}
	if _, err := io.ReadFull(r, cr.hdr.raw[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: header is incomplete", ErrNotContainer)
		}
		return nil, err
	}
	if err := cr.hdr.parse(); err != nil {
		return nil, err
	}
	aead, check, err := derive(masterKey, cr.hdr.salt)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(check, cr.hdr.keyCheck) != 1 {
		return nil, ErrWrongKey
	}
	cr.aead = aead
	cr.in = make([]byte, cr.hdr.chunkSize+tagSize+1)
	cr.pbuf = make([]byte, 0, cr.hdr.chunkSize)
	return cr, nil
}

// ChunkSize reports the container's plaintext chunk size.
func (cr *Reader) ChunkSize() int { return cr.hdr.chunkSize }

func (cr *Reader) next() error {
	full := cr.hdr.chunkSize + tagSize
	// Fill one sealed chunk plus one byte: that byte tells whether it is the last.
	n, err := io.ReadFull(cr.r, cr.in[cr.have:])
	cr.have += n
	last := false
	switch {
	case err == nil:
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		last = true
	default:
		return err
	}
	size := cr.have
	if !last {
		size = full
	}
	if size < tagSize {
		return fmt.Errorf("%w: chunk %d ends after %d bytes", ErrTruncated, cr.counter, size)
	}
	if cr.counter > 0xFFFFFFFF {
		return fmt.Errorf("%w: too many chunks", ErrCorrupt)
	}
	plain, oerr := cr.aead.Open(cr.pbuf[:0], nonce(cr.hdr.prefix, uint32(cr.counter), last), cr.in[:size], cr.hdr.raw[:])
	if oerr != nil {
		if last {
			return fmt.Errorf("%w: chunk %d failed authentication (truncated, or altered)", ErrCorrupt, cr.counter)
		}
		return fmt.Errorf("%w: chunk %d failed authentication", ErrCorrupt, cr.counter)
	}
	cr.plain = plain
	cr.counter++
	if last {
		cr.done = true
		cr.have = 0
		return nil
	}
	// Keep the look-ahead byte as the start of the next chunk.
	cr.in[0] = cr.in[full]
	cr.have = 1
	return nil
}

// Read returns authenticated plaintext.
func (cr *Reader) Read(p []byte) (int, error) {
	for len(cr.plain) == 0 {
		if cr.err != nil {
			return 0, cr.err
		}
		if cr.done {
			return 0, io.EOF
		}
		if err := cr.next(); err != nil {
			cr.err = err
			return 0, err
		}
	}
	n := copy(p, cr.plain)
	cr.plain = cr.plain[n:]
	return n, nil
}
