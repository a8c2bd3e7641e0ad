// Package smb stores backups on an SMB2/3 share (Windows, Samba, most
// NAS), with NTLM authentication.
package smb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hirochachacha/go-smb2"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/dest/filedest"
	"github.com/dbackup/dbackup/internal/plugin"
)

// Type is the destination type name.
const Type = "smb"

// Config is a share and a directory in it. The password is a secret.
type Config struct {
	Host   string `json:"host"`
	Port   int    `json:"port" help:"default 445"`
	Share  string `json:"share" help:"share name, without slashes"`
	Domain string `json:"domain,omitempty"`
	User   string `json:"user"`
	// Path is the root directory inside the share.
	Path string `json:"path,omitempty" help:"root directory inside the share"`
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.Host == "" || c.Share == "" || c.User == "" {
		return fmt.Errorf("%w: host, share and user are required", backup.ErrInvalid)
	}
	if strings.ContainsAny(c.Share, `/\`) {
		return fmt.Errorf("%w: share is a share name, without slashes", backup.ErrInvalid)
	}
	if c.Port == 0 {
		c.Port = 445
	}
	return nil
}

// Factory registers SMB.
var Factory = plugin.Typed(Type, "SMB (Windows, Samba, NAS)", []string{"password"},
	func(c Config, secrets map[string]string) (dest.Destination, error) {
		return New(c, secrets["password"])
	})

// New returns the destination; it connects on first use.
func New(c Config, password string) (*filedest.Dest, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	f := &FS{cfg: c, password: password}
	return filedest.New(f, c.Path, `smb://`+f.addr()+"/"+c.Share+"/"+strings.TrimPrefix(c.Path, "/")), nil
}

// FS is one SMB session with the share mounted.
type FS struct {
	cfg      Config
	password string

	mu      sync.Mutex
	conn    net.Conn
	session *smb2.Session
	share   *smb2.Share
}

func (f *FS) addr() string { return net.JoinHostPort(f.cfg.Host, strconv.Itoa(f.cfg.Port)) }

func (f *FS) mount(ctx context.Context) (*smb2.Share, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.share != nil {
		return f.share.WithContext(ctx), nil
	}
	d := net.Dialer{Timeout: 15 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", f.addr())
	if err != nil {
		return nil, fmt.Errorf("cannot reach smb server %s: %w", f.addr(), err)
	}
	sd := &smb2.Dialer{Initiator: &smb2.NTLMInitiator{User: f.cfg.User, Password: f.password, Domain: f.cfg.Domain}}
	s, err := sd.DialContext(ctx, conn)
	if err != nil {
		conn.Close()
		if msg := strings.ToLower(err.Error()); strings.Contains(msg, "logon failure") || strings.Contains(msg, "logon is invalid") {
			return nil, fmt.Errorf("smb %s: logon failed for user %q: wrong password", f.addr(), f.cfg.User)
		}
		return nil, fmt.Errorf("smb %s: %w", f.addr(), err)
	}
	share, err := s.Mount(f.cfg.Share)
	if err != nil {
		s.Logoff()
		conn.Close()
		return nil, fmt.Errorf("smb %s: share %q: %w", f.addr(), f.cfg.Share, err)
	}
	f.conn, f.session, f.share = conn, s, share
	return share.WithContext(ctx), nil
}

// do runs op on the share and drops a session that broke.
func (f *FS) do(ctx context.Context, op func(s *smb2.Share) error) error {
	s, err := f.mount(ctx)
	if err != nil {
		return err
	}
	err = op(s)
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		f.Close()
	}
	return err
}

// p maps a destination path onto the share (relative, backslashes are
// added by the library).
func p(name string) string {
	if name = strings.TrimPrefix(name, "/"); name == "" {
		return "."
	}
	return name
}

// Ping mounts the share.
func (f *FS) Ping(ctx context.Context) error {
	return f.do(ctx, func(*smb2.Share) error { return nil })
}

// MkdirAll creates a directory and its parents.
func (f *FS) MkdirAll(ctx context.Context, dir string) error {
	return f.do(ctx, func(s *smb2.Share) error { return s.MkdirAll(p(dir), 0o755) })
}

// Create creates a new file.
func (f *FS) Create(ctx context.Context, name string) (io.WriteCloser, error) {
	var w io.WriteCloser
	err := f.do(ctx, func(s *smb2.Share) error {
		file, err := s.OpenFile(p(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		w = newParallelFile(file)
		return nil
	})
	return w, err
}

// parallelFile keeps several 1 MiB writes in flight (the largest request
// go-smb2 sends), so that the upload is not one round trip per megabyte.
type parallelFile struct {
	f    *smb2.File
	buf  []byte
	off  int64
	sem  chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	err  error
	pool sync.Pool
}

const (
	chunk    = 1 << 20
	inFlight = 16
)

func newParallelFile(f *smb2.File) *parallelFile {
	p := &parallelFile{f: f, sem: make(chan struct{}, inFlight)}
	p.pool.New = func() any { return make([]byte, 0, chunk) }
	p.buf = p.pool.Get().([]byte)
	return p
}

func (p *parallelFile) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *parallelFile) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		if err := p.failed(); err != nil {
			return n - len(b), err
		}
		k := copy(p.buf[len(p.buf):chunk], b)
		p.buf = p.buf[:len(p.buf)+k]
		b = b[k:]
		if len(p.buf) == chunk {
			p.send()
		}
	}
	return n, nil
}

// send writes the buffer at its offset in the background.
func (p *parallelFile) send() {
	data, off := p.buf, p.off
	p.off += int64(len(data))
	p.buf = p.pool.Get().([]byte)[:0]
	p.sem <- struct{}{}
	p.wg.Add(1)
	go func() {
		defer func() { <-p.sem; p.wg.Done(); p.pool.Put(data[:0]) }()
		if _, err := p.f.WriteAt(data, off); err != nil {
			if strings.Contains(err.Error(), "DISK_FULL") || strings.Contains(err.Error(), "disk was full") {
				err = fmt.Errorf("no space left on the share: %w", err)
			}
			p.mu.Lock()
			if p.err == nil {
				p.err = err
			}
			p.mu.Unlock()
		}
	}()
}

// Close writes the rest, waits for every write and closes the file.
func (p *parallelFile) Close() error {
	if len(p.buf) > 0 && p.failed() == nil {
		p.send()
	}
	p.wg.Wait()
	err := p.failed()
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Open opens a file for reading.
func (f *FS) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	var rc io.ReadCloser
	err := f.do(ctx, func(s *smb2.Share) error {
		file, err := s.Open(p(name))
		rc = file
		return err
	})
	return rc, err
}

// Stat describes a file.
func (f *FS) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	var fi fs.FileInfo
	err := f.do(ctx, func(s *smb2.Share) error {
		var err error
		fi, err = s.Stat(p(name))
		return err
	})
	return fi, err
}

// ReadDir lists a directory.
func (f *FS) ReadDir(ctx context.Context, dir string) ([]fs.FileInfo, error) {
	var out []fs.FileInfo
	err := f.do(ctx, func(s *smb2.Share) error {
		var err error
		out, err = s.ReadDir(p(dir))
		return err
	})
	return out, err
}

// Remove deletes a file.
func (f *FS) Remove(ctx context.Context, name string) error {
	return f.do(ctx, func(s *smb2.Share) error { return s.Remove(p(name)) })
}

// Rename moves a file; SMB refuses an existing target, so a replace
// removes the old file first (a crash between the two leaves only the new
// file under its temporary name).
func (f *FS) Rename(ctx context.Context, from, to string, replace bool) error {
	return f.do(ctx, func(s *smb2.Share) error {
		if _, err := s.Stat(p(to)); err == nil {
			if !replace {
				return fs.ErrExist
			}
			if err := s.Remove(p(to)); err != nil {
				return err
			}
		}
		return s.Rename(p(from), p(to))
	})
}

// Close logs off.
func (f *FS) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.share != nil {
		f.share.Umount()
		f.session.Logoff()
		f.conn.Close()
		f.share, f.session, f.conn = nil, nil, nil
	}
	return nil
}
