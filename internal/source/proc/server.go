package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Server is a database server process dbackup started for itself (a
// drill's throwaway server): in its own process group, killed by the
// kernel if dbackup dies.
type Server struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// RunAs is the user a server runs as: nil when dbackup is not root, else
// the system user name (or nobody), because database servers refuse to run
// as root.
func RunAs(name string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		if u, err = user.Lookup("nobody"); err != nil {
			return nil, fmt.Errorf("no user %s to run the server as (dbackup runs as root)", name)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// Chown gives dir and what it holds to the server's user.
func Chown(dir string, cred *syscall.Credential) error {
	if cred == nil {
		return nil
	}
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(cred.Uid), int(cred.Gid))
	})
}

// StartServer starts c as user cred (nil: as dbackup), its output to
// logFile.
func StartServer(c Cmd, cred *syscall.Credential, logFile string) (*Server, error) {
	f, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if cred != nil {
		os.Chown(logFile, int(cred.Uid), int(cred.Gid))
	}
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env = append(baseEnv(), c.Env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = SysProcAttr()
	cmd.SysProcAttr.Credential = cred
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(c.Path), err)
	}
	s := &Server{cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	return s, nil
}

// Ready waits until up says the server answers, failing when it exits or
// the timeout passes, with the end of its log.
func (s *Server) Ready(ctx context.Context, timeout time.Duration, up func() bool) error {
	deadline := time.Now().Add(timeout)
	for !up() {
		select {
		case <-s.done:
			return fmt.Errorf("%s exited before it was ready: %s", filepath.Base(s.cmd.Path), s.Tail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s was not ready after %s: %s", filepath.Base(s.cmd.Path), timeout, s.Tail())
		}
	}
	return nil
}

// Tail is the end of the server's log.
func (s *Server) Tail() string {
	b, _ := os.ReadFile(s.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 4 {
		lines = lines[len(lines)-4:]
	}
	return strings.Join(lines, " / ")
}

// Stop asks the server to stop (sig), then kills its process group after
// grace.
func (s *Server) Stop(sig syscall.Signal, grace time.Duration) error {
	select {
	case <-s.done:
		return nil
	default:
	}
	syscall.Kill(s.cmd.Process.Pid, sig)
	select {
	case <-s.done:
	case <-time.After(grace):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	var ee *exec.ExitError
	if s.err != nil && !errors.As(s.err, &ee) {
		return s.err
	}
	return nil
}

// Find returns the first of names found in the tool directories, in
// /usr/sbin or /usr/bin, or on PATH; "" when none is.
func Find(toolDirs []string, names ...string) string {
	for _, name := range names {
		for _, d := range append(append([]string{}, toolDirs...), "/usr/sbin", "/usr/bin") {
			p := filepath.Join(d, name)
			if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return p
			}
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}
