package secret

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealBoundToContext(t *testing.T) {
	t.Parallel()
	b, _ := NewBox(bytes.Repeat([]byte{7}, 32))
	s, err := b.Seal([]byte("hunter2"), "source:a")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(s, []byte("hunter2")) {
		t.Fatal("plaintext visible in sealed value")
	}
	if p, err := b.Open(s, "source:a"); err != nil || string(p) != "hunter2" {
		t.Fatalf("open: %q %v", p, err)
	}
	if _, err := b.Open(s, "source:b"); err == nil {
		t.Fatal("sealed value opened under another record")
	}
	other, _ := NewBox(bytes.Repeat([]byte{8}, 32))
	if _, err := other.Open(s, "source:a"); err == nil {
		t.Fatal("opened with another server key")
	}
}

func TestKeyFileCreatedOnceWithMode0600(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "data", "server.key")
	if _, exists, err := LoadKeyFile(path); exists || err != nil {
		t.Fatalf("no file: %v %v", exists, err)
	}
	k1 := NewKey()
	if err := CreateKeyFile(path, k1); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	if err := CreateKeyFile(path, NewKey()); err == nil {
		t.Fatal("an existing key file was replaced")
	}
	k2, exists, err := LoadKeyFile(path)
	if err != nil || !exists || !bytes.Equal(k1, k2) {
		t.Fatalf("reload: exists=%v err=%v same=%v", exists, err, bytes.Equal(k1, k2))
	}
	// Readable by the group or the world: refused, saying how to fix it.
	os.Chmod(path, 0o644)
	if _, _, err := LoadKeyFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable key file: %v", err)
	}
}
