package backup

import (
	"regexp"
	"strings"
)

// explanations turn the raw errors of drivers and the network into the
// one sentence a person needs; the raw text stays as the details.
var explanations = []struct {
	re   *regexp.Regexp
	tmpl func(m []string) string
}{
	{regexp.MustCompile(`dial tcp (\S+): connect: connection refused`), func(m []string) string { return "Nothing is listening on " + m[1] }},
	{regexp.MustCompile(`lookup (\S+?)(?: on \S+)?: no such host`), func(m []string) string { return "Host " + m[1] + " not found" }},
	{regexp.MustCompile(`dial tcp (\S+): (?:i/o timeout|connect: connection timed out)`), func(m []string) string { return "No answer from " + m[1] + " in time" }},
	{regexp.MustCompile(`cannot reach (\w+) at (\S+): .*(?:invalid body length|failed to receive message|unexpected message|malformed packet|invalid packet)`),
		func(m []string) string { return "Something answered at " + m[2] + " but it is not " + engineName(m[1]) }},
	{regexp.MustCompile(`tls: first record does not look like a TLS handshake`), func([]string) string { return "The server does not speak TLS there: turn TLS off or use its TLS port" }},
	{regexp.MustCompile(`dial tcp (\S+): connect: no route to host`), func(m []string) string { return "No route to " + m[1] }},
	{regexp.MustCompile(`^(?:interrupted: )?context canceled$`), func([]string) string { return "Cancelled" }},
}

func engineName(t string) string {
	switch t {
	case "postgres":
		return "PostgreSQL"
	case "mysql":
		return "MySQL or MariaDB"
	case "redis":
		return "Redis"
	case "mongodb":
		return "MongoDB"
	}
	return t
}

// Explain is the first sentence to show for an error's text, or "" when
// the text is already the best there is.
func Explain(text string) string {
	for _, e := range explanations {
		if m := e.re.FindStringSubmatch(text); m != nil {
			s := e.tmpl(m)
			if strings.Contains(text, s) {
				return ""
			}
			return s
		}
	}
	return ""
}
