package backup

import (
	"os/exec"
	"strings"
	"testing"
)

// The sidecar's MAC is specified completely when the independent decryptor
// in docs/, written from docs/format.md alone, checks the vectors.
func TestIndependentPythonChecksSidecarVectors(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("/usr/bin/python3", "../../docs/decrypt.py", "--sidecar-vectors", "testdata/sidecar-vectors.json").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "all sidecar vectors ok") {
		t.Fatalf("docs/decrypt.py on the sidecar vectors: %v\n%s", err, out)
	}
}
