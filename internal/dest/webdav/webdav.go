// Package webdav stores backups on a WebDAV server (Nextcloud, ownCloud,
// nginx, Apache) with basic authentication. Uploads stream as a chunked
// PUT to a temporary name and are moved into place with MOVE.
package webdav

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/dest/filedest"
	"github.com/dbackup/dbackup/internal/plugin"
)

// Type is the destination type name.
const Type = "webdav"

// Config is a WebDAV collection. The password is a secret.
type Config struct {
	// URL is the server's base, e.g.
	// https://cloud.example.com/remote.php/dav/files/alice/
	URL  string `json:"url" help:"the server's base, e.g. https://cloud.example.com/remote.php/dav/files/alice/"`
	User string `json:"user,omitempty"`
	// Path is the root directory below URL.
	Path string `json:"path,omitempty" help:"root directory below the URL"`
	// InsecureSkipVerify accepts any TLS certificate (self-signed NAS).
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty" help:"accept any TLS certificate (self-signed NAS)"`
}

// Factory registers WebDAV.
var Factory = plugin.Typed(Type, "WebDAV (Nextcloud, ownCloud…)", []string{"password"},
	func(c Config, secrets map[string]string) (dest.Destination, error) {
		return New(c, secrets["password"])
	})

// New returns the destination.
func New(c Config, password string) (*filedest.Dest, error) {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: url must be an http(s) URL", backup.ErrInvalid)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: put the user in user and the password in the secret, not in the URL", backup.ErrInvalid)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 60 * time.Second
	if c.InsecureSkipVerify {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	f := &FS{base: u, user: c.User, password: password, hc: &http.Client{Transport: tr}}
	return filedest.New(f, c.Path, "webdav "+u.Redacted()+"/"+strings.TrimPrefix(c.Path, "/")), nil
}

// FS speaks WebDAV over HTTP.
type FS struct {
	base           *url.URL
	user, password string
	hc             *http.Client
}

func (f *FS) url(p string) string {
	u := *f.base
	u.Path = f.base.Path + p
	return u.String()
}

func (f *FS) do(ctx context.Context, method, p string, body io.Reader, hdr map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, f.url(p), body)
	if err != nil {
		return nil, err
	}
	if f.user != "" || f.password != "" {
		req.SetBasicAuth(f.user, f.password)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if body != nil && body != http.NoBody {
		req.ContentLength = -1
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach webdav server %s: %w", f.base.Host, err)
	}
	return resp, nil
}

// status turns a failed response into an error (and closes it).
func (f *FS) status(resp *http.Response, op, p string, ok ...int) error {
	defer resp.Body.Close()
	for _, c := range ok {
		if resp.StatusCode == c {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			return nil
		}
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%s %s: %s: wrong user or password, or no access", op, p, resp.Status)
	case http.StatusNotFound:
		return fmt.Errorf("%s %s: %w", op, p, fs.ErrNotExist)
	case http.StatusPreconditionFailed:
		return fmt.Errorf("%s %s: %w", op, p, fs.ErrExist)
	case http.StatusInsufficientStorage, http.StatusRequestEntityTooLarge:
		return fmt.Errorf("%s %s: %s: no space left on the webdav server", op, p, resp.Status)
	case http.StatusInternalServerError:
		if op == http.MethodPut {
			return fmt.Errorf("%s %s: %s: the server could not store the file (is it out of space?)", op, p, resp.Status)
		}
	}
	return fmt.Errorf("%s %s: %s", op, p, resp.Status)
}

// Ping authenticates with a PROPFIND of the base collection.
func (f *FS) Ping(ctx context.Context) error {
	_, err := f.propfind(ctx, "/", "0")
	return err
}

// MkdirAll creates each missing collection on the way to dir.
func (f *FS) MkdirAll(ctx context.Context, dir string) error {
	cur := ""
	for _, seg := range strings.Split(strings.Trim(dir, "/"), "/") {
		if seg == "" {
			continue
		}
		cur += "/" + seg
		resp, err := f.do(ctx, "MKCOL", escape(cur)+"/", nil, nil)
		if err != nil {
			return err
		}
		// 405: it exists already.
		if err := f.status(resp, "MKCOL", cur, http.StatusCreated, http.StatusMethodNotAllowed); err != nil {
			return err
		}
	}
	return nil
}

func escape(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// Create starts a chunked PUT fed by the returned writer.
func (f *FS) Create(ctx context.Context, name string) (io.WriteCloser, error) {
	return filedest.NewPipeUpload(func(body io.Reader, _ func() int64) error {
		resp, err := f.do(ctx, http.MethodPut, escape(name), body, nil)
		if err != nil {
			return err
		}
		return f.status(resp, "PUT", name, http.StatusCreated, http.StatusNoContent, http.StatusOK)
	}), nil
}

// Open GETs a file.
func (f *FS) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	resp, err := f.do(ctx, http.MethodGet, escape(name), nil, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, f.status(resp, "GET", name)
	}
	return resp.Body, nil
}

// OpenRange GETs part of a file with a Range header.
func (f *FS) OpenRange(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if length == 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	resp, err := f.do(ctx, http.MethodGet, escape(name), nil, map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", offset, offset+length-1)})
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		return resp.Body, nil
	case http.StatusOK: // the server ignored the range
		return dest.SeekRange(resp.Body, offset, length)
	}
	return nil, f.status(resp, "GET", name)
}

// Stat is a PROPFIND of depth 0.
func (f *FS) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	fis, err := f.propfind(ctx, name, "0")
	if err != nil {
		return nil, err
	}
	if len(fis) == 0 {
		return nil, fmt.Errorf("PROPFIND %s: empty answer", name)
	}
	return fis[0], nil
}

// ReadDir is a PROPFIND of depth 1, without the directory itself.
func (f *FS) ReadDir(ctx context.Context, dir string) ([]fs.FileInfo, error) {
	fis, err := f.propfind(ctx, strings.TrimRight(dir, "/")+"/", "1")
	if err != nil {
		return nil, err
	}
	want := strings.Trim(dir, "/")
	out := fis[:0]
	for _, fi := range fis {
		if fi.(info).full != want {
			out = append(out, fi)
		}
	}
	return out, nil
}

// Remove DELETEs a file.
func (f *FS) Remove(ctx context.Context, name string) error {
	resp, err := f.do(ctx, http.MethodDelete, escape(name), nil, nil)
	if err != nil {
		return err
	}
	return f.status(resp, "DELETE", name, http.StatusNoContent, http.StatusOK)
}

// Rename MOVEs a file; Overwrite: F makes the server refuse an existing
// target.
func (f *FS) Rename(ctx context.Context, from, to string, replace bool) error {
	ow := "F"
	if replace {
		ow = "T"
	}
	resp, err := f.do(ctx, "MOVE", escape(from), nil, map[string]string{"Destination": f.url(escape(to)), "Overwrite": ow})
	if err != nil {
		return err
	}
	return f.status(resp, "MOVE", from, http.StatusCreated, http.StatusNoContent)
}

// Close releases idle connections.
func (f *FS) Close() error {
	f.hc.CloseIdleConnections()
	return nil
}

const propfindBody = `<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/><d:getcontentlength/><d:getlastmodified/></d:prop></d:propfind>`

type multistatus struct {
	Responses []struct {
		Href     string `xml:"href"`
		Propstat []struct {
			Status string `xml:"status"`
			Prop   struct {
				Type struct {
					Collection *struct{} `xml:"collection"`
				} `xml:"resourcetype"`
				Length   string `xml:"getcontentlength"`
				Modified string `xml:"getlastmodified"`
			} `xml:"prop"`
		} `xml:"propstat"`
	} `xml:"response"`
}

func (f *FS) propfind(ctx context.Context, p, depth string) ([]fs.FileInfo, error) {
	resp, err := f.do(ctx, "PROPFIND", escape(p), strings.NewReader(propfindBody),
		map[string]string{"Depth": depth, "Content-Type": "application/xml"})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusMultiStatus {
		return nil, f.status(resp, "PROPFIND", p)
	}
	defer resp.Body.Close()
	var ms multistatus
	if err := xml.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(&ms); err != nil {
		return nil, fmt.Errorf("PROPFIND %s: %w", p, err)
	}
	var out []fs.FileInfo
	for _, r := range ms.Responses {
		href := r.Href
		if u, err := url.Parse(href); err == nil {
			href = u.Path // absolute URLs and escaped paths alike
		}
		full := strings.Trim(strings.TrimPrefix(href, f.base.Path), "/")
		fi := info{full: full, name: path.Base("/" + full)}
		for _, ps := range r.Propstat {
			if !strings.Contains(ps.Status, " 200 ") {
				continue
			}
			fi.dir = fi.dir || ps.Prop.Type.Collection != nil
			if ps.Prop.Length != "" {
				fi.size, _ = strconv.ParseInt(ps.Prop.Length, 10, 64)
			}
			if t, err := http.ParseTime(ps.Prop.Modified); err == nil {
				fi.mod = t
			}
		}
		out = append(out, fi)
	}
	return out, nil
}

// info is one PROPFIND entry.
type info struct {
	full, name string
	size       int64
	mod        time.Time
	dir        bool
}

func (i info) Name() string       { return i.name }
func (i info) Size() int64        { return i.size }
func (i info) ModTime() time.Time { return i.mod }
func (i info) IsDir() bool        { return i.dir }
func (i info) Sys() any           { return nil }
func (i info) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
