package backup

import (
	"fmt"
	"strings"
	"time"
	"unicode"
)

// DefaultNamingTemplate names a backup after its job and the local start time.
const DefaultNamingTemplate = "{job_name}_yyyy-MM-dd_HH-mm-ss"

// dateTokens are replaced longest first, before the {…} placeholders, so
// letters inside job or database names are never read as date tokens.
var dateTokens = []struct{ token, layout string }{
	{"MMMM", "January"}, {"MMM", "Jan"}, {"yyyy", "2006"}, {"MM", "01"},
	{"dd", "02"}, {"HH", "15"}, {"mm", "04"}, {"ss", "05"},
}

// SafeName maps a name to a string that is safe as one path segment on every
// storage: letters, digits, '-', '_' and '.' are kept, anything else becomes
// '_', and a leading dot is replaced so the result is never hidden or "..".
func SafeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := b.String()
	if strings.HasPrefix(out, ".") {
		out = "_" + out[1:]
	}
	if out == "" {
		out = "_"
	}
	if len(out) > 120 {
		out = out[:120]
	}
	return out
}

// BackupName renders a naming template for one backup, without extension.
// Tokens: {job_name} (also {name}), {db_name}, and the date tokens yyyy MM
// MMM MMMM dd HH mm ss formatted in loc. The result is always a safe name.
func BackupName(template, jobName string, dbs []string, at time.Time, loc *time.Location) string {
	if template == "" {
		template = DefaultNamingTemplate
	}
	if loc == nil {
		loc = time.UTC
	}
	t := at.In(loc)
	// Protect placeholders from date-token replacement.
	s := strings.NewReplacer("{job_name}", "\x00J", "{name}", "\x00J", "{db_name}", "\x00D").Replace(template)
	for _, d := range dateTokens {
		s = strings.ReplaceAll(s, d.token, t.Format(d.layout))
	}
	db := "all"
	if len(dbs) > 0 {
		db = strings.Join(dbs, "_")
	}
	s = strings.NewReplacer("\x00J", SafeName(jobName), "\x00D", SafeName(db)).Replace(s)
	s = SafeName(s)
	if strings.Trim(s, "_") == "" {
		return BackupName(DefaultNamingTemplate, jobName, dbs, at, loc)
	}
	return s
}

// HumanBytes renders a byte count for people: "12.0 MiB".
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// MaxNameBytes bounds the names people give things (jobs, endpoints,
// users, profiles, templates).
const MaxNameBytes = 128

// CheckName refuses an empty name, one longer than MaxNameBytes, or one
// with control characters (NUL, newlines): names show in logs and pages.
// (Folders and files are named after a name made safe: see SafeName.)
func CheckName(what, name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return fmt.Errorf("%w: %s is required", ErrInvalid, what)
	case len(name) > MaxNameBytes:
		return fmt.Errorf("%w: %s is %d bytes long, at most %d", ErrInvalid, what, len(name), MaxNameBytes)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: %s cannot contain control characters (%q)", ErrInvalid, what, r)
		}
	}
	return nil
}

// CheckNamingTemplate refuses a naming template that is too long, holds
// control characters or path separators, or has no time token (two
// backups would share a name).
func CheckNamingTemplate(t string) error {
	switch {
	case t == "":
		return nil
	case len(t) > 200:
		return fmt.Errorf("%w: naming template: at most 200 characters", ErrInvalid)
	case strings.ContainsAny(t, "/\\") || strings.Contains(t, ".."):
		return fmt.Errorf("%w: naming template: no path separators and no \"..\": a backup is named, not placed", ErrInvalid)
	case !strings.Contains(t, "HH") && !strings.Contains(t, "mm") && !strings.Contains(t, "ss"):
		return fmt.Errorf("%w: naming template: must contain a time (HH, mm or ss) so that two backups never share a name", ErrInvalid)
	}
	for _, r := range t {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: naming template: no control characters", ErrInvalid)
		}
	}
	return nil
}
