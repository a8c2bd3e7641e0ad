package postgres

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dbackup/dbackup/internal/source"
	"github.com/dbackup/dbackup/internal/source/proc"
)

// throwawayUser owns a throwaway cluster: trust authentication on its
// private socket only.
const throwawayUser = "dbackup"

// StartThrowaway starts a private PostgreSQL for a drill: initdb into
// o.Dir, postgres listening only on a Unix socket there, with the server
// programs of the backup's major version (or the nearest newer one).
func StartThrowaway(ctx context.Context, o source.ThrowawayOptions) (*source.Throwaway, error) {
	want, _ := strconv.Atoi(strings.Split(o.Version, ".")[0])
	bin, err := serverPrograms(want, o.ToolDirs)
	if err != nil {
		return nil, err
	}
	cred, err := proc.RunAs("postgres")
	if err != nil {
		return nil, err
	}
	if err := proc.Chown(o.Dir, cred); err != nil {
		return nil, err
	}
	data := filepath.Join(o.Dir, "data")
	initdb := proc.Cmd{Path: filepath.Join(bin, "initdb"), User: cred,
		Args: []string{"--pgdata=" + data, "--auth=trust", "--username=" + throwawayUser, "--no-sync", "--encoding=UTF8", "--locale=C"}}
	if err := proc.Run(ctx, initdb, nil, nil, nil); err != nil {
		return nil, fmt.Errorf("initdb for the drill: %w", err)
	}
	// No TCP listener, no durability: the cluster lives for one drill.
	srv, err := proc.StartServer(proc.Cmd{Path: filepath.Join(bin, "postgres"), Args: []string{
		"-D", data, "-k", o.Dir, "-c", "listen_addresses=", "-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "synchronous_commit=off", "-c", "max_wal_size=4GB", "-p", "5432"}}, cred, filepath.Join(o.Dir, "postgres.log"))
	if err != nil {
		return nil, err
	}
	s, err := New(Config{Host: o.Dir, Port: 5432, User: throwawayUser, SSLMode: "disable", BinDir: bin}, "")
	if err != nil {
		srv.Stop(syscall.SIGKILL, 0)
		return nil, err
	}
	return source.Serve(ctx, srv, s, syscall.SIGINT, time.Minute)
}

var serverVersion = regexp.MustCompile(`\(PostgreSQL\) (\d+)`)

// serverPrograms finds a directory holding initdb and postgres of major
// want, else of the nearest newer major: in the tool directories, then in
// Debian's /usr/lib/postgresql/*/bin, then beside initdb on PATH.
func serverPrograms(want int, toolDirs []string) (string, error) {
	candidates := append([]string{}, toolDirs...)
	system, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(system)
	candidates = append(candidates, system...)
	if p, err := exec.LookPath("initdb"); err == nil {
		candidates = append(candidates, filepath.Dir(p))
	}
	best, bestMajor := "", 0
	for _, d := range candidates {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			continue
		}
		out, err := exec.Command(filepath.Join(d, "postgres"), "--version").Output()
		m := serverVersion.FindStringSubmatch(string(out))
		if err != nil || m == nil {
			continue
		}
		major, _ := strconv.Atoi(m[1])
		if major >= want && (best == "" || major < bestMajor) {
			best, bestMajor = d, major
		}
	}
	if best == "" {
		return "", fmt.Errorf("no PostgreSQL %d (or newer) server to drill with: install postgresql-%d (initdb and postgres), or put its bin directory among the tool directories", want, want)
	}
	return best, nil
}
