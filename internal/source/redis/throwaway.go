package redis

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/dbackup/dbackup/internal/source"
	"github.com/dbackup/dbackup/internal/source/proc"
)

// StartThrowaway starts a private redis-server (valkey-server for a Valkey
// backup, when there is one) for a drill: no port, a socket in o.Dir.
func StartThrowaway(ctx context.Context, o source.ThrowawayOptions) (*source.Throwaway, error) {
	names := []string{"redis-server", "valkey-server"}
	if strings.HasSuffix(o.Version, "-valkey") {
		names = []string{"valkey-server", "redis-server"}
	}
	bin := proc.Find(o.ToolDirs, names...)
	if bin == "" {
		return nil, errNoServer
	}
	// Not as root: as the family's system user (nobody without one).
	user := "redis"
	if strings.HasPrefix(filepath.Base(bin), "valkey") {
		user = "valkey"
	}
	cred, err := proc.RunAs(user)
	if err != nil {
		return nil, err
	}
	if err := proc.Chown(o.Dir, cred); err != nil {
		return nil, err
	}
	sock := filepath.Join(o.Dir, "redis.sock")
	srv, err := proc.StartServer(proc.Cmd{Path: bin, Args: []string{"--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
		"--dir", o.Dir, "--save", "", "--appendonly", "no", "--databases", "16", "--daemonize", "no"}}, cred, filepath.Join(o.Dir, "server.log"))
	if err != nil {
		return nil, err
	}
	s, err := New(Config{Host: sock}, "")
	if err != nil {
		srv.Stop(syscall.SIGKILL, 0)
		return nil, err
	}
	return source.Serve(ctx, srv, s, syscall.SIGTERM, 30*time.Second)
}

var errNoServer = errors.New("no redis-server or valkey-server to start a drill server with: install redis-server (or valkey-server), or put it among the tool directories")
