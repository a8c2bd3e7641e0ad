package backup

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestBackupName(t *testing.T) {
	t.Parallel()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := time.Date(2026, 3, 29, 0, 30, 5, 0, time.UTC) // 01:30:05 CET in Berlin
	cases := []struct {
		tmpl, job string
		dbs       []string
		loc       *time.Location
		want      string
	}{
		{"", "Daily MySQL", nil, berlin, "Daily_MySQL_2026-03-29_01-30-05"},
		{"", "Daily MySQL", nil, time.UTC, "Daily_MySQL_2026-03-29_00-30-05"},
		{"{job_name}-{db_name}-yyyyMMdd", "prod", []string{"shop", "crm"}, time.UTC, "prod-shop_crm-20260329"},
		{"{name}_MMM_dd", "x", nil, time.UTC, "x_Mar_29"},
		// Letters in the job name are never read as date tokens.
		{"{job_name}", "yyyy MM dd HH", nil, time.UTC, "yyyy_MM_dd_HH"},
		{"", "../../etc/passwd", nil, time.UTC, "_._.._etc_passwd_2026-03-29_00-30-05"},
		{"", ".hidden", nil, time.UTC, "_hidden_2026-03-29_00-30-05"},
		{"///", "j", nil, time.UTC, "j_2026-03-29_00-30-05"},
	}
	for _, c := range cases {
		if got := BackupName(c.tmpl, c.job, c.dbs, at, c.loc); got != c.want {
			t.Errorf("BackupName(%q, %q) = %q, want %q", c.tmpl, c.job, got, c.want)
		}
	}
}

func TestSafeNameNeverEscapes(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", ".", "..", "a/b", `a\b`, "\x00", strings.Repeat("x", 500), "ünï"} {
		got := SafeName(s)
		if got == "" || got == "." || got == ".." || strings.ContainsAny(got, `/\`+"\x00") || strings.HasPrefix(got, ".") || len(got) > 120 {
			t.Errorf("SafeName(%q) = %q", s, got)
		}
	}
}

func validMeta() []byte {
	return []byte(`{"format_version":1,"job_id":"j","job_name":"n","source_type":"postgres","databases":["a"],
		"data_format":"pg_custom","data_file":"n.dump.zst","created_at":"2026-01-02T03:04:05Z",
		"compression":{"algorithm":"zstd","level":3},"size":10,"sha256":"` + strings.Repeat("ab", 32) + `","future_field":1}`)
}

func TestParseMeta(t *testing.T) {
	t.Parallel()
	if _, err := ParseMeta(validMeta()); err != nil {
		t.Fatalf("valid sidecar (with an unknown field) rejected: %v", err)
	}
	bad := map[string]string{
		`"format_version":1`:       `"format_version":3`,
		`"data_file":"n.dump.zst"`: `"data_file":"../x"`,
		`"size":10`:                `"size":-1`,
		`"algorithm":"zstd"`:       `"algorithm":"lzma"`,
		`"job_id":"j"`:             `"job_id":""`,
	}
	for from, to := range bad {
		b := strings.Replace(string(validMeta()), from, to, 1)
		if _, err := ParseMeta([]byte(b)); err == nil {
			t.Errorf("sidecar with %s accepted", to)
		}
	}
	if _, err := ParseMeta([]byte("not json")); err == nil {
		t.Error("garbage accepted")
	}
}

func TestStatusTransitions(t *testing.T) {
	t.Parallel()
	if !StatusQueued.CanTransition(StatusRunning) || !StatusRunning.CanTransition(StatusPartial) {
		t.Fatal("normal transitions refused")
	}
	if StatusSuccess.CanTransition(StatusRunning) || StatusQueued.CanTransition(StatusSuccess) || StatusFailed.CanTransition(StatusCancelled) {
		t.Fatal("impossible transition allowed")
	}
}

func FuzzParseMeta(f *testing.F) {
	f.Add(validMeta())
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMeta(b)
		if err != nil {
			return
		}
		// Whatever parses must be usable: re-encoding and parsing again
		// agrees, and the MAC authenticates under its key only.
		out, err := m.Marshal(fuzzKey)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseMeta(out)
		if err != nil {
			t.Fatalf("a parsed sidecar does not parse again: %v", err)
		}
		if err := again.Authenticate(fuzzKey); err != nil {
			t.Fatalf("a sidecar just signed does not authenticate: %v", err)
		}
		if err := again.Authenticate(otherKey); err == nil {
			t.Fatal("a sidecar authenticates under another key")
		}
		if strings.ContainsAny(m.DataFile, `/\`) {
			t.Fatalf("data_file %q with a path separator accepted", m.DataFile)
		}
	})
}

var fuzzKey, otherKey = bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)

func TestSidecarMAC(t *testing.T) {
	t.Parallel()
	m, err := ParseMeta(validMeta())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Authenticate(fuzzKey); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "carries no MAC") {
		t.Fatalf("a sidecar without MAC: %v", err)
	}
	m.Contents = Contents{"shop": {"public.orders": 60000}}
	signed, err := m.Marshal(fuzzKey)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(signed, []byte("\"\n}\n")) || !bytes.Contains(signed, []byte(`"format_version": 2`)) {
		t.Fatalf("sidecar layout:\n%s", signed)
	}
	got, err := ParseMeta(signed)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Authenticate(fuzzKey); err != nil {
		t.Fatalf("signed sidecar refused: %v", err)
	}
	if got.Contents["shop"]["public.orders"] != 60000 {
		t.Fatalf("contents lost: %v", got.Contents)
	}
	// Any change to what the MAC covers is caught, also one that keeps
	// the JSON valid and the same length.
	for _, change := range [][2]string{
		{`"size": 10`, `"size": 11`},
		{`"public.orders": 60000`, `"public.orders": 60001`},
		{`"locked": false`, `"locked": true `},
		{`"job_name": "n"`, `"job_name": "m"`},
	} {
		tampered := bytes.Replace(signed, []byte(change[0]), []byte(change[1]), 1)
		if bytes.Equal(tampered, signed) {
			t.Fatalf("%s is not in the sidecar:\n%s", change[0], signed)
		}
		m, err := ParseMeta(tampered)
		if err != nil {
			continue
		}
		if err := m.Authenticate(fuzzKey); !errors.Is(err, ErrUntrusted) {
			t.Fatalf("sidecar with %s authenticates: %v", change[1], err)
		}
	}
	// A MAC moved away from the end is refused, even if correct.
	moved := strings.Replace(string(signed), "{\n", "{\n  \"mac\": \""+got.MAC+"\",\n", 1)
	moved = moved[:strings.LastIndex(moved, ",\n  \"mac\"")] + "\n}\n"
	if m, err := ParseMeta([]byte(moved)); err != nil || m.Authenticate(fuzzKey) == nil {
		t.Fatalf("a MAC that is not the last member was accepted (%v)", err)
	}
}

// The sidecar test vectors of docs/format.md (also read by docs/decrypt.py):
// the MAC key derived from the profile key, the MAC of the authentic
// sidecar, and a refusal of the one with a digit changed.
func TestSidecarVectors(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/sidecar-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []struct {
		Name       string `json:"name"`
		ProfileKey string `json:"profile_key"`
		MacKey     string `json:"mac_key"`
		Sidecar    string `json:"sidecar"`
		Valid      bool   `json:"valid"`
	}
	if err := json.Unmarshal(b, &vectors); err != nil || len(vectors) < 2 {
		t.Fatalf("vectors: %v", err)
	}
	for _, v := range vectors {
		key, _ := hex.DecodeString(v.ProfileKey)
		mk, err := SidecarKey(key)
		if err != nil || hex.EncodeToString(mk) != v.MacKey {
			t.Fatalf("%s: MAC key %x, want %s", v.Name, mk, v.MacKey)
		}
		m, err := ParseMeta([]byte(v.Sidecar))
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		if err := m.Authenticate(mk); (err == nil) != v.Valid {
			t.Fatalf("%s: authenticate: %v, want valid=%t", v.Name, err, v.Valid)
		}
	}
}
