package runner

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
)

// A drill whose throwaway server would not fit on the drill directory's
// disk is skipped, saying how much it needs and how much is free; a drill
// directory the servers' users cannot reach is refused with the fix.
func TestDrillDirectoryBounds(t *testing.T) {
	base, _ := os.MkdirTemp("", "dbackup-drillunit-")
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o711)
	r := &Runner{DrillDir: base}
	_, err := r.drillDir(&backup.Meta{DumpSize: 1 << 60}, "x")
	var skip drillSkip
	if !errors.As(err, &skip) || !strings.Contains(skip.reason, "needs about") || !strings.Contains(skip.reason, "free") {
		t.Fatalf("a drill larger than the disk: %v", err)
	}
	dir, err := r.drillDir(&backup.Meta{DumpSize: 1 << 20}, "exec-1")
	if err != nil {
		t.Fatal(err)
	}
	if owner, _ := os.ReadFile(filepath.Join(dir, drillOwner)); !strings.HasSuffix(string(owner), " exec-1\n") {
		t.Fatalf("owner file: %q", owner)
	}
	if st, _ := os.Stat(filepath.Join(dir, drillServerDir)); st.Mode().Perm() != 0o700 {
		t.Fatalf("the server's directory mode %o", st.Mode().Perm())
	}
	if os.Geteuid() == 0 {
		closed := filepath.Join(base, "closed")
		os.Mkdir(closed, 0o700)
		r.DrillDir = filepath.Join(closed, "drills")
		if _, err := r.drillDir(&backup.Meta{}, "x"); err == nil || !strings.Contains(err.Error(), "chmod o+x") {
			t.Fatalf("a drill directory under a closed one: %v", err)
		}
	}
	// Older sidecars have no dump size: the stored size, times four when compressed.
	if got := drillSpace(&backup.Meta{Size: 100 << 20, Compression: backup.MetaCompression{Algorithm: backup.CompressionZstd}}); got != 2*400<<20+256<<20 {
		t.Fatalf("space for an older compressed backup: %d", got)
	}
}

// The sweep removes the directories of dead drills, killing what still
// runs there, and leaves the live ones.
func TestSweepDrills(t *testing.T) {
	base, _ := os.MkdirTemp("", "dbackup-drillsweep-")
	t.Cleanup(func() { os.RemoveAll(base) })
	r := &Runner{DrillDir: base}
	mk := func(name, owner string) string {
		dir := filepath.Join(base, drillDirPrefix+name)
		os.Mkdir(dir, 0o700)
		if owner != "" {
			os.WriteFile(filepath.Join(dir, drillOwner), []byte(owner), 0o600)
		}
		return dir
	}
	dead := mk("dead", "999999999 e1\n")
	live := mk("live", "1 e2\n") // pid 1 always runs
	fresh := mk("fresh", "")     // no owner yet: a drill starting
	other := filepath.Join(base, "not-a-drill")
	os.Mkdir(other, 0o700)
	// Another user's directory of the same name, its owner gone: not ours.
	foreign := mk("foreign", "999999999 e3\n")
	kept := []string{live, fresh, other}
	if os.Chown(foreign, 65534, 65534) == nil {
		kept = append(kept, foreign)
	} else {
		os.RemoveAll(foreign) // not root: no other user's directory to make
	}
	server := exec.Command("sleep", "60")
	server.Dir = dead // a server working in the dead drill's directory
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { server.Wait(); close(exited) }()
	removed, err := r.SweepDrills()
	if err != nil || len(removed) != 1 || removed[0] != dead {
		t.Fatalf("swept %v (%v)", removed, err)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the dead drill's server still runs")
	}
	for _, d := range kept {
		if _, err := os.Stat(d); err != nil {
			t.Fatalf("%s removed: %v", d, err)
		}
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Fatalf("the dead drill's directory is still there: %v", err)
	}
}
