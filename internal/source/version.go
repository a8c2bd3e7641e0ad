package source

import (
	"fmt"
	"strconv"
	"strings"
)

// Major returns the leading number of a version such as "15.20" or
// "10.11.19-MariaDB", and false when there is none.
func Major(v string) (int, bool) {
	head, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(head)
	return n, err == nil
}

// CheckRestoreVersion refuses restoring a backup made by a newer major
// version than the target server, which usually fails halfway; force
// overrides it. Unknown versions pass.
func CheckRestoreVersion(backupVersion, targetVersion string, force bool) error {
	b, okB := Major(backupVersion)
	t, okT := Major(targetVersion)
	if !okB || !okT || b <= t || force {
		return nil
	}
	return fmt.Errorf("the backup comes from version %s, newer than the target's %s: a restore would likely fail halfway; restore to a server of version %d or newer, or force it", backupVersion, targetVersion, b)
}
