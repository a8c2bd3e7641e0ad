// Package e2e runs the dbackup binary as separate processes: killed with
// SIGKILL mid-backup, restarted, and several nodes sharing PostgreSQL.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dbackup-e2e-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "dbackup")
	build := exec.Command("go", "build", "-o", binary, "../../cmd/dbackup")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build dbackup: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// toolDirs lets the tests' stand-in tools, in their temporary directories,
// be used as sources' bin_dir.
var toolDirs = "DBACKUP_TOOL_DIRS=" + os.TempDir()

// env is the environment of every dbackup process of one test.
type env []string

// run runs a dbackup command and fails the test on a non-zero exit.
func (e env) run(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(append(os.Environ(), toolDirs), e...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dbackup %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// node is one running `dbackup serve`.
type node struct {
	cmd *exec.Cmd
	url string
	log *syncBuf
	id  string
	key string // an admin API key for its API
}

func (e env) serve(t *testing.T, id string, extra ...string) *node {
	t.Helper()
	n := &node{log: &syncBuf{}, id: id}
	args := append([]string{"serve", "-listen", "127.0.0.1:0", "-node-id", id}, extra...)
	n.cmd = exec.Command(binary, args...)
	n.cmd.Env = append(append(os.Environ(), toolDirs), e...)
	n.cmd.Stderr, n.cmd.Stdout = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			t.Logf("log of node %s:\n%s", id, tail(n.log.String(), 40))
		}
	})
	re := regexp.MustCompile(`url=(http://[0-9.:]+)`)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(n.log.String()); m != nil {
			n.url = m[1]
			for _, line := range strings.Split(e.run(t, "", "apikey", "create", "-name", "e2e-"+id+"-"+strconv.FormatInt(time.Now().UnixNano(), 36), "-role", "admin"), "\n") {
				if strings.HasPrefix(line, "dbk_") {
					n.key = line
				}
			}
			return n
		}
	}
	t.Fatalf("node %s did not start:\n%s", id, n.log.String())
	return nil
}

// kill sends SIGKILL, as a crash or an OOM killer would.
func (n *node) kill() {
	if n.cmd.Process != nil && n.cmd.ProcessState == nil {
		n.cmd.Process.Signal(syscall.SIGKILL)
		n.cmd.Wait()
	}
}

func (n *node) api(t *testing.T, method, path string, body any) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, n.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+n.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	var out map[string]any
	json.Unmarshal(raw, &out)
	return out
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// slowPgDump writes a pg_dump that streams part of a real dump and then
// hangs, so a run is caught mid-upload. With a marker file it hangs only
// the first time.
func slowPgDump(t *testing.T, once bool) string {
	bin := t.TempDir()
	marker := filepath.Join(bin, "hung-once")
	// --version answers as the real one (dbackup asks before dumping).
	script := "#!/bin/sh\nif [ \"$1\" = --version ]; then exec /usr/bin/pg_dump --version; fi\n"
	if once {
		script += "if [ -e " + marker + " ]; then exec /usr/bin/pg_dump \"$@\"; fi\ntouch " + marker + "\n"
	}
	script += "/usr/bin/pg_dump \"$@\" | head -c 200000\nexec sleep 120\n"
	os.WriteFile(filepath.Join(bin, "pg_dump"), []byte(script), 0o755)
	t.Cleanup(func() { exec.Command("pkill", "-9", "-f", bin).Run() })
	return bin
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
