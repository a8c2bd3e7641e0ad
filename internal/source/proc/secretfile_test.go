package proc

import (
	"os"
	"strings"
	"testing"
)

func TestSecretFileIsPrivateAndRemoved(t *testing.T) {
	t.Parallel()
	for _, fail := range []bool{false, true} {
		var path string
		err := WithSecretFile("dbackup-test-*.cnf", "password=secret-pw\n", func(p string) error {
			path = p
			st, err := os.Stat(p)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("option file %s: %v %v", p, st, err)
			}
			if b, _ := os.ReadFile(p); !strings.Contains(string(b), "secret-pw") {
				t.Fatal("option file lacks the password")
			}
			if fail {
				return os.ErrDeadlineExceeded
			}
			return nil
		})
		if (err != nil) != fail {
			t.Fatalf("fail=%v: %v", fail, err)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("option file left after the command (fail=%v)", fail)
		}
	}
}
