// Package ftp stores backups on an FTP server, in passive mode, optionally
// over explicit TLS (FTPS, AUTH TLS). FTP cannot tell a finished upload
// from a broken one, so every upload goes to a temporary name and is renamed
// only after the whole stream was sent and the size on the server matches.
package ftp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/dest/filedest"
	"github.com/dbackup/dbackup/internal/plugin"
)

// Type is the destination type name.
const Type = "ftp"

// Config is an FTP server and a directory on it. The password is a secret.
type Config struct {
	Host string `json:"host"`
	Port int    `json:"port" help:"default 21"`
	User string `json:"user"`
	// Path is the root directory (absolute, or relative to the login
	// directory).
	Path string `json:"path,omitempty" help:"root directory (absolute, or relative to the login directory)"`
	// TLS is "none" (plain FTP) or "explicit" (AUTH TLS, the default).
	TLS                string `json:"tls,omitempty" choices:"|explicit|none" help:"default explicit (AUTH TLS); none is plain FTP"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty" help:"accept any TLS certificate (self-signed test servers only)"`
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.Host == "" || c.User == "" {
		return fmt.Errorf("%w: host and user are required", backup.ErrInvalid)
	}
	if c.Port == 0 {
		c.Port = 21
	}
	switch c.TLS {
	case "":
		c.TLS = "explicit"
	case "explicit", "none":
	default:
		return fmt.Errorf("%w: tls %q (want explicit or none)", backup.ErrInvalid, c.TLS)
	}
	return nil
}

// Factory registers FTP.
var Factory = plugin.Typed(Type, "FTP / FTPS", []string{"password"},
	func(c Config, secrets map[string]string) (dest.Destination, error) {
		return New(c, secrets["password"])
	})

// New returns the destination; it connects on first use.
func New(c Config, password string) (*filedest.Dest, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	f := &FS{cfg: c, password: password}
	scheme := "ftps"
	if c.TLS == "none" {
		scheme = "ftp"
	}
	return filedest.New(f, c.Path, scheme+"://"+c.User+"@"+f.addr()+"/"+strings.TrimPrefix(c.Path, "/")), nil
}

// FS keeps a pool of logged-in connections: FTP runs one command at a time
// on a connection, so each operation or transfer takes one of its own.
type FS struct {
	cfg      Config
	password string

	mu   sync.Mutex
	idle []*ftp.ServerConn
	home string // the login directory, which relative paths start from
}

// get takes an idle connection or opens one.
func (f *FS) get(ctx context.Context) (*ftp.ServerConn, error) {
	f.mu.Lock()
	if n := len(f.idle); n > 0 {
		c := f.idle[n-1]
		f.idle = f.idle[:n-1]
		f.mu.Unlock()
		return c, nil
	}
	f.mu.Unlock()
	return f.dial(ctx)
}

// put returns a healthy connection to the pool.
func (f *FS) put(c *ftp.ServerConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.idle) < 4 {
		f.idle = append(f.idle, c)
		return
	}
	c.Quit()
}

func (f *FS) addr() string { return net.JoinHostPort(f.cfg.Host, strconv.Itoa(f.cfg.Port)) }

func (f *FS) dial(ctx context.Context) (*ftp.ServerConn, error) {
	opts := []ftp.DialOption{ftp.DialWithContext(ctx), ftp.DialWithTimeout(15 * time.Second), ftp.DialWithForceListHidden(true)}
	if f.cfg.TLS == "explicit" {
		// TLS 1.2 only: vsftpd 3.0 and others lose the end of uploads
		// over TLS 1.3 data connections ("426 Failure reading network
		// stream"), as rclone and FluentFTP found too.
		opts = append(opts, ftp.DialWithExplicitTLS(&tls.Config{ServerName: f.cfg.Host, InsecureSkipVerify: f.cfg.InsecureSkipVerify,
			MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12}))
	}
	c, err := ftp.Dial(f.addr(), opts...)
	if err != nil {
		if strings.Contains(err.Error(), "certificate") {
			return nil, fmt.Errorf("ftp %s: TLS: %w", f.addr(), err)
		}
		return nil, fmt.Errorf("cannot reach ftp server %s: %w", f.addr(), err)
	}
	if err := c.Login(f.cfg.User, f.password); err != nil {
		c.Quit()
		if strings.HasPrefix(err.Error(), "530") {
			return nil, fmt.Errorf("ftp %s: login failed for user %q: wrong password", f.addr(), f.cfg.User)
		}
		return nil, fmt.Errorf("ftp %s: login: %w", f.addr(), err)
	}
	home, err := c.CurrentDir()
	if err != nil {
		c.Quit()
		return nil, fmt.Errorf("ftp %s: current directory: %w", f.addr(), err)
	}
	f.mu.Lock()
	f.home = home
	f.mu.Unlock()
	return c, nil
}

// withMeta runs op on a pooled connection, once more on a fresh one if
// the pooled one had gone stale.
func (f *FS) withMeta(ctx context.Context, op func(c *ftp.ServerConn) error) error {
	for attempt := 0; ; attempt++ {
		c, err := f.get(ctx)
		if err != nil {
			return err
		}
		err = op(c)
		if err != nil && isConnErr(err) {
			c.Quit()
			if attempt == 0 {
				continue
			}
			return err
		}
		f.put(c)
		return mapErr(err)
	}
}

func isConnErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "421")
}

// mapErr maps FTP replies onto fs errors and says when the server is full.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "550"):
		return fmt.Errorf("%w: %v", fs.ErrNotExist, err)
	case strings.HasPrefix(msg, "552"), strings.HasPrefix(msg, "452"), strings.Contains(msg, "Failure writing"):
		return fmt.Errorf("no space left on the ftp server: %w", err)
	}
	return err
}

// rel makes p absolute on the server: paths of a relative root start at
// the login directory (commands never depend on the working directory).
func (f *FS) rel(p string) string {
	if strings.HasPrefix(f.cfg.Path, "/") {
		return p
	}
	return path.Join(f.home, p)
}

// Ping logs in.
func (f *FS) Ping(ctx context.Context) error {
	return f.withMeta(ctx, func(c *ftp.ServerConn) error { return c.NoOp() })
}

// MkdirAll creates each missing directory on the way to dir.
func (f *FS) MkdirAll(ctx context.Context, dir string) error {
	return f.withMeta(ctx, func(c *ftp.ServerConn) error {
		cur := "/"
		for _, seg := range strings.Split(strings.Trim(f.rel(dir), "/"), "/") {
			if seg == "" {
				continue
			}
			cur = path.Join(cur, seg)
			if err := c.MakeDir(cur); err != nil {
				// 550 also means "exists": check it is a directory.
				if cerr := c.ChangeDir(cur); cerr != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Create uploads over a connection of its own, fed by the returned writer.
func (f *FS) Create(ctx context.Context, name string) (io.WriteCloser, error) {
	c, err := f.get(ctx)
	if err != nil {
		return nil, err
	}
	return filedest.NewPipeUpload(func(r io.Reader, written func() int64) error {
		err := c.Stor(f.rel(name), r)
		if err == nil {
			// FTP cannot tell a finished upload from a broken one: the
			// server must hold every byte sent.
			if size, serr := c.FileSize(f.rel(name)); serr == nil && size != written() {
				err = fmt.Errorf("the server holds %d of %d bytes", size, written())
			}
		}
		if err != nil {
			c.Quit()
			return mapErr(err)
		}
		f.put(c)
		return nil
	}), nil
}

// Open downloads over a connection of its own.
func (f *FS) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	c, err := f.get(ctx)
	if err != nil {
		return nil, err
	}
	r, err := c.Retr(f.rel(name))
	if err != nil {
		c.Quit()
		return nil, mapErr(err)
	}
	return &download{Response: r, c: c, f: f}, nil
}

// OpenRange downloads from offset (REST) and stops after length bytes.
func (f *FS) OpenRange(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	c, err := f.get(ctx)
	if err != nil {
		return nil, err
	}
	r, err := c.RetrFrom(f.rel(name), uint64(offset))
	if err != nil {
		c.Quit()
		return nil, mapErr(err)
	}
	// The transfer is cut short: this connection is not reused.
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(r, length), closeAll{r, c}}, nil
}

type closeAll struct {
	r *ftp.Response
	c *ftp.ServerConn
}

func (a closeAll) Close() error {
	a.r.Close()
	return a.c.Quit()
}

type download struct {
	*ftp.Response
	c *ftp.ServerConn
	f *FS
}

func (d *download) Close() error {
	err := d.Response.Close()
	if err != nil {
		d.c.Quit()
	} else {
		d.f.put(d.c)
	}
	return err
}

// Stat asks SIZE and MDTM of a file and tries to enter a directory, on the
// control connection (no listing, which would cost a data connection).
func (f *FS) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	var fi fs.FileInfo
	err := f.withMeta(ctx, func(c *ftp.ServerConn) error {
		p := f.rel(name)
		if size, err := c.FileSize(p); err == nil {
			e := &ftp.Entry{Name: path.Base(p), Type: ftp.EntryTypeFile, Size: uint64(size)}
			e.Time, _ = c.GetTime(p)
			fi = info{e}
			return nil
		}
		if err := c.ChangeDir(p); err != nil {
			return fmt.Errorf("%s: %w", name, fs.ErrNotExist)
		}
		fi = info{&ftp.Entry{Name: path.Base(p), Type: ftp.EntryTypeFolder}}
		return nil
	})
	return fi, err
}

// ReadDir lists a directory, hidden files included.
func (f *FS) ReadDir(ctx context.Context, dir string) ([]fs.FileInfo, error) {
	var out []fs.FileInfo
	err := f.withMeta(ctx, func(c *ftp.ServerConn) error {
		// LIST of a missing directory is an empty listing on some servers.
		if err := c.ChangeDir(f.rel(dir)); err != nil {
			return err
		}
		entries, err := c.List(".")
		for _, e := range entries {
			if e.Name != "." && e.Name != ".." {
				out = append(out, info{e})
			}
		}
		return err
	})
	return out, err
}

// Remove deletes a file.
func (f *FS) Remove(ctx context.Context, name string) error {
	return f.withMeta(ctx, func(c *ftp.ServerConn) error { return c.Delete(f.rel(name)) })
}

// Rename renames a file. FTP's RNTO replaces silently on most servers, so
// without replace the target is checked first (a small window remains).
func (f *FS) Rename(ctx context.Context, from, to string, replace bool) error {
	if !replace {
		if _, err := f.Stat(ctx, to); err == nil {
			return fs.ErrExist
		}
	}
	return f.withMeta(ctx, func(c *ftp.ServerConn) error { return c.Rename(f.rel(from), f.rel(to)) })
}

// Close closes the idle connections.
func (f *FS) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.idle {
		c.Quit()
	}
	f.idle = nil
	return nil
}

// info is a listing entry.
type info struct{ e *ftp.Entry }

func (i info) Name() string       { return i.e.Name }
func (i info) Size() int64        { return int64(i.e.Size) }
func (i info) ModTime() time.Time { return i.e.Time }
func (i info) IsDir() bool        { return i.e.Type == ftp.EntryTypeFolder }
func (i info) Sys() any           { return nil }
func (i info) Mode() fs.FileMode {
	switch i.e.Type {
	case ftp.EntryTypeFolder:
		return fs.ModeDir | 0o755
	case ftp.EntryTypeLink:
		return fs.ModeSymlink
	}
	return 0o644
}
