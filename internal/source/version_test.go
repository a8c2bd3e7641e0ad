package source

import "testing"

func TestCheckRestoreVersion(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		backup, target string
		force, ok      bool
	}{
		{"15.20", "15.4", false, true},
		{"14.1", "16.0", false, true},
		{"16.2", "15.20", false, false},
		{"16.2", "15.20", true, true},
		{"11.4.2-MariaDB", "10.11.19-MariaDB", false, false},
		{"10.11.19-MariaDB", "10.11.19-MariaDB", false, true},
		{"unknown", "15", false, true},
	} {
		err := CheckRestoreVersion(c.backup, c.target, c.force)
		if (err == nil) != c.ok {
			t.Errorf("%s onto %s (force %v): %v", c.backup, c.target, c.force, err)
		}
	}
}
