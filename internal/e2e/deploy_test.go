package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The compose example parses, runs two nodes on one PostgreSQL store
// with the same server key and different node ids, and sets only
// variables dbackup reads.
func TestComposeExample(t *testing.T) {
	raw, err := os.ReadFile("../../docs/deploy/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Environment map[string]string `yaml:"environment"`
			Secrets     []string          `yaml:"secrets"`
			DependsOn   map[string]any    `yaml:"depends_on"`
		} `yaml:"services"`
		Secrets map[string]struct {
			File string `yaml:"file"`
		} `yaml:"secrets"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	config, _ := os.ReadFile("../../internal/config/config.go")
	nodes := map[string]bool{}
	for _, name := range []string{"dbackup-1", "dbackup-2"} {
		s, ok := doc.Services[name]
		if !ok || s.DependsOn["metadata"] == nil {
			t.Fatalf("service %s missing or not waiting for the metadata store: %+v", name, s)
		}
		env := s.Environment
		if env["DBACKUP_DATABASE_URL_FILE"] == "" || env["DBACKUP_SECRET_KEY_FILE"] == "" {
			t.Fatalf("%s: no shared store or key: %v", name, env)
		}
		nodes[env["DBACKUP_NODE_ID"]] = true
		for k := range env {
			if !strings.Contains(string(config), `"`+strings.TrimSuffix(k, "_FILE")+`"`) {
				t.Errorf("%s sets %s, which dbackup does not read", name, k)
			}
		}
		for _, sec := range s.Secrets {
			if doc.Secrets[sec].File == "" {
				t.Errorf("%s uses secret %s, which is not declared", name, sec)
			}
		}
	}
	if len(nodes) != 2 || nodes[""] {
		t.Fatalf("node ids: %v", nodes)
	}
	if !strings.HasPrefix(doc.Services["metadata"].Image, "docker.io/library/postgres:") {
		t.Fatalf("metadata store: %q", doc.Services["metadata"].Image)
	}
}

// The systemd unit passes systemd-analyze verify, with the binary the
// tests built where the unit expects it.
func TestSystemdUnit(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze is missing (Debian's systemd package)")
	}
	raw, err := os.ReadFile("../../docs/deploy/dbackup.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "dbackup.service")
	os.WriteFile(unit, []byte(strings.ReplaceAll(string(raw), "/usr/local/bin/dbackup", binary)), 0o644)
	if out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput(); err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	if !strings.Contains(string(raw), "ExecStart=/usr/local/bin/dbackup serve") {
		t.Fatal("the unit does not run dbackup serve")
	}
}
