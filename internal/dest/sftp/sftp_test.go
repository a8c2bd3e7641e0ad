package sftp

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/dest/desttest"
	"github.com/dbackup/dbackup/internal/testutil/srvtest"
)

func config(t testing.TB, dir string) Config {
	return Config{Host: "127.0.0.1", Port: srvtest.SFTPPort, User: srvtest.User, Path: dir,
		HostKey: srvtest.File(t, "ssh/host_ed25519.pub")}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	desttest.Run(t, func(t *testing.T) dest.Destination {
		dir := srvtest.MakeDir(t, "sftp")
		d, err := New(config(t, dir), srvtest.Password, "", "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}, desttest.Options{LargeSize: 256 << 20, ManyObjects: 1001})
}

func TestKeysAndAbsolutePath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := srvtest.MakeDir(t, "sftp-key")
	for name, secrets := range map[string][2]string{
		"plain key":     {srvtest.File(t, "ssh/client_ed25519"), ""},
		"protected key": {srvtest.File(t, "ssh/client_protected"), "key-passphrase"},
	} {
		c := config(t, srvtest.Home+"/"+dir)
		d, err := New(c, "", secrets[0], secrets[1])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		key := strings.ReplaceAll(name, " ", "-") + "/x.bin"
		if _, err := d.Put(ctx, key, bytes.NewReader([]byte("hello"))); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		d.Close()
		if b, _ := os.ReadFile(filepath.Join(srvtest.Home, dir, key)); string(b) != "hello" {
			t.Fatalf("%s: file holds %q", name, b)
		}
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	check := func(c Config, password, want string) {
		t.Helper()
		d, err := New(c, password, "", "")
		if err != nil {
			t.Fatal(err)
		}
		desttest.CheckFails(t, d, want)
	}
	c := config(t, ".")
	check(c, "wrong", "wrong password")
	unpinned := c
	unpinned.HostKey = ""
	check(unpinned, srvtest.Password, "is not pinned: the server presents ssh-ed25519 SHA256:")
	other := c
	other.HostKey = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
	check(other, srvtest.Password, "host key mismatch")
	other.HostKey = strings.TrimSpace(srvtest.File(t, "ssh/client_ed25519.pub")) // a valid key, but not the server's
	check(other, srvtest.Password, "host key mismatch")
	fp := c
	fp.HostKey = "127.0.0.1 " + strings.TrimSpace(srvtest.File(t, "ssh/host_ed25519.pub")) // known_hosts form
	if d, _ := New(fp, srvtest.Password, "", ""); d.Check(context.Background()) != nil {
		t.Errorf("known_hosts line refused: %v", d.Check(context.Background()))
	}
	down := c
	down.Port = 1
	check(down, srvtest.Password, "cannot reach")
	missing := c
	missing.Path = "no/such/dir"
	check(missing, srvtest.Password, "does not exist")
}

// A full file system on the server: the upload fails and leaves nothing.
func TestFullDestination(t *testing.T) {
	t.Parallel()
	dir := srvtest.FullDir(t, "sftp")
	d, err := New(config(t, dir), srvtest.Password, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	desttest.Full(t, d, 8<<20, "no space left on the server")
	if left, _ := os.ReadDir(filepath.Join(srvtest.Home, dir, "job")); len(left) != 0 {
		t.Fatalf("files left on the server: %v", left)
	}
}
