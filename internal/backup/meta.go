package backup

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// MetaSuffix is appended to a data object's key to name its sidecar. The
// sidecar is written last and marks the backup as complete.
const MetaSuffix = ".meta.json"

// MetaVersion is the sidecar format this build writes and reads.
const MetaVersion = 1

// Meta is the content of a backup's `.meta.json` sidecar.
type Meta struct {
	FormatVersion int               `json:"format_version"`
	JobID         string            `json:"job_id"`
	JobName       string            `json:"job_name"`
	ExecutionID   string            `json:"execution_id"`
	SourceType    string            `json:"source_type"`
	SourceName    string            `json:"source_name"`
	EngineVersion string            `json:"engine_version"`
	Databases     []string          `json:"databases"`
	DataFormat    string            `json:"data_format"` // e.g. "pg_custom" or "tar"
	DataFile      string            `json:"data_file"`   // base name of the data object
	CreatedAt     time.Time         `json:"created_at"`
	Compression   MetaCompression   `json:"compression"`
	Encryption    *MetaEncryption   `json:"encryption,omitempty"`
	Size          int64             `json:"size"`   // stored bytes
	SHA256        string            `json:"sha256"` // of the stored bytes
	Trigger       Trigger           `json:"trigger"`
	Locked        bool              `json:"locked"`
	Verification  *MetaVerification `json:"verification,omitempty"`
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

// Marshal renders the sidecar as indented JSON.
func (m *Meta) Marshal() ([]byte, error) {
	return json.MarshalIndent(m, "", "  ")
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
	return &m, nil
}

// Validate checks that the sidecar can drive a verify or a restore.
func (m *Meta) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: sidecar: "+format, append([]any{ErrInvalid}, args...)...)
	}
	switch {
	case m.FormatVersion != MetaVersion:
		return bad("format_version %d is not supported (want %d)", m.FormatVersion, MetaVersion)
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
