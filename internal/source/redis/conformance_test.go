package redis

import (
	"testing"

	"github.com/dbackup/dbackup/internal/source"
	"github.com/dbackup/dbackup/internal/source/sourcetest"
)

// A Redis backup is the whole keyspace of a server, so the suite restores
// it into a second, empty server; the fingerprint is the keyspace of the
// server a source points at.
func TestConformance(t *testing.T) {
	t.Parallel()
	const pw = "redis-conf-pw"
	for _, bin := range servers {
		t.Run(bin, func(t *testing.T) {
			t.Parallel()
			newSource := func(port int, password string) *Source {
				s, err := New(Config{Host: "127.0.0.1", Port: port, ServerBinary: bin}, password)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			sourcetest.Run(t, sourcetest.Harness{
				Source: func(t *testing.T) (source.Source, string) {
					port := serverOf(t, bin, pw, true)
					seed(t, port, pw)
					return newSource(port, pw), Name
				},
				Restorer: func(t *testing.T) source.Source { return newSource(serverOf(t, bin, pw, false), pw) },
				Target:   func(t *testing.T) string { return Name },
				Fingerprint: func(t *testing.T, s source.Source, _ string) string {
					return describe(t, s.(*Source).cfg.Port, pw)
				},
				Password:      pw,
				WrongPassword: func(t *testing.T) source.Source { return newSource(serverOf(t, bin, pw, true), "wrong") },
				Unreachable:   func(t *testing.T) source.Source { return newSource(1, "") },
			})
		})
	}
}
