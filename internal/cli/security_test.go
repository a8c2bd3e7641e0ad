package cli

import (
	"strings"
	"testing"
)

func TestUsersKeysAndAudit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if code, _, errs := h.run("", "user", "create", "-name", "root", "-role", "admin"); code != 2 || !strings.Contains(errs, "never on the command line") {
		t.Fatalf("user create without a password: exit %d %s", code, errs)
	}
	h.ok("admin-password-1\n", "user", "create", "-name", "root", "-role", "admin", "-password-stdin")
	h.env["OP_PW"] = "operator-password-1"
	h.ok("", "user", "create", "-name", "olga", "-role", "operator", "-password-env", "OP_PW")
	if code, _, errs := h.run("short\n", "user", "create", "-name", "x", "-password-stdin"); code == 0 || !strings.Contains(errs, "at least 10") {
		t.Fatalf("short password: exit %d %s", code, errs)
	}
	if out := h.ok("", "user", "list"); !strings.Contains(out, "olga") || !strings.Contains(out, "operator") || strings.Contains(out, "argon2") {
		t.Fatalf("user list:\n%s", out)
	}
	if code, _, errs := h.run("", "user", "delete", "root"); code == 0 || !strings.Contains(errs, "last admin") {
		t.Fatalf("deleting the last admin: exit %d %s", code, errs)
	}
	key := strings.TrimSpace(h.ok("", "apikey", "create", "-name", "ci", "-role", "operator", "-expires", "720h"))
	if !strings.HasPrefix(key, "dbk_") {
		t.Fatalf("key %q", key)
	}
	list := h.ok("", "apikey", "list")
	if !strings.Contains(list, "ci") || !strings.Contains(list, "expires") || strings.Contains(list, key) {
		t.Fatalf("apikey list:\n%s", list)
	}
	h.ok("", "apikey", "revoke", "ci")
	if list := h.ok("", "apikey", "list"); !strings.Contains(list, "revoked") {
		t.Fatalf("after revoke:\n%s", list)
	}
	audit := h.ok("", "audit", "list")
	for _, want := range []string{"user.create", "apikey.create", "apikey.revoke", "cli"} {
		if !strings.Contains(audit, want) {
			t.Fatalf("audit lacks %q:\n%s", want, audit)
		}
	}
	if strings.Contains(h.all.String(), "admin-password-1") || strings.Contains(h.all.String(), "operator-password-1") {
		t.Fatal("a password was printed")
	}
}
