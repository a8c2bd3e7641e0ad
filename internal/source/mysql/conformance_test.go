package mysql

import (
	"fmt"
	"testing"

	"github.com/dbackup/dbackup/internal/source"
	"github.com/dbackup/dbackup/internal/source/sourcetest"
	"github.com/dbackup/dbackup/internal/testutil/mytest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	newSource := func(user, password string, port int) *Source {
		s, err := New(Config{Host: "127.0.0.1", Port: port, User: user, SSLMode: "disable"}, password)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	sourcetest.Run(t, sourcetest.Harness{
		Source: func(t *testing.T) (source.Source, string) {
			db := mytest.NewDatabase(t, "dbackup_conf")
			mytest.SeedAwkward(t, db, 20_000)
			return newSource("dbackup_pw", "dbackup-test-pw", 3306), db
		},
		Target: func(t *testing.T) string {
			n := mytest.Name("dbackup_conf_r")
			mytest.Drop(t, n)
			return n
		},
		Fingerprint:   func(t *testing.T, _ source.Source, db string) string { return fmt.Sprint(mytest.Checksums(t, db)) },
		Password:      "dbackup-test-pw",
		WrongPassword: func(t *testing.T) source.Source { return newSource("dbackup_pw", "wrong", 3306) },
		Unreachable:   func(t *testing.T) source.Source { return newSource("root", "", 1) },
	})
}
