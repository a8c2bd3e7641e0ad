package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// export → apply to an empty installation → export gives the same file;
// a second apply changes nothing; a change is planned field by field; a
// bad file is refused with its line and changes nothing.
func TestConfigAsCode(t *testing.T) {
	t.Parallel()
	a := newHarness(t)
	a.env["PGPW"] = "canary-config-pw-5150"
	a.env["HOOK"] = "http://127.0.0.1:9/hook"
	disk1, disk2 := t.TempDir(), t.TempDir()
	a.ok("", "source", "create", "-name", "pg", "-type", "postgres", "-config", `{"user":"postgres","host":"127.0.0.1","sslmode":"disable"}`, "-secret-env", "password=PGPW")
	a.ok("", "source", "create", "-name", "scratch-pg", "-type", "postgres", "-config", `{"host":"127.0.0.1","user":"postgres","sslmode":"disable"}`, "-scratch", "true")
	a.ok("", "destination", "create", "-name", "disk1", "-type", "local", "-config", `{"path":"`+disk1+`"}`)
	a.ok("", "destination", "create", "-name", "disk2", "-type", "local", "-config", `{"path":"`+disk2+`"}`)
	a.ok("", "channel", "create", "-name", "ops", "-type", "webhook", "-config", `{"method":"POST"}`, "-secret-env", "url=HOOK")
	a.ok("", "channel", "system-events", "ops", "restore,destination")
	a.ok("", "profile", "create", "-name", "main")
	a.ok("", "policy", "create", "-name", "week", "-policy", `{"mode":"simple","keep":7}`, "-default")
	a.ok("", "job", "create", "-name", "nightly", "-source", "pg", "-databases", "shop,crm", "-destination", "disk1", "-destination", "disk2",
		"-retention", "disk1=week", "-retention", `disk2={"mode":"gfs","daily":3,"weekly":2}`, "-compression", "gzip", "-level", "6", "-profile", "main",
		"-schedule", "0 3 * * *", "-schedule-timezone", "Europe/Berlin", "-notify", "ops=failed,partial", "-expect-every", "26h", "-retries", "2",
		"-drill-every", "3", "-drill-target", "scratch-pg", "-proven-within", "48h")
	a.ok("", "job", "create", "-name", "by-hand", "-source", "pg", "-destination", "disk1", "-disabled")

	exported := a.ok("", "export")
	for _, want := range []string{"env:DBACKUP_SOURCE_PG_PASSWORD", "env:DBACKUP_CHANNEL_OPS_URL", "env:DBACKUP_PROFILE_MAIN_KEY", "key_id:", "system_events:", "enabled: false"} {
		if !strings.Contains(exported, want) {
			t.Fatalf("the export lacks %q:\n%s", want, exported)
		}
	}
	key := strings.TrimSpace(a.ok("", "profile", "export-key", "main"))
	if strings.Contains(exported, a.env["PGPW"]) || strings.Contains(exported, key) || strings.Contains(exported, "127.0.0.1:9/hook") {
		t.Fatalf("the export holds a secret:\n%s", exported)
	}
	file := filepath.Join(t.TempDir(), "dbackup.yaml")
	os.WriteFile(file, []byte(exported), 0o600)

	b := newHarness(t) // an empty installation
	if code, _, errs := b.run("", "apply", "-f", file); code == 0 || !strings.Contains(errs, `profile "main"`) || !strings.Contains(errs, "DBACKUP_PROFILE_MAIN_KEY") {
		t.Fatalf("apply without the profile key: exit %d %s", code, errs)
	}
	if out := b.ok("", "job", "list"); strings.Contains(out, "nightly") {
		t.Fatal("a refused apply left a job behind")
	}
	b.env["DBACKUP_SOURCE_PG_PASSWORD"] = "canary-config-pw-5150"
	b.env["DBACKUP_CHANNEL_OPS_URL"] = "http://127.0.0.1:9/hook"
	b.env["DBACKUP_PROFILE_MAIN_KEY"] = key
	if plan := b.ok("", "apply", "-f", file, "-dry-run"); !strings.Contains(plan, "+ job nightly") || !strings.Contains(plan, "nothing was changed") {
		t.Fatalf("dry run:\n%s", plan)
	}
	if out := b.ok("", "job", "list"); strings.Contains(out, "nightly") {
		t.Fatal("a dry run created a job")
	}
	plan := b.ok("", "apply", "-f", file)
	for _, want := range []string{"+ policy week", "+ profile main", "+ source pg", "+ source scratch-pg", "+ destination disk2", "+ channel ops", "+ job nightly", "+ job by-hand", "9 change(s) applied"} {
		if !strings.Contains(plan, want) {
			t.Fatalf("plan lacks %q:\n%s", want, plan)
		}
	}
	if again := b.export(t); again != exported {
		t.Fatalf("export after apply differs:\n--- first\n%s\n--- second\n%s", exported, again)
	}
	if out := b.ok("", "apply", "-f", file); !strings.Contains(out, "no changes") {
		t.Fatalf("a second apply:\n%s", out)
	}
	if show := b.ok("", "source", "test", "pg"); !strings.Contains(show, "ok") {
		t.Fatalf("the applied source does not connect: %s", show)
	}

	// One field changed: planned as such; -prune deletes what is gone.
	changed := strings.Replace(exported, "compression: gzip", "compression: zstd", 1)
	from := strings.Index(changed, "  - name: by-hand")
	to := from + 1 + strings.Index(changed[from+1:], "  - name: ")
	changed = changed[:from] + changed[to:]
	os.WriteFile(file, []byte(changed), 0o600)
	if out := b.ok("", "apply", "-f", file); !strings.Contains(out, "~ job nightly (compression)") || strings.Contains(out, "by-hand") {
		t.Fatalf("apply of a change:\n%s", out)
	}
	if out := b.ok("", "apply", "-f", file, "-prune"); !strings.Contains(out, "- job by-hand") {
		t.Fatalf("prune:\n%s", out)
	}

	// Bad files: the line, the API's message, nothing changed.
	for _, c := range []struct{ from, to, want string }{
		{"compression: zstd", "compression: lzma", `line `},
		{"destination: disk2", "destination: nowhere", `destination "nowhere" does not exist`},
		{"schedule: 0 3 * * *", "schedule: 61 * * * *", "schedule"},
		{"env:DBACKUP_SOURCE_PG_PASSWORD", "hunter2", "must be a reference"},
		{"    type: postgres", "    type: postgres\n    colour: blue", `unknown field "colour"`},
	} {
		bad := strings.Replace(strings.Replace(changed, "retries: 2", "retries: 5", 1), c.from, c.to, 1)
		os.WriteFile(file, []byte(bad), 0o600)
		code, _, errs := b.run("", "apply", "-f", file)
		if code == 0 || !strings.Contains(errs, c.want) || !strings.Contains(errs, "line ") || !strings.Contains(errs, "nothing was changed") {
			t.Errorf("%s → %s: exit %d %s", c.from, c.to, code, errs)
		}
		if show := b.ok("", "job", "show", "nightly"); strings.Contains(show, `"retries": 5`) {
			t.Fatalf("a refused apply changed the job (%s)", c.to)
		}
	}
	if strings.Contains(a.all.String()+b.all.String(), "canary-config-pw-5150") {
		t.Fatal("a secret was printed")
	}
}

func (h *harness) export(t *testing.T) string {
	t.Helper()
	return h.ok("", "export")
}
