package runner

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	// drillDirPrefix names the directories of throwaway servers.
	drillDirPrefix = "dbackup-drill-"
	// drillOwner, in a drill directory, holds "<pid> <execution id>" of the
	// process whose drill it is.
	drillOwner = "dbackup-drill.owner"
	// drillServerDir, in a drill directory, is the server's own.
	drillServerDir = "server"
)

// DrillBase is the directory the drills' throwaway servers live in: the
// configured one, else the system's temporary directory.
func (r *Runner) DrillBase() string {
	if r.DrillDir != "" {
		return r.DrillDir
	}
	return os.TempDir()
}

// SweepDrills removes what drills of processes that are gone (a kill -9, a
// crash, a power cut) left in the drill directory: their servers'
// processes, sockets and files. It returns the directories it removed.
func (r *Runner) SweepDrills() ([]string, error) {
	base := r.DrillBase()
	entries, err := os.ReadDir(base)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []string
	for _, de := range entries {
		if !de.IsDir() || !strings.HasPrefix(de.Name(), drillDirPrefix) {
			continue
		}
		dir := filepath.Join(base, de.Name())
		if !ours(dir) || drillOwnerAlive(dir) {
			continue
		}
		if err := removeDrillDir(dir); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		removed = append(removed, dir)
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return removed, nil
}

// ours says whether dbackup's user made dir: in a shared temporary
// directory another user may make one of the same name, which is not
// dbackup's to clean.
func ours(dir string) bool {
	var st syscall.Stat_t
	return syscall.Lstat(dir, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFDIR && int(st.Uid) == os.Geteuid()
}

// drillOwnerAlive says whether the process that made a drill directory
// still runs. A directory without its owner file is a drill that died as
// it began, unless it is younger than a minute.
func drillOwnerAlive(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, drillOwner))
	if err != nil {
		st, serr := os.Stat(dir)
		return serr == nil && time.Since(st.ModTime()) < time.Minute
	}
	pid, err := strconv.Atoi(strings.Fields(string(b) + " x")[0])
	if err != nil || pid <= 0 {
		return false
	}
	return pid == os.Getpid() || syscall.Kill(pid, 0) == nil
}

// removeDrillDir kills every process that runs from a drill directory (its
// path is on their command lines: a server dbackup started there), waits
// for them to go, and removes the directory.
func removeDrillDir(dir string) error {
	pids := processesUsing(dir)
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	for deadline := time.Now().Add(10 * time.Second); len(pids) > 0 && time.Now().Before(deadline); pids = processesUsing(dir) {
		time.Sleep(50 * time.Millisecond)
	}
	if len(pids) > 0 {
		return fmt.Errorf("%s: processes %v did not end", dir, pids)
	}
	return os.RemoveAll(dir)
}

// processesUsing lists the processes whose command line names dir or
// that work in it (a PostgreSQL backend's title no longer names its data
// directory, but it runs there).
func processesUsing(dir string) []int {
	procs, _ := os.ReadDir("/proc")
	needle := []byte(dir + "/")
	var out []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if cwd, err := os.Readlink("/proc/" + p.Name() + "/cwd"); err == nil && (cwd == dir || strings.HasPrefix(cwd, dir+"/")) {
			out = append(out, pid)
			continue
		}
		cmd, err := os.ReadFile("/proc/" + p.Name() + "/cmdline")
		if err != nil {
			continue
		}
		// Arguments are NUL-separated; "-D <dir>/data", "--datadir=<dir>/data".
		if bytes.Contains(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '}), needle) {
			out = append(out, pid)
		}
	}
	return out
}
