package auth

import "fmt"

// Role is what a user or API key may do.
type Role string

// The roles, each allowed everything the one below it is.
const (
	Admin    Role = "admin"    // everything, including users, keys and settings
	Operator Role = "operator" // run, cancel, restore, browse backups
	Viewer   Role = "viewer"   // read only
)

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case Admin, Operator, Viewer:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (want admin, operator or viewer)", s)
}

// Permission is what one route needs.
type Permission string

// The permissions, as the API and the UI check them.
const (
	Public       Permission = "public"        // no login: health, login, first-start setup
	Read         Permission = "read"          // see jobs, endpoints, executions, settings
	ReadBackups  Permission = "backups.read"  // list and verify backups
	Run          Permission = "jobs.run"      // run, cancel, enable/disable
	Restore      Permission = "restore"       // restore a backup
	Configure    Permission = "configure"     // create/update/delete endpoints, jobs, policies, profiles
	ManageBackup Permission = "backups.write" // lock, unlock, delete backups, apply retention
	Administer   Permission = "admin"         // users, API keys, settings, audit log, secrets
)

var grants = map[Role][]Permission{
	Viewer:   {Read, ReadBackups},
	Operator: {Read, ReadBackups, Run, Restore},
	Admin:    {Read, ReadBackups, Run, Restore, Configure, ManageBackup, Administer},
}

// Allows reports whether role r holds permission p.
func (r Role) Allows(p Permission) bool {
	if p == Public {
		return true
	}
	for _, g := range grants[r] {
		if g == p {
			return true
		}
	}
	return false
}
