package crypt

import (
	"os/exec"
	"strings"
	"testing"
)

// The spec in docs/format.md is complete when a decryptor written from it
// alone, in another language, reads what this package writes.
func TestIndependentPythonDecryptorReadsVectors(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("/usr/bin/python3", "../../../docs/decrypt.py", "--vectors", "testdata/vectors.json").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "all vectors ok") {
		t.Fatalf("docs/decrypt.py on the vectors: %v\n%s", err, out)
	}
}
