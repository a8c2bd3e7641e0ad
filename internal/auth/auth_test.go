package auth

import (
	"strings"
	"testing"
	"time"
)

func TestPasswords(t *testing.T) {
	t.Parallel()
	h, err := HashPassword("correct horse battery")
	if err != nil || !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("%q %v", h, err)
	}
	h2, _ := HashPassword("correct horse battery")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	if !CheckPassword(h, "correct horse battery") || CheckPassword(h, "correct horse batterY") || CheckPassword("garbage", "x") {
		t.Fatal("password check is wrong")
	}
	if _, err := HashPassword("short"); err == nil {
		t.Fatal("a 5-character password was accepted")
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	id, key, salt, hash := NewAPIKey()
	id2, _, salt2, _ := NewAPIKey()
	if id == id2 || salt == salt2 {
		t.Fatal("keys share an id or a salt")
	}
	gotID, secret, ok := ParseAPIKey(key)
	if !ok || gotID != id || !CheckKey(salt, hash, secret) {
		t.Fatalf("key %q does not check", key)
	}
	if CheckKey(salt2, hash, secret) || CheckKey(salt, hash, secret+"x") {
		t.Fatal("a wrong salt or secret checks")
	}
	for _, bad := range []string{"", "dbk_", "Bearer x", "dbk_123_abc", strings.TrimPrefix(key, KeyPrefix)} {
		if _, _, ok := ParseAPIKey(bad); ok {
			t.Errorf("%q parsed as a key", bad)
		}
	}
}

func TestRoles(t *testing.T) {
	t.Parallel()
	if !Viewer.Allows(Read) || Viewer.Allows(Run) || Viewer.Allows(Configure) {
		t.Fatal("viewer")
	}
	if !Operator.Allows(Run) || !Operator.Allows(Restore) || Operator.Allows(Configure) || Operator.Allows(Administer) {
		t.Fatal("operator")
	}
	for _, p := range []Permission{Read, ReadBackups, Run, Restore, Configure, ManageBackup, Administer} {
		if !Admin.Allows(p) {
			t.Fatalf("admin lacks %s", p)
		}
	}
	if _, err := ParseRole("root"); err == nil {
		t.Fatal("unknown role accepted")
	}
}

func TestLimiter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := NewLimiter(3, time.Minute)
	l.Now = func() time.Time { return now }
	for i := range 3 {
		if w := l.Wait("ip"); w != 0 {
			t.Fatalf("attempt %d must wait %s", i, w)
		}
		l.Fail("ip")
		now = now.Add(10 * time.Second)
	}
	if w := l.Wait("ip"); w < 30*time.Second || w > 32*time.Second {
		t.Fatalf("after 3 failures: wait %s, want ~31s", w)
	}
	if l.Wait("other") != 0 {
		t.Fatal("keys are not separate")
	}
	now = now.Add(31 * time.Second)
	if w := l.Wait("ip"); w != 0 {
		t.Fatalf("after the window: wait %s", w)
	}
	l.Fail("ip")
	l.Reset("ip")
	if l.Wait("ip") != 0 {
		t.Fatal("reset did not forget")
	}
}
