package smb

import (
	"testing"

	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/dest/desttest"
	"github.com/dbackup/dbackup/internal/testutil/srvtest"
)

func config(dir string) Config {
	return Config{Host: "127.0.0.1", Port: srvtest.SMBPort, Share: srvtest.SMBShare, User: srvtest.User, Path: dir}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	desttest.Run(t, func(t *testing.T) dest.Destination {
		d, err := New(config(srvtest.MakeDir(t, "smb")), srvtest.Password)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}, desttest.Options{LargeSize: 256 << 20, ManyObjects: 1001})
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	noShare := config(".")
	noShare.Share = "nope"
	for want, c := range map[string]struct {
		cfg Config
		pw  string
	}{
		"wrong password": {config("."), "wrong"},
		"cannot reach":   {Config{Host: "127.0.0.1", Port: 1, Share: "s", User: "x"}, srvtest.Password},
		"does not exist": {config("no/such/dir"), srvtest.Password},
		`share "nope"`:   {noShare, srvtest.Password},
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
	d, err := New(config(srvtest.FullDir(t, "smb")), srvtest.Password)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	desttest.Full(t, d, 8<<20, "no space left on the share")
}
