package mysql

import (
	"context"
	"fmt"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/dbackup/dbackup/internal/source"
	"github.com/dbackup/dbackup/internal/source/proc"
)

// StartThrowaway starts a private MariaDB (or MySQL) server for a drill:
// its data directory in o.Dir, networking off, reached only through a
// socket there, as root without a password.
func StartThrowaway(ctx context.Context, o source.ThrowawayOptions) (*source.Throwaway, error) {
	server, err := program(o.ToolDirs, "mariadbd", "mysqld")
	if err != nil {
		return nil, err
	}
	// MariaDB's data directory comes from mariadb-install-db; Oracle MySQL 8
	// has no install program and initializes with the server itself.
	install := proc.Find(o.ToolDirs, "mariadb-install-db", "mysql_install_db")
	if install == "" && filepath.Base(server) != "mysqld" {
		_, err := program(o.ToolDirs, "mariadb-install-db", "mysql_install_db")
		return nil, err
	}
	cred, err := proc.RunAs("mysql")
	if err != nil {
		return nil, err
	}
	if err := proc.Chown(o.Dir, cred); err != nil {
		return nil, err
	}
	data, sock := filepath.Join(o.Dir, "data"), filepath.Join(o.Dir, "mysqld.sock")
	var asUser []string
	if cred != nil {
		asUser = []string{"--user=" + userName(cred)}
	}
	installCmd := proc.Cmd{Path: install, Args: append([]string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal",
		"--skip-test-db"}, asUser...)}
	if install == "" {
		installCmd = proc.Cmd{Path: server, Args: append([]string{"--no-defaults", "--initialize-insecure", "--datadir=" + data}, asUser...)}
	}
	if err := proc.Run(ctx, installCmd, nil, nil, nil); err != nil {
		return nil, fmt.Errorf("%s for the drill: %w", filepath.Base(installCmd.Path), err)
	}
	args := append([]string{"--no-defaults", "--datadir=" + data, "--socket=" + sock, "--skip-networking", "--pid-file=" + filepath.Join(o.Dir, "mysqld.pid"),
		"--innodb-buffer-pool-size=128M", "--innodb-flush-log-at-trx-commit=0", "--skip-log-bin", "--event-scheduler=OFF"}, asUser...)
	srv, err := proc.StartServer(proc.Cmd{Path: server, Args: args}, nil, filepath.Join(o.Dir, "mysqld.log"))
	if err != nil {
		return nil, err
	}
	s, err := New(Config{Socket: sock, User: "root", SSLMode: "disable"}, "")
	if err != nil {
		srv.Stop(syscall.SIGKILL, 0)
		return nil, err
	}
	return source.Serve(ctx, srv, s, syscall.SIGTERM, time.Minute)
}

// program finds the first of names, or says what to install.
func program(toolDirs []string, names ...string) (string, error) {
	if p := proc.Find(toolDirs, names...); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("no %s to start a drill server with: install mariadb-server (or MySQL's server), or put it among the tool directories", strings.Join(names, " or "))
}

func userName(c *syscall.Credential) string {
	if u, err := user.LookupId(fmt.Sprint(c.Uid)); err == nil {
		return u.Username
	}
	return fmt.Sprint(c.Uid)
}
