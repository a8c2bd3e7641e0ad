package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

type harness struct {
	t       *testing.T
	dataDir string
	env     map[string]string
	// everything any command printed, to search for leaked secrets
	all bytes.Buffer
}

func newHarness(t *testing.T) *harness {
	dir := t.TempDir()
	return &harness{t: t, dataDir: filepath.Join(dir, "data"), env: map[string]string{"DBACKUP_DATA_DIR": filepath.Join(dir, "data")}}
}

// run runs one command and returns its exit code, stdout and stderr.
func (h *harness) run(stdin string, args ...string) (int, string, string) {
	h.t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, strings.NewReader(stdin), &out, &errb, func(k string) (string, bool) {
		v, ok := h.env[k]
		return v, ok
	})
	h.all.Write(out.Bytes())
	h.all.Write(errb.Bytes())
	return code, out.String(), errb.String()
}

func (h *harness) ok(stdin string, args ...string) string {
	h.t.Helper()
	code, out, errs := h.run(stdin, args...)
	if code != 0 {
		h.t.Fatalf("dbackup %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func TestCLIBackupDecryptRestore(t *testing.T) {
	t.Parallel()
	src, _ := pgtest.NewDatabase(t, "dbackup_cli")
	if _, err := pgtest.Connect(t, src).Exec(context.Background(), "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 20000) g"); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	const canary = "dbackup-test-pw"
	h.env["PGPW_FOR_TEST"] = canary
	backups := t.TempDir()

	// The password of a password-checked role comes from the environment.
	h.ok("", "source", "create", "-name", "pg", "-type", "postgres", "-config", `{"host":"127.0.0.1","user":"dbackup_pw","sslmode":"disable"}`, "-secret-env", "password=PGPW_FOR_TEST")
	if out := h.ok("", "source", "test", "pg"); !strings.Contains(out, "ok: version") {
		t.Fatalf("source test: %s", out)
	}
	// An update that keeps where the source connects keeps its password.
	h.ok("{}", "source", "update", "-config", `{"host":"127.0.0.1","user":"dbackup_pw","sslmode":"prefer"}`, "-secrets-stdin", "pg")
	if show := h.ok("", "source", "show", "pg"); !strings.Contains(show, `"password": "set"`) {
		t.Fatalf("an update without secrets dropped the stored password:\n%s", show)
	}
	// dbackup_pw may not read the table; use the superuser for the backup.
	// Another user (or host) is given the password again: the stored one
	// never goes anywhere else.
	if code, _, errs := h.run("{}", "source", "update", "-config", `{"host":"127.0.0.1","user":"postgres","sslmode":"disable"}`, "-secrets-stdin", "pg"); code == 0 || !strings.Contains(errs, "changing user needs the secrets again") {
		t.Fatalf("changing the user without the password: exit %d %s", code, errs)
	}
	h.ok(`{"password":"not-checked-on-trust"}`, "source", "update", "-config", `{"host":"127.0.0.1","user":"postgres","sslmode":"disable"}`, "-secrets-stdin", "pg")
	h.ok("", "destination", "create", "-name", "disk", "-type", "local", "-config", `{"path":"`+backups+`"}`)
	h.ok("", "profile", "create", "-name", "main")
	if show := h.ok("", "profile", "show", "main"); !strings.Contains(show, `"key_id"`) || strings.Contains(show, `"key":`) {
		t.Fatalf("profile show:\n%s", show)
	}
	h.ok("", "job", "create", "-name", "cli job", "-source", "pg", "-databases", src, "-destination", "disk", "-compression", "gzip", "-profile", "main")
	out := h.ok("", "job", "run", "cli job")
	for _, want := range []string{"[dump] dumping database " + src, "[verify] destination disk: verified", "backup finished successfully", ": success"} {
		if !strings.Contains(out, want) {
			t.Fatalf("job run output lacks %q:\n%s", want, out)
		}
	}
	list := h.ok("", "backup", "list", "-destination", "disk")
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) != 2 {
		t.Fatalf("backup list:\n%s", list)
	}
	key := strings.Fields(lines[1])[0]
	if !strings.HasSuffix(key, ".dump.gz.enc") {
		t.Fatalf("backup key %q", key)
	}
	h.ok("", "backup", "verify", "-destination", "disk", key)
	// A drill restores it into a throwaway server and counts every table.
	drill := h.ok("", "backup", "drill", "-destination", "disk", key)
	for _, want := range []string{"[server] throwaway postgres server", "drill passed", "restored into throwaway 15", "drill ", ": success"} {
		if !strings.Contains(drill, want) {
			t.Fatalf("backup drill output lacks %q:\n%s", want, drill)
		}
	}
	if list := h.ok("", "backup", "list", "-destination", "disk"); !strings.Contains(list, "success 20") {
		t.Fatalf("backup list does not show the drill:\n%s", list)
	}
	if rec := h.ok("", "job", "recovery"); !strings.Contains(rec, "cli job") || !strings.Contains(rec, "ago)") {
		t.Fatalf("job recovery:\n%s", rec)
	}

	// Decrypt with nothing but the key: dbackup decrypt and the independent
	// Python decryptor from docs/ must give the same pg_dump archive.
	keyFile := filepath.Join(t.TempDir(), "main.key")
	os.WriteFile(keyFile, []byte(h.ok("", "profile", "export-key", "main")), 0o600)
	plain := filepath.Join(t.TempDir(), "plain.dump")
	h.ok("", "decrypt", "-key-file", keyFile, "-out", plain, filepath.Join(backups, key))
	got, _ := os.ReadFile(plain)
	if !bytes.HasPrefix(got, []byte("PGDMP")) {
		t.Fatalf("decrypted output starts %q, want a pg_dump archive", got[:min(len(got), 8)])
	}
	py := exec.Command("/usr/bin/python3", "../../docs/decrypt.py", keyFile, "--sidecar", filepath.Join(backups, key+".meta.json"))
	py.Stdin, _ = os.Open(filepath.Join(backups, key))
	gz, err := py.Output()
	if err != nil {
		t.Fatalf("docs/decrypt.py on a dbackup backup: %v", err)
	}
	gunzip := exec.Command("gzip", "-dc")
	gunzip.Stdin = bytes.NewReader(gz)
	pyPlain, err := gunzip.Output()
	if err != nil || !bytes.Equal(pyPlain, got) {
		t.Fatalf("python decryptor output differs from dbackup decrypt (%d vs %d bytes, %v)", len(pyPlain), len(got), err)
	}
	// backup download -plain gives the same dump; without -plain, the stored bytes.
	fromServer := filepath.Join(t.TempDir(), "server.dump")
	h.ok("", "backup", "download", "-destination", "disk", "-plain", "-out", fromServer, key)
	stored := filepath.Join(t.TempDir(), "stored.enc")
	h.ok("", "backup", "download", "-destination", "disk", "-out", stored, key)
	if a, _ := os.ReadFile(fromServer); !bytes.Equal(a, got) {
		t.Fatalf("backup download -plain differs from decrypt (%d vs %d bytes)", len(a), len(got))
	}
	if a, _ := os.ReadFile(stored); len(a) == 0 || !bytes.Equal(a, readFile(t, filepath.Join(backups, key))) {
		t.Fatal("backup download differs from the stored file")
	}
	// A wrong key is refused and writes nothing.
	wrong := filepath.Join(t.TempDir(), "wrong.key")
	os.WriteFile(wrong, []byte(strings.Repeat("ab", 32)), 0o600)
	out2 := filepath.Join(t.TempDir(), "out.dump")
	if code, _, errs := h.run("", "decrypt", "-key-file", wrong, "-out", out2, filepath.Join(backups, key)); code == 0 || !strings.Contains(errs, "wrong encryption key") {
		t.Fatalf("decrypt with a wrong key: exit %d %s", code, errs)
	}
	if _, err := os.Stat(out2); err == nil {
		t.Fatal("decrypt with a wrong key wrote an output file")
	}
	// The sidecar beside the backup is checked with the key: a sidecar
	// changed by hand is refused, unless told to ignore it.
	if _, _, errs := h.run("", "decrypt", "-key-file", keyFile, "-out", filepath.Join(t.TempDir(), "x"), filepath.Join(backups, key)); !strings.Contains(errs, "sidecar authenticated") {
		t.Fatalf("decrypt did not check the sidecar: %s", errs)
	}
	sidecar := filepath.Join(backups, key+".meta.json")
	orig := readFile(t, sidecar)
	os.WriteFile(sidecar, bytes.Replace(orig, []byte(`"trigger": "manual"`), []byte(`"trigger": "api"   `), 1), 0o600)
	if code, _, errs := h.run("", "decrypt", "-key-file", keyFile, "-out", filepath.Join(t.TempDir(), "x"), filepath.Join(backups, key)); code == 0 || !strings.Contains(errs, "MAC does not match") {
		t.Fatalf("decrypt with an altered sidecar: exit %d %s", code, errs)
	}
	h.ok("", "decrypt", "-no-sidecar", "-key-file", keyFile, "-out", filepath.Join(t.TempDir(), "x"), filepath.Join(backups, key))
	os.WriteFile(sidecar, orig, 0o600)

	target := pgtest.Name("dbackup_cli_restored")
	pgtest.Drop(t, target)
	out = h.ok("", "restore", "-destination", "disk", "-backup", key, "-source", "pg", "-db", src+"="+target)
	if !strings.Contains(out, "restore finished successfully") {
		t.Fatalf("restore output:\n%s", out)
	}
	var n int
	pgtest.Connect(t, target).QueryRow(context.Background(), "SELECT count(*) FROM t").Scan(&n)
	if n != 20000 {
		t.Fatalf("restored %d rows, want 20000", n)
	}
	h.ok("", "execution", "list")
	h.ok("", "execution", "list", "-json")
	// The backup ran before the restore.
	for sort, first := range map[string]string{"newest": "restore", "oldest": "backup"} {
		lines := strings.Split(h.ok("", "execution", "list", "-sort", sort), "\n")
		if len(lines) < 3 || !strings.Contains(lines[1], first) {
			t.Fatalf("execution list -sort %s, want the %s first:\n%s", sort, first, strings.Join(lines, "\n"))
		}
	}
	if code, _, errs := h.run("", "execution", "list", "-sort", "size"); code == 0 || !strings.Contains(errs, "use newest, oldest, longest or largest") {
		t.Fatalf("execution list -sort size: exit %d, %s", code, errs)
	}
	audit := h.ok("", "audit", "list")
	for _, want := range []string{"job.run", "restore.start", "profile.export-key"} {
		if !strings.Contains(audit, want) {
			t.Fatalf("the audit log lacks %s:\n%s", want, audit)
		}
	}
	if strings.Contains(h.all.String(), canary) {
		t.Fatal("the source password appeared in command output")
	}
	db, _ := os.ReadFile(filepath.Join(h.dataDir, "dbackup.db"))
	if bytes.Contains(db, []byte(canary)) {
		t.Fatal("the source password is stored in clear text")
	}
}

func TestCLIErrorsAndUsage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if code, _, errs := h.run("", "job", "run"); code != ExitUsage || !strings.Contains(errs, "usage: dbackup job run") {
		t.Fatalf("missing argument: exit %d %s", code, errs)
	}
	if code, _, errs := h.run("", "job", "run", "nope"); code != ExitFailed || !strings.Contains(errs, `job "nope": not found`) {
		t.Fatalf("unknown job: exit %d %s", code, errs)
	}
	if code, _, errs := h.run("", "source", "create", "-name", "x", "-type", "oracle", "-config", "{}"); code != ExitFailed || !strings.Contains(errs, `unknown source type "oracle"`) {
		t.Fatalf("unknown type: exit %d %s", code, errs)
	}
	if code, _, errs := h.run("", "source", "create", "-name", "x", "-type", "postgres", "-config", `{"hots":"typo"}`); code != ExitFailed || !strings.Contains(errs, `unknown field "hots"`) {
		t.Fatalf("config typo: exit %d %s", code, errs)
	}
	if code, _, _ := h.run("", "frobnicate"); code != ExitUsage {
		t.Fatalf("unknown command: exit %d", code)
	}
	if code, out, _ := h.run("", "help"); code != 0 || !strings.Contains(out, "job run") {
		t.Fatal("help does not list commands")
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// job update changes what its flags name and nothing else: leaving out
// -profile must not turn encryption off, nor -schedule unschedule the job.
func TestJobUpdateChangesOnlyTheFlagsGiven(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.ok("", "source", "create", "-name", "pg", "-type", "postgres", "-config", `{"host":"127.0.0.1","user":"postgres","sslmode":"disable"}`)
	h.ok("", "destination", "create", "-name", "disk", "-type", "local", "-config", `{"path":"`+t.TempDir()+`"}`)
	h.ok("", "profile", "create", "-name", "main")
	h.ok("", "job", "create", "-name", "j", "-source", "pg", "-databases", "postgres", "-destination", "disk",
		"-profile", "main", "-schedule", "0 3 * * *", "-retries", "2", "-disabled")
	show := func() map[string]any {
		var j map[string]any
		if err := json.Unmarshal([]byte(h.ok("", "job", "show", "j")), &j); err != nil {
			t.Fatal(err)
		}
		return j
	}
	before := show()
	h.ok("", "job", "update", "-compression", "gzip", "j")
	after := show()
	for _, k := range []string{"encryption_profile_id", "schedule", "retries", "enabled", "databases", "destinations"} {
		if fmt.Sprint(after[k]) != fmt.Sprint(before[k]) {
			t.Errorf("%s changed from %v to %v by an update that did not name it", k, before[k], after[k])
		}
	}
	if after["compression"] != "gzip" {
		t.Fatalf("compression %v, want gzip", after["compression"])
	}
	// Named explicitly, a setting does change, also to empty.
	h.ok("", "job", "update", "-profile", "", "-schedule", "", "j")
	if j := show(); j["encryption_profile_id"] != nil || j["schedule"] != nil || j["enabled"] != false {
		t.Fatalf("after -profile \"\" -schedule \"\": profile %v, schedule %v, enabled %v", j["encryption_profile_id"], j["schedule"], j["enabled"])
	}
	if code, _, errs := h.run("", "job", "update", "-retention", "disk=keep", "j"); code == 0 || !strings.Contains(errs, "-destination") {
		t.Fatalf("-retention without -destination: exit %d %s", code, errs)
	}
}
