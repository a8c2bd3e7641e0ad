package source

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTool writes a program that prints out as its --version.
func fakeTool(t *testing.T, out string) string {
	p := filepath.Join(t.TempDir(), "tool")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho '"+out+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClientCheck(t *testing.T) {
	pg := func(out string) string {
		f := strings.Fields(out)
		return f[len(f)-1]
	}
	for _, c := range []struct {
		out, server string
		parts       int
		err, warn   string
	}{
		{"pg_dump (PostgreSQL) 15.18", "15.4", 1, "", ""},
		{"pg_dump (PostgreSQL) 14.11", "15.4", 1, "older than the server (15.4)", ""},
		{"pg_dump (PostgreSQL) 17.2", "15.4", 1, "", ""},
		{"pg_dump (PostgreSQL) 19.1", "12.9", 1, "", "much newer"},
		{"x 10.11.18", "10.11.19-MariaDB", 2, "", ""},
		{"x 10.6.2", "10.11.19-MariaDB", 2, "older than the server", ""},
		{"x 11.4.2", "10.11.19-MariaDB", 2, "", ""},
		{"x garbage", "10.11.19-MariaDB", 2, "", "could not compare"},
	} {
		cc := ClientCheck{Tool: fakeTool(t, c.out), Server: c.server, Parse: pg, Parts: c.parts, Fix: "install a newer client", MuchNewer: 3}
		warn, err := cc.Check(context.Background())
		if (c.err == "") != (err == nil) || (err != nil && (!strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "install a newer client"))) {
			t.Errorf("%s vs %s: error %v, want %q", c.out, c.server, err, c.err)
		}
		if (c.warn == "") != (warn == "") || !strings.Contains(warn, c.warn) {
			t.Errorf("%s vs %s: warning %q, want %q", c.out, c.server, warn, c.warn)
		}
	}
	// A wrapper that goes on after printing the version (a stand-in tool)
	// is read as far as the version, then stopped.
	wrapper := fakeTool(t, "pg_dump (PostgreSQL) 15.2")
	os.WriteFile(wrapper, []byte("#!/bin/sh\necho 'pg_dump (PostgreSQL) 15.2'\nexec sleep 600\n"), 0o755)
	if warn, err := (ClientCheck{Tool: wrapper, Server: "15.1", Parse: pg, Parts: 1, MuchNewer: 3}).Check(context.Background()); warn != "" || err != nil {
		t.Errorf("a wrapper that sleeps after --version: %q %v", warn, err)
	}
	if _, err := (ClientCheck{Tool: "/nonexistent/pg_dump", Fix: "apt-get install postgresql-client"}).Check(context.Background()); err == nil ||
		!strings.Contains(err.Error(), "apt-get install postgresql-client") {
		t.Errorf("a missing tool: %v", err)
	}
}
