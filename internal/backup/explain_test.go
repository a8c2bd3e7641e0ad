package backup

import "testing"

func TestExplain(t *testing.T) {
	for raw, want := range map[string]string{
		"cannot reach postgres at 127.0.0.1:1: failed to connect to `user=postgres database=postgres`: 127.0.0.1:1 (127.0.0.1): dial error: dial tcp 127.0.0.1:1: connect: connection refused":                                           "Nothing is listening on 127.0.0.1:1",
		"cannot reach postgres at db.example.invalid:5432: failed to connect to `user=postgres database=postgres`: hostname resolving error: lookup db.example.invalid on 10.255.255.53:53: no such host":                                "Host db.example.invalid not found",
		"cannot reach postgres at 127.0.0.1:45379: failed to connect to `user=postgres database=postgres`: 127.0.0.1:45379 (127.0.0.1): failed to receive message: invalid body length: expected at most 1073741822, but got 1414811691": "Something answered at 127.0.0.1:45379 but it is not PostgreSQL",
		"interrupted: context canceled":                                                           "Cancelled",
		`postgres 127.0.0.1:5432: role "nobody" does not exist (SQLSTATE 28000)`:                  "",
		"Nothing is listening on 127.0.0.1:1 (dial tcp 127.0.0.1:1: connect: connection refused)": "",
	} {
		if got := Explain(raw); got != want {
			t.Errorf("Explain(%q) = %q, want %q", raw, got, want)
		}
	}
}
