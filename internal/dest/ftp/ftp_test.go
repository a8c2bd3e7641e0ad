package ftp

import (
	"testing"

	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/dest/desttest"
	"github.com/dbackup/dbackup/internal/testutil/srvtest"
)

func config(dir, tls string) Config {
	return Config{Host: "127.0.0.1", Port: srvtest.FTPPort, User: srvtest.User, Path: dir, TLS: tls, InsecureSkipVerify: true}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	for _, tls := range []string{"explicit", "none"} {
		t.Run(tls, func(t *testing.T) {
			t.Parallel()
			size := int64(256 << 20)
			if tls == "none" {
				size = 32 << 20
			}
			desttest.Run(t, func(t *testing.T) dest.Destination {
				d, err := New(config(srvtest.MakeDir(t, "ftp"), tls), srvtest.Password)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { d.Close() })
				return d
			}, desttest.Options{LargeSize: size, ManyObjects: 1001})
		})
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	for want, c := range map[string]struct {
		cfg Config
		pw  string
	}{
		"wrong password": {config(".", "explicit"), "wrong"},
		"cannot reach":   {Config{Host: "127.0.0.1", Port: 1, User: "x"}, srvtest.Password},
		"does not exist": {config("no/such/dir", "explicit"), srvtest.Password},
		"certificate":    {Config{Host: "127.0.0.1", Port: srvtest.FTPPort, User: srvtest.User}, srvtest.Password},
	} {
		d, err := New(c.cfg, c.pw)
		if err != nil {
			t.Fatal(err)
		}
		desttest.CheckFails(t, d, want)
	}
}

func TestFullDestination(t *testing.T) {
	t.Parallel()
	d, err := New(config(srvtest.FullDir(t, "ftp"), "explicit"), srvtest.Password)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	desttest.Full(t, d, 8<<20, "no space left on the ftp server")
}
