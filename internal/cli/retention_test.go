package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

func TestCLIRetention(t *testing.T) {
	t.Parallel()
	src, _ := pgtest.NewDatabase(t, "dbackup_cli_ret")
	pgtest.Connect(t, src).Exec(context.Background(), "CREATE TABLE t AS SELECT generate_series(1, 10) AS id")
	h := newHarness(t)
	h.ok("", "source", "create", "-name", "pg", "-type", "postgres", "-config", `{"host":"127.0.0.1","user":"postgres","sslmode":"disable"}`)
	h.ok("", "destination", "create", "-name", "a", "-type", "local", "-config", `{"path":"`+t.TempDir()+`"}`)
	h.ok("", "destination", "create", "-name", "b", "-type", "local", "-config", `{"path":"`+t.TempDir()+`"}`)
	h.ok("", "policy", "create", "-name", "two", "-policy", `{"mode":"simple","keep":2}`, "-default")
	if code, _, errs := h.run("", "job", "create", "-name", "j", "-source", "pg", "-destination", "a", "-retention", "c=two"); code != ExitUsage || !strings.Contains(errs, `"c"`) {
		t.Fatalf("-retention for an unknown destination: %d %s", code, errs)
	}
	h.ok("", "job", "create", "-name", "j", "-source", "pg", "-databases", src, "-destination", "a", "-destination", "b", "-retention", `a={"mode":"simple","keep":1}`)
	h.ok("", "job", "run", "-lock", "j")
	h.ok("", "job", "run", "j")
	out := h.ok("", "job", "run", "j")
	if !strings.Contains(out, "destination a: retention keep the newest 1 (inline): keeping 2, deleting 1") ||
		!strings.Contains(out, "destination b: retention keep the newest 2 (default template two): keeping 3, deleting 0") {
		t.Fatalf("retention stage log:\n%s", out)
	}
	plan := h.ok("", "retention", "plan", "-policy", `{"mode":"simple","keep":1}`, "j")
	if !strings.Contains(plan, "locked") || !strings.Contains(plan, "keep 2, delete 1") {
		t.Fatalf("plan:\n%s", plan)
	}
	if out := h.ok("", "retention", "apply", "-destination", "b", "j"); !strings.Contains(out, "b: deleted 0, kept 3") {
		t.Fatalf("apply:\n%s", out)
	}
	if code, _, errs := h.run("", "setting", "set", "retention_max_delete_percent", "101"); code == 0 || !strings.Contains(errs, "from 0 to 100") {
		t.Fatalf("bad setting accepted: %d %s", code, errs)
	}
	h.ok("", "setting", "set", "retention_max_delete_percent", "20")
	if out := h.ok("", "setting", "list"); !strings.Contains(out, "retention_max_delete_percent  20") {
		t.Fatalf("setting list:\n%s", out)
	}
	// With at most 20% at once, deleting 1 of 3 at a is now blocked.
	if out := h.ok("", "retention", "plan", "-policy", `{"mode":"simple","keep":1}`, "-destination", "b", "j"); !strings.Contains(out, "BLOCKED") {
		t.Fatalf("plan with a 20%% cap:\n%s", out)
	}
	if code, _, errs := h.run("", "policy", "delete", "two"); code != 0 {
		t.Fatalf("delete of a default template no destination names: %d %s", code, errs)
	}
}

func TestCLIChannels(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.env["HOOK_URL"] = "http://127.0.0.1:1/hook-canary"
	h.ok("", "channel", "create", "-name", "ops", "-type", "webhook", "-config", "{}", "-secret-env", "url=HOOK_URL")
	code, _, errs := h.run("", "channel", "test", "ops")
	if code != ExitFailed || !strings.Contains(errs, "connection test failed") || strings.Contains(errs, "hook-canary") {
		t.Fatalf("test of an unreachable channel: %d %s", code, errs)
	}
	if out := h.ok("", "notification", "log"); !strings.Contains(out, "ops") || !strings.Contains(out, "failed") {
		t.Fatalf("notification log:\n%s", out)
	}
	h.ok("", "source", "create", "-name", "pg", "-type", "postgres", "-config", `{"host":"127.0.0.1"}`)
	h.ok("", "destination", "create", "-name", "d", "-type", "local", "-config", `{"path":"/tmp"}`)
	out := h.ok("", "job", "create", "-name", "j", "-source", "pg", "-destination", "d", "-notify", "ops=failed,cancelled", "-expect-every", "26h")
	if !strings.Contains(out, `"expect_every": "26h0m0s"`) || !strings.Contains(out, `"failed",`) {
		t.Fatalf("job create:\n%s", out)
	}
	h.ok("", "channel", "system-events", "ops", "restore")
	if strings.Contains(h.all.String(), "hook-canary") {
		t.Fatal("the channel URL leaked into command output")
	}
}
