// Package sftp stores backups on an SSH server over SFTP. The server's host
// key must be pinned: an unpinned or changed key is refused, and the error
// shows the key's fingerprint so that the user can pin it after checking it.
package sftp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/dest/filedest"
	"github.com/dbackup/dbackup/internal/plugin"
)

// Type is the destination type name.
const Type = "sftp"

// Config is an SFTP server and a directory on it. The password, the
// private key and its passphrase are secrets.
type Config struct {
	Host string `json:"host"`
	Port int    `json:"port" help:"default 22"`
	User string `json:"user"`
	// Path is the root directory (absolute, or relative to the login
	// directory).
	Path string `json:"path" help:"root directory (absolute, or relative to the login directory)"`
	// HostKey pins the server: a known_hosts or authorized_keys line
	// ("ssh-ed25519 AAAA…") or a fingerprint ("SHA256:…").
	HostKey string `json:"host_key" help:"pins the server: a known_hosts or authorized_keys line, or SHA256:… (leave empty once: the error shows the server's key)"`
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.Host == "" || c.User == "" {
		return fmt.Errorf("%w: host and user are required", backup.ErrInvalid)
	}
	if c.Port == 0 {
		c.Port = 22
	}
	if c.Path == "" {
		c.Path = "."
	}
	return nil
}

// Factory registers SFTP.
var Factory = plugin.Typed(Type, "SFTP", []string{"password", "private_key", "passphrase"},
	func(c Config, secrets map[string]string) (dest.Destination, error) {
		return New(c, secrets["password"], secrets["private_key"], secrets["passphrase"])
	})

// New returns the destination; it connects on first use.
func New(c Config, password, privateKey, passphrase string) (*filedest.Dest, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	auth := []ssh.AuthMethod{}
	if privateKey != "" {
		var signer ssh.Signer
		var err error
		if passphrase != "" {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(privateKey), []byte(passphrase))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(privateKey))
		}
		if err != nil {
			return nil, fmt.Errorf("%w: private key: %v", backup.ErrInvalid, err)
		}
		auth = append(auth, ssh.PublicKeys(signer))
	}
	if password != "" {
		auth = append(auth, ssh.Password(password))
	}
	if len(auth) == 0 {
		return nil, fmt.Errorf("%w: a password or a private key is required", backup.ErrInvalid)
	}
	pin, err := parsePin(c.HostKey)
	if err != nil {
		return nil, err
	}
	f := &FS{cfg: c, auth: auth, pin: pin}
	return filedest.New(f, c.Path, "sftp://"+c.User+"@"+f.addr()+"/"+strings.TrimPrefix(c.Path, "/")), nil
}

// pin is a pinned host key: its fingerprint, or the whole key.
type pin struct {
	fingerprint string
	key         []byte
}

func parsePin(s string) (pin, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return pin{}, nil
	case strings.HasPrefix(s, "SHA256:"):
		return pin{fingerprint: s}, nil
	}
	// A known_hosts line starts with host names; an authorized_keys line with the type.
	if _, _, key, _, _, err := ssh.ParseKnownHosts([]byte(s)); err == nil {
		return pin{key: key.Marshal(), fingerprint: ssh.FingerprintSHA256(key)}, nil
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		return pin{}, fmt.Errorf("%w: host_key is neither a fingerprint (SHA256:…) nor a public key line: %v", backup.ErrInvalid, err)
	}
	return pin{key: key.Marshal(), fingerprint: ssh.FingerprintSHA256(key)}, nil
}

// check is the host key callback: only the pinned key passes.
func (p pin) check(addr string) ssh.HostKeyCallback {
	return func(_ string, _ net.Addr, key ssh.PublicKey) error {
		fp := ssh.FingerprintSHA256(key)
		switch {
		case p.fingerprint == "":
			return fmt.Errorf("the host key of %s is not pinned: the server presents %s %s; check it and set host_key to accept it", addr, key.Type(), fp)
		case p.key != nil && bytes.Equal(p.key, key.Marshal()), p.key == nil && fp == p.fingerprint:
			return nil
		}
		return fmt.Errorf("host key mismatch for %s: the server presents %s %s, but %s is pinned; refusing to connect (the server was reinstalled, or someone is in between)", addr, key.Type(), fp, p.fingerprint)
	}
}

// FS is one SFTP connection, opened on first use and again after it broke.
type FS struct {
	cfg  Config
	auth []ssh.AuthMethod
	pin  pin

	mu     sync.Mutex
	conn   *ssh.Client
	client *sftp.Client
}

func (f *FS) addr() string { return net.JoinHostPort(f.cfg.Host, strconv.Itoa(f.cfg.Port)) }

func (f *FS) sftp(ctx context.Context) (*sftp.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.client != nil {
		return f.client, nil
	}
	d := net.Dialer{Timeout: 15 * time.Second}
	raw, err := d.DialContext(ctx, "tcp", f.addr())
	if err != nil {
		return nil, fmt.Errorf("cannot reach sftp server %s: %w", f.addr(), err)
	}
	cc, chans, reqs, err := ssh.NewClientConn(raw, f.addr(), &ssh.ClientConfig{
		User: f.cfg.User, Auth: f.auth, HostKeyCallback: f.pin.check(f.addr()), Timeout: 15 * time.Second,
	})
	if err != nil {
		raw.Close()
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, fmt.Errorf("sftp %s: authentication failed for user %q: wrong password or key", f.addr(), f.cfg.User)
		}
		return nil, fmt.Errorf("sftp %s: %w", f.addr(), err)
	}
	conn := ssh.NewClient(cc, chans, reqs)
	// OpenSSH's sftp-server takes packets up to 256 KiB; 128 KiB ones run
	// about 30 % faster than the 32 KiB every server must accept.
	packet := sftp.MaxPacket(32 << 10)
	if strings.Contains(string(conn.ServerVersion()), "OpenSSH") {
		packet = sftp.MaxPacketUnchecked(128 << 10)
	}
	client, err := sftp.NewClient(conn, sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(true), sftp.MaxConcurrentRequestsPerFile(requestsInFlight), packet)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("sftp %s: start the sftp subsystem: %w", f.addr(), err)
	}
	f.conn, f.client = conn, client
	return client, nil
}

// do runs op on the connection and drops a connection that broke, so the
// next call reconnects.
func (f *FS) do(ctx context.Context, op func(c *sftp.Client) error) error {
	c, err := f.sftp(ctx)
	if err != nil {
		return err
	}
	err = op(c)
	if errors.Is(err, sftp.ErrSSHFxConnectionLost) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		f.Close()
	}
	return mapErr(err)
}

func mapErr(err error) error {
	var se *sftp.StatusError
	if errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxNoSuchFile {
		return fmt.Errorf("%w: %v", fs.ErrNotExist, err)
	}
	return err
}

// Ping connects and authenticates.
func (f *FS) Ping(ctx context.Context) error {
	return f.do(ctx, func(c *sftp.Client) error { _, err := c.Getwd(); return err })
}

// MkdirAll creates a directory and its parents.
func (f *FS) MkdirAll(ctx context.Context, dir string) error {
	return f.do(ctx, func(c *sftp.Client) error { return c.MkdirAll(f.rel(dir)) })
}

// rel maps the destination's absolute paths onto the configured root:
// a relative root is relative to the login directory.
func (f *FS) rel(p string) string {
	if strings.HasPrefix(f.cfg.Path, "/") {
		return p
	}
	if p = strings.TrimPrefix(p, "/"); p == "" {
		return "."
	}
	return p
}

// Create creates a new file for writing, with concurrent writes.
func (f *FS) Create(ctx context.Context, name string) (io.WriteCloser, error) {
	var w io.WriteCloser
	err := f.do(ctx, func(c *sftp.Client) error {
		file, err := c.OpenFile(f.rel(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		w = concurrentFile{file, c, f.rel(name)}
		return err
	})
	return w, err
}

// concurrentFile keeps many write requests in flight whatever the reader,
// and says when a write failed because the server's disk is full.
type concurrentFile struct {
	*sftp.File
	c    *sftp.Client
	name string
}

// requestsInFlight bounds the memory of a file's upload or read-back: 32
// requests of up to 128 KiB.
const requestsInFlight = 32

func (c concurrentFile) ReadFrom(r io.Reader) (int64, error) {
	n, err := c.File.ReadFromWithConcurrency(r, 0)
	return n, c.explain(err)
}

func (c concurrentFile) Write(p []byte) (int, error) {
	n, err := c.File.Write(p)
	return n, c.explain(err)
}

// explain turns OpenSSH's generic failure into "full" when the file
// system it writes to has no room left (statvfs@openssh.com).
func (c concurrentFile) explain(err error) error {
	var se *sftp.StatusError
	if !errors.As(err, &se) || se.FxCode() != sftp.ErrSSHFxFailure {
		return err
	}
	if st, serr := c.c.StatVFS(path.Dir(c.name)); serr == nil && st.FreeSpace() < 1<<20 {
		return fmt.Errorf("no space left on the server (%d bytes free): %w", st.FreeSpace(), err)
	}
	return err
}

// Open opens a file for reading.
func (f *FS) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	var rc io.ReadCloser
	err := f.do(ctx, func(c *sftp.Client) error {
		file, err := c.Open(f.rel(name))
		rc = file
		return err
	})
	return rc, err
}

// Stat describes a file.
func (f *FS) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	var fi fs.FileInfo
	err := f.do(ctx, func(c *sftp.Client) error {
		var err error
		fi, err = c.Stat(f.rel(name))
		return err
	})
	return fi, err
}

// ReadDir lists a directory.
func (f *FS) ReadDir(ctx context.Context, dir string) ([]fs.FileInfo, error) {
	var out []fs.FileInfo
	err := f.do(ctx, func(c *sftp.Client) error {
		var err error
		out, err = c.ReadDirContext(ctx, f.rel(dir))
		return err
	})
	return out, err
}

// Remove removes a file.
func (f *FS) Remove(ctx context.Context, name string) error {
	return f.do(ctx, func(c *sftp.Client) error { return c.Remove(f.rel(name)) })
}

// Rename moves a file into place. Without replace it hard-links (which
// fails if the target exists: no window where a backup could be
// overwritten) and removes the temporary name; with replace it uses the
// POSIX rename extension, which swaps atomically.
func (f *FS) Rename(ctx context.Context, from, to string, replace bool) error {
	return f.do(ctx, func(c *sftp.Client) error {
		if replace {
			return c.PosixRename(f.rel(from), f.rel(to))
		}
		if err := c.Link(f.rel(from), f.rel(to)); err != nil {
			if _, serr := c.Stat(f.rel(to)); serr == nil {
				return fs.ErrExist
			}
			return err
		}
		return c.Remove(f.rel(from))
	})
}

// Close closes the connection.
func (f *FS) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.client != nil {
		f.client.Close()
		f.conn.Close()
		f.client, f.conn = nil, nil
	}
	return nil
}
