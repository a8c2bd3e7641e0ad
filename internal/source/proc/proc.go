// Package proc runs the external dump and restore tools. A child gets a clean
// environment (secrets only through the variables we pass), its own process
// group (cancel kills the whole group), and its stderr in the log with every
// secret masked. It succeeds only if the tool exited 0 and every byte of its
// output was written.
package proc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Cmd is a command line built by a pure function, never by a shell.
type Cmd struct {
	Path string
	Args []string
	// Env holds KEY=VALUE pairs added to a minimal base environment.
	Env []string
	// Secrets are masked wherever the command's output is logged.
	Secrets []string
	// User runs the command as another user (a server's own tools, such as
	// initdb, refuse to run as root); nil: as dbackup.
	User *syscall.Credential
}

// String renders the command for logs: arguments only, never Env.
func (c Cmd) String() string { return strings.Join(append([]string{c.Path}, c.Args...), " ") }

// baseEnv is all a child inherits: nothing of ours, such as the server key.
func baseEnv() []string {
	env := []string{"LANG=C.UTF-8", "LC_ALL=C.UTF-8"}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// Run runs c with stdin from in (may be nil) and stdout to out (may be nil).
func Run(ctx context.Context, c Cmd, in io.Reader, out io.Writer, log *slog.Logger) error {
	name := filepath.Base(c.Path)
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env = append(baseEnv(), c.Env...)
	cmd.SysProcAttr = SysProcAttr()
	cmd.SysProcAttr.Credential = c.User
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	var stdout io.ReadCloser
	if out != nil {
		if stdout, err = cmd.StdoutPipe(); err != nil {
			return err
		}
	}
	// The tool's input: our own pipe, so that it can be grown like the
	// output's (exec's StdinPipe hides the file).
	var stdin, childIn *os.File
	if in != nil {
		if childIn, stdin, err = os.Pipe(); err != nil {
			return err
		}
		growPipe(stdin)
		cmd.Stdin = childIn
	}
	err = cmd.Start()
	if childIn != nil {
		childIn.Close() // the child has its own copy
	}
	if err != nil {
		if stdin != nil {
			stdin.Close()
		}
		return fmt.Errorf("start %s: %w", name, err)
	}
	kill := func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	stop := context.AfterFunc(ctx, kill)
	defer stop()

	var wg sync.WaitGroup
	var tail stderrTail
	wg.Add(1)
	go func() {
		defer wg.Done()
		tail.consume(stderr, c.Secrets, name, log)
	}()
	var inErr error
	if stdin != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := io.CopyBuffer(onlyWriter{stdin}, onlyReader{in}, make([]byte, 256<<10)); err != nil && !errors.Is(err, syscall.EPIPE) {
				inErr = err
				kill() // never let the tool finish on a partial input
			}
			stdin.Close()
		}()
	}
	var outErr error
	if stdout != nil {
		wait := time.Duration(0)
		if growPipe(stdout) {
			wait = coalesceWait
		}
		if err := copyCoalescing(out, stdout, wait); err != nil {
			outErr = err
			kill()
			io.Copy(io.Discard, stdout)
		}
	}
	wg.Wait()
	waitErr := cmd.Wait()

	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w", name, ctx.Err())
	case outErr != nil:
		return fmt.Errorf("%s output could not be written: %w", name, outErr)
	case inErr != nil:
		return fmt.Errorf("%s input failed: %w", name, inErr)
	case waitErr != nil:
		var ee *exec.ExitError
		if errors.As(waitErr, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return fmt.Errorf("%s was killed by signal %v%s", name, ws.Signal(), tail.suffix())
			}
			return fmt.Errorf("%s exited with status %d%s", name, ee.ExitCode(), tail.suffix())
		}
		return fmt.Errorf("%s: %w", name, waitErr)
	}
	return nil
}

// stderrTail logs every stderr line and keeps the last few for the error.
type stderrTail struct {
	mu    sync.Mutex
	lines []string
}

func (t *stderrTail) consume(r io.Reader, secrets []string, name string, log *slog.Logger) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := Mask(sc.Text(), secrets)
		if strings.TrimSpace(line) == "" {
			continue
		}
		if log != nil {
			if !strings.HasPrefix(line, name+":") {
				line = name + ": " + line
			}
			log.Warn(line)
		}
		t.mu.Lock()
		t.lines = append(t.lines, line)
		if len(t.lines) > 5 {
			t.lines = t.lines[1:]
		}
		t.mu.Unlock()
	}
	io.Copy(io.Discard, r)
}

func (t *stderrTail) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return ""
	}
	return ": " + strings.Join(t.lines, " / ")
}

// Mask replaces every occurrence of a secret in s.
func Mask(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 3 {
			s = strings.ReplaceAll(s, sec, "***")
		}
	}
	return s
}

// copyCoalescing copies a tool's output in large pieces. Tools such as
// mariadb-dump write 4 KiB at a time; reading each as it comes wakes
// dbackup (and switches away from the tool) 250 times a MiB. After a short
// read it waits a moment, so that the pipe (1 MiB) gathers more: the
// tool writes on undisturbed, and a read that fills the buffer never waits.
func copyCoalescing(dst io.Writer, src io.Reader, wait time.Duration) error {
	buf := make([]byte, 256<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if n < len(buf)/4 && wait > 0 {
			time.Sleep(wait)
		}
	}
}

// coalesceWait is how long a short read waits for more: a 1 MiB pipe
// fills in it only above 500 MB/s, and then reads are full and never wait.
const coalesceWait = 2 * time.Millisecond

// onlyReader and onlyWriter hide WriteTo and ReadFrom (an *os.File's
// would copy through its own 32 KiB buffer), so that CopyBuffer uses the
// large buffer given to it.
type (
	onlyReader struct{ io.Reader }
	onlyWriter struct{ io.Writer }
)

// growPipe asks the kernel for a 1 MiB pipe: fewer, larger reads and fewer
// context switches between the tool and dbackup. It says whether the pipe
// has it; failure is harmless.
func growPipe(f any) bool {
	if f, ok := f.(interface{ Fd() uintptr }); ok {
		n, err := unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, 1<<20)
		return err == nil && n >= 1<<20
	}
	return false
}

// SysProcAttr puts a child in its own process group (cancelling a run
// kills the group) and has the kernel kill it when dbackup dies, so that
// no dump tool outlives a killed server holding a database connection.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// Secrets lists a password to mask, if there is one.
func Secrets(password string) []string {
	if password == "" {
		return nil
	}
	return []string{password}
}

// Binary is a tool's path: its name, found on PATH, or inside dir.
func Binary(dir, name string) string {
	if dir == "" {
		return name
	}
	return strings.TrimRight(dir, "/") + "/" + name
}
