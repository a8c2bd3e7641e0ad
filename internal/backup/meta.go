package backup

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// MetaSuffix is appended to a data object's key to name its sidecar. The
// sidecar is written last and marks the backup as complete.
const MetaSuffix = ".meta.json"

// MetaVersion is the sidecar format this build writes. Version 1 (no
// contents, no MAC) is still read, but is not trusted until an admin says so.
const MetaVersion = 2

// Meta is the content of a backup's `.meta.json` sidecar.
type Meta struct {
	FormatVersion int             `json:"format_version"`
	JobID         string          `json:"job_id"`
	JobName       string          `json:"job_name"`
	ExecutionID   string          `json:"execution_id"`
	SourceType    string          `json:"source_type"`
	SourceName    string          `json:"source_name"`
	EngineVersion string          `json:"engine_version"`
	Databases     []string        `json:"databases"`
	DataFormat    string          `json:"data_format"` // e.g. "pg_custom" or "tar"
	DataFile      string          `json:"data_file"`   // base name of the data object
	CreatedAt     time.Time       `json:"created_at"`
	Compression   MetaCompression `json:"compression"`
	Encryption    *MetaEncryption `json:"encryption,omitempty"`
	Size          int64           `json:"size"`   // stored bytes
	SHA256        string          `json:"sha256"` // of the stored bytes
	// DumpSize is the dump's size before compression and encryption: what
	// a restore reads (0 in sidecars written before it was recorded).
	DumpSize     int64             `json:"dump_size,omitempty"`
	Trigger      Trigger           `json:"trigger"`
	Locked       bool              `json:"locked"`
	Verification *MetaVerification `json:"verification,omitempty"`
	// Contents is what the dump's validator counted, per database.
	Contents Contents `json:"contents,omitempty"`
	// Validation says which validator proved the dump whole, and what it saw.
	Validation *MetaValidation `json:"validation,omitempty"`
	// Trusted records an admin's word for a backup dbackup did not write
	// (or wrote before sidecars were authenticated).
	Trusted *MetaTrust `json:"trusted,omitempty"`
	// MAC authenticates everything above it; always the last member.
	MAC string `json:"mac,omitempty"`

	signed []byte // the bytes the MAC covers, as read; nil when not in place
}

// MetaTrust is who vouched for a backup, and when.
type MetaTrust struct {
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// MetaValidation records the streaming validation of the dump.
type MetaValidation struct {
	Format  string `json:"format"`  // the validator: the data format it reads
	Summary string `json:"summary"` // what it proved, in words
}

// MetaCompression records the compression of the stored bytes.
type MetaCompression struct {
	Algorithm Compression `json:"algorithm"`
	Level     int         `json:"level,omitempty"`
}

// MetaEncryption records which profile and container version sealed the data.
// It holds no key material; the container header carries salt and nonce.
type MetaEncryption struct {
	ProfileID        string `json:"profile_id"`
	KeyID            string `json:"key_id"` // fingerprint of the profile key
	ContainerVersion int    `json:"container_version"`
}

// MetaVerification is the post-upload read-back check at that destination.
type MetaVerification struct {
	VerifiedAt time.Time `json:"verified_at"`
	Method     string    `json:"method"` // "read-back-sha256" or "provider-sha256"
	Passed     bool      `json:"passed"`
}

// SidecarKey derives the key that authenticates sidecars from a profile
// key (encrypted backups) or from the instance key (unencrypted ones).
func SidecarKey(ikm []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, ikm, nil, "dbackup sidecar v2 mac", 32)
}

// macMember is the sidecar's last member; the MAC covers the file without it.
func macMember(mac string) []byte { return []byte(",\n  \"mac\": \"" + mac + "\"\n}\n") }

// Marshal renders the sidecar as indented JSON, authenticated by a MAC
// under macKey (from SidecarKey) as its last member: HMAC-SHA256 over the
// same document without that member, ending in "\n}\n".
func (m *Meta) Marshal(macKey []byte) ([]byte, error) {
	c := *m
	c.FormatVersion, c.MAC, c.signed = MetaVersion, "", nil
	body, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return nil, err
	}
	body = append(body, '\n')
	mac := hex.EncodeToString(sidecarMAC(macKey, body))
	return append(body[:len(body)-3:len(body)-3], macMember(mac)...), nil
}

func sidecarMAC(key, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(body)
	return h.Sum(nil)
}

// Authenticate checks the sidecar's MAC under macKey. A sidecar without one
// (an older dbackup, or written by hand) or with a wrong one is refused
// with ErrUntrusted.
func (m *Meta) Authenticate(macKey []byte) error {
	switch {
	case m.MAC == "":
		return fmt.Errorf("%w: the sidecar carries no MAC (written by dbackup before format 2, by another tool or by hand)", ErrUntrusted)
	case m.signed == nil:
		return fmt.Errorf("%w: the sidecar's MAC is not its last member as the format requires", ErrUntrusted)
	}
	want := sidecarMAC(macKey, m.signed)
	got, err := hex.DecodeString(m.MAC)
	if err != nil || !hmac.Equal(got, want) {
		return fmt.Errorf("%w: the sidecar's MAC does not match: it was altered, or written under another key", ErrUntrusted)
	}
	return nil
}

// ParseMeta decodes and validates a sidecar. Unknown fields are tolerated so
// newer writers stay readable; missing required ones are an error.
func ParseMeta(b []byte) (*Meta, error) {
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: sidecar is not valid JSON: %v", ErrInvalid, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if m.MAC != "" {
		if suffix := macMember(m.MAC); bytes.HasSuffix(b, suffix) {
			m.signed = append(b[:len(b)-len(suffix):len(b)-len(suffix)], "\n}\n"...)
		}
	}
	return &m, nil
}

// Validate checks that the sidecar can drive a verify or a restore.
func (m *Meta) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: sidecar: "+format, append([]any{ErrInvalid}, args...)...)
	}
	switch {
	case m.FormatVersion != 1 && m.FormatVersion != MetaVersion:
		return bad("format_version %d is not supported (want 1 or %d)", m.FormatVersion, MetaVersion)
	case m.JobID == "":
		return bad("job_id is missing")
	case m.SourceType == "":
		return bad("source_type is missing")
	case m.DataFile == "" || strings.ContainsAny(m.DataFile, "/\\") || m.DataFile == "." || m.DataFile == "..":
		return bad("data_file %q is not a plain file name", m.DataFile)
	case m.Size < 0:
		return bad("size %d is negative", m.Size)
	case m.CreatedAt.IsZero():
		return bad("created_at is missing")
	}
	if sum, err := hex.DecodeString(m.SHA256); err != nil || len(sum) != 32 {
		return bad("sha256 %q is not 64 hex digits", m.SHA256)
	}
	if err := m.Compression.Algorithm.Validate(m.Compression.Level); err != nil {
		return bad("%v", err)
	}
	if e := m.Encryption; e != nil && e.ContainerVersion != 1 {
		return bad("encryption container_version %d is not supported", e.ContainerVersion)
	}
	return nil
}
