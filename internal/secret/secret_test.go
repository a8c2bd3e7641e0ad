package secret

import (
	"bytes"
	"os"
	"path/filepath"
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
	k1, created, err := LoadOrCreateKeyFile(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	k2, created, err := LoadOrCreateKeyFile(path)
	if err != nil || created || !bytes.Equal(k1, k2) {
		t.Fatalf("reload: created=%v err=%v same=%v", created, err, bytes.Equal(k1, k2))
	}
}
