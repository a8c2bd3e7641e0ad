package webdav

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/dest/desttest"
	"github.com/dbackup/dbackup/internal/testutil/srvtest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	desttest.Run(t, func(t *testing.T) dest.Destination {
		d, err := New(Config{URL: srvtest.WebDAVURL, User: srvtest.User, Path: srvtest.MakeDir(t, "dav")}, srvtest.Password)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}, desttest.Options{LargeSize: 256 << 20, ManyObjects: 1001})
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	for want, c := range map[string]struct {
		cfg Config
		pw  string
	}{
		"wrong user or password": {Config{URL: srvtest.WebDAVURL, User: srvtest.User}, "wrong"},
		"cannot reach":           {Config{URL: "http://127.0.0.1:1/", User: srvtest.User}, srvtest.Password},
		"does not exist":         {Config{URL: srvtest.WebDAVURL, User: srvtest.User, Path: "no/such/dir"}, srvtest.Password},
	} {
		d, err := New(c.cfg, c.pw)
		if err != nil {
			t.Fatal(err)
		}
		desttest.CheckFails(t, d, want)
	}
	if _, err := New(Config{URL: "http://u:p@127.0.0.1/"}, ""); err == nil {
		t.Error("a password in the URL was accepted")
	}
}

func TestFullDestination(t *testing.T) {
	t.Parallel()
	dir := srvtest.FullDir(t, "dav")
	d, err := New(Config{URL: srvtest.WebDAVURL, User: srvtest.User, Path: dir}, srvtest.Password)
	if err != nil {
		t.Fatal(err)
	}
	desttest.Full(t, d, 8<<20, "could not store the file")
	// nginx leaves its own partial copy ("<temporary name>.0000000042")
	// when it cannot copy an upload across file systems, and hides dot
	// files from PROPFIND, so neither dbackup nor a user sees it. Nothing
	// else may be left.
	entries, _ := os.ReadDir(filepath.Join(srvtest.Home, dir, "job"))
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), dest.TempPrefix) {
			t.Errorf("left on the server: %s", e.Name())
		}
	}
}
