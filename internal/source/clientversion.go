package source

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ClientCheck compares a dump tool's version with the server it dumps.
type ClientCheck struct {
	Tool   string // the program, as the source would run it
	Server string // the server's version, "15.4" or "10.11.19-MariaDB"
	// Parse finds the tool's version in its --version output ("" if none).
	Parse func(out string) string
	// Parts is how many leading numbers make a major version: 1 for
	// PostgreSQL (15), 2 for MariaDB and MySQL (10.11, 8.4).
	Parts int
	// Fix says how to get a matching client, for the error.
	Fix string
	// MuchNewer is how many major versions ahead a client may be before a
	// warning (a newer client usually dumps an older server).
	MuchNewer int
}

// Check runs the tool's --version. A client older than the server is an
// error that says how to fix it; a much newer one a warning.
func (c ClientCheck) Check(ctx context.Context) (warning string, err error) {
	client, out, err := c.version(ctx)
	if err != nil {
		return "", fmt.Errorf("%s cannot run (%v): %s", c.Tool, err, c.Fix)
	}
	cv, sv := versionParts(client, c.Parts), versionParts(c.Server, c.Parts)
	if cv == nil || sv == nil {
		return fmt.Sprintf("could not compare %s (%q) with the server's version %s", c.Tool, strings.TrimSpace(out), c.Server), nil
	}
	switch cmp := compareParts(cv, sv); {
	case cmp < 0:
		return "", fmt.Errorf("%s is version %s, older than the server (%s), and may fail or dump it incompletely: %s",
			c.Tool, client, c.Server, c.Fix)
	case cmp > 0 && cv[0]-sv[0] > c.MuchNewer:
		return fmt.Sprintf("%s is version %s, much newer than the server (%s): its dumps may not restore into a server of the old version", c.Tool, client, c.Server), nil
	}
	return "", nil
}

// versions caches what each tool said, by path, size and modification
// time (and how it was read): a backup does not start a process only to
// ask again.
var versions sync.Map

// version is the tool's version, asked once per file.
func (c ClientCheck) version(ctx context.Context) (string, string, error) {
	path, err := exec.LookPath(c.Tool)
	if err != nil {
		return "", "", err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", "", err
	}
	// Fix differs where Parse reads the same output differently (MySQL's
	// client against MariaDB).
	key := fmt.Sprintf("%s|%d|%d|%s", path, fi.Size(), fi.ModTime().UnixNano(), c.Fix)
	if v, ok := versions.Load(key); ok {
		return v.([2]string)[0], v.([2]string)[1], nil
	}
	v, out, err := c.ask(ctx, path)
	if err == nil && v != "" {
		versions.Store(key, [2]string{v, out})
	}
	return v, out, err
}

// ask runs the tool's --version and reads its output until a version
// appears, the output ends or 10 s pass; then the tool (and whatever it
// started) is killed: a wrapper script may go on after printing it.
func (c ClientCheck) ask(ctx context.Context, tool string) (version, out string, err error) {
	r, w, err := os.Pipe()
	if err != nil {
		return "", "", err
	}
	defer r.Close()
	cmd := exec.Command(tool, "--version")
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return "", "", err
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	found := make(chan struct{})
	var text strings.Builder
	go func() {
		defer close(found)
		sc := bufio.NewScanner(io.LimitReader(r, 64<<10))
		for sc.Scan() {
			text.WriteString(sc.Text() + "\n")
			if version = c.Parse(sc.Text()); version != "" {
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	select {
	case <-found:
		return version, text.String(), nil
	case <-ctx.Done():
		r.Close()
		<-found
		return "", text.String(), nil
	}
}

var leadingNumbers = regexp.MustCompile(`^\d+(\.\d+)*`)

// versionParts is the first n numbers of a version ("10.11.19-MariaDB",
// 2 → [10 11]); nil if it has fewer.
func versionParts(v string, n int) []int {
	m := leadingNumbers.FindString(strings.TrimSpace(v))
	fields := strings.Split(m, ".")
	if m == "" || len(fields) < n {
		return nil
	}
	out := make([]int, n)
	for i := range n {
		out[i], _ = strconv.Atoi(fields[i])
	}
	return out
}

func compareParts(a, b []int) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}
