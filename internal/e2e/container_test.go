package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/testutil/mytest"
	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

// image is what `make image` builds.
const image = "localhost/dbackup:dev"

// podman runs podman with the project's settings (runc, the host's limits).
func podman(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("podman", args...)
	conf, _ := filepath.Abs("../../scripts/containers.conf")
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+conf)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustPodman(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := podman(t, stdin, args...)
	if err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// The image as a user runs it: started with a volume, the first admin made
// with the CLI inside it, the host's PostgreSQL and MariaDB backed up (one
// by the server through the API, one by the CLI), both restored, the
// health check passing, and a graceful stop on SIGTERM.
func TestContainerImage(t *testing.T) {
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatal("podman is missing: `make image` installs it and builds " + image)
	}
	if out, err := podman(t, "", "image", "exists", image); err != nil {
		t.Fatalf("no image %s: run `make image` (make test does): %v %s", image, err, out)
	}
	pgDB, _ := pgtest.NewDatabase(t, "dbackup_ct")
	pgtest.Connect(t, pgDB).Exec(context.Background(), "CREATE TABLE t AS SELECT generate_series(1, 7000) AS id")
	myDB := mytest.NewDatabase(t, "dbackup_ct")
	my := mytest.Open(t, myDB)
	my.Exec("CREATE TABLE t (id INT PRIMARY KEY)")
	my.Exec("INSERT INTO t SELECT seq FROM seq_1_to_3000")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	name := fmt.Sprintf("dbackup-test-%d", time.Now().UnixNano())
	mustPodman(t, "", "volume", "create", name)
	t.Cleanup(func() {
		podman(t, "", "rm", "-f", "-t", "0", name)
		podman(t, "", "volume", "rm", "-f", name)
	})
	mustPodman(t, "", "run", "-d", "--name", name, "--network=host", "-e", "DBACKUP_LISTEN="+addr, "-v", name+":/var/lib/dbackup", image)
	url := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url + "/api/v1/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			logs, _ := podman(t, "", "logs", name)
			t.Fatalf("the container never answered: %v\n%s", err, logs)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if out := mustPodman(t, "", "exec", name, "id", "-u"); strings.TrimSpace(out) == "0" {
		t.Fatal("dbackup runs as root in the container")
	}
	if out, err := podman(t, "", "healthcheck", "run", name); err != nil {
		t.Fatalf("HEALTHCHECK: %v %s", err, out)
	}
	cli := func(stdin string, args ...string) string {
		t.Helper()
		return mustPodman(t, stdin, append([]string{"exec", "-i", name, "dbackup"}, args...)...)
	}
	for _, tool := range []string{"pg_dump --version", "mariadb-dump --version"} {
		if out := mustPodman(t, "", append([]string{"exec", name}, strings.Fields(tool)...)...); !strings.Contains(out, "Ver") && !strings.Contains(out, "PostgreSQL") {
			t.Fatalf("%s: %s", tool, out)
		}
	}
	cli("admin-password-1\n", "user", "create", "-role", "admin", "-name", "admin", "-password-stdin")
	key := strings.TrimSpace(cli("", "apikey", "create", "-name", "host", "-role", "admin"))
	key = key[strings.LastIndex(key, "dbk_"):]
	key = strings.Fields(key)[0]
	cli("", "source", "create", "-name", "pg", "-type", "postgres", "-config", `{"host":"127.0.0.1","user":"postgres","sslmode":"disable"}`)
	cli("", "source", "create", "-name", "maria", "-type", "mysql", "-config", `{"host":"127.0.0.1","port":3306,"user":"root"}`)
	mustPodman(t, "", "exec", name, "mkdir", "/var/lib/dbackup/backups") // a local destination must exist: a missing mount is not filled
	cli("", "destination", "create", "-name", "vol", "-type", "local", "-config", `{"path":"/var/lib/dbackup/backups"}`)
	cli("", "profile", "create", "-name", "main")
	cli("", "job", "create", "-name", "pg", "-source", "pg", "-databases", pgDB, "-destination", "vol", "-profile", "main")
	cli("", "job", "create", "-name", "maria", "-source", "maria", "-databases", myDB, "-destination", "vol")

	// PostgreSQL: the server in the container runs it, asked through the API.
	api := func(method, path string, body any) map[string]any {
		t.Helper()
		var rd *strings.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = strings.NewReader(string(b))
		} else {
			rd = strings.NewReader("")
		}
		req, _ := http.NewRequest(method, url+path, rd)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, out)
		}
		return out
	}
	id := api("POST", "/api/v1/jobs/pg/run", nil)["id"].(string)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(300 * time.Millisecond) {
		e := api("GET", "/api/v1/executions/"+id, nil)
		if st := e["status"]; st == "success" {
			break
		} else if st != "queued" && st != "running" || time.Now().After(deadline) {
			t.Fatalf("the server's backup: %v", e)
		}
	}
	// MariaDB: the CLI inside the container runs it and follows its log.
	if out := cli("", "job", "run", "maria"); !strings.Contains(out, "success") {
		t.Fatalf("job run maria: %s", out)
	}
	var list struct {
		Backups []struct {
			Key string `json:"key"`
		} `json:"backups"`
	}
	if err := json.Unmarshal([]byte(cli("", "backup", "list", "-destination", "vol", "-json")), &list); err != nil || len(list.Backups) != 2 {
		t.Fatalf("backup list: %v %+v", err, list)
	}
	pgTarget, myTarget := pgtest.Name("dbackup_ct_restored"), mytest.Name("dbackup_ct_restored")
	t.Cleanup(func() { pgtest.Drop(t, pgTarget); mytest.Drop(t, myTarget) })
	for _, b := range list.Backups {
		if strings.HasPrefix(b.Key, "pg/") {
			cli("", "restore", "-destination", "vol", "-backup", b.Key, "-source", "pg", "-db", pgDB+"="+pgTarget)
		} else {
			cli("", "restore", "-destination", "vol", "-backup", b.Key, "-source", "maria", "-db", myDB+"="+myTarget)
		}
	}
	var n int
	if err := pgtest.Connect(t, pgTarget).QueryRow(context.Background(), "SELECT count(*) FROM t").Scan(&n); err != nil || n != 7000 {
		t.Fatalf("restored PostgreSQL rows: %d %v", n, err)
	}
	if err := mytest.Open(t, myTarget).QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 3000 {
		t.Fatalf("restored MariaDB rows: %d %v", n, err)
	}

	// SIGTERM reaches dbackup through tini: a graceful stop, exit code 0.
	start := time.Now()
	mustPodman(t, "", "stop", "-t", "30", name)
	if took := time.Since(start); took > 25*time.Second {
		t.Fatalf("stopping took %s: SIGTERM did not reach dbackup", took)
	}
	if code := strings.TrimSpace(mustPodman(t, "", "inspect", "--format", "{{.State.ExitCode}}", name)); code != "0" {
		logs, _ := podman(t, "", "logs", name)
		t.Fatalf("exit code %s after SIGTERM:\n%s", code, logs)
	}
	if logs, _ := podman(t, "", "logs", name); !strings.Contains(logs, "shutting down") {
		t.Fatalf("no graceful shutdown in the log:\n%s", logs)
	}
}
