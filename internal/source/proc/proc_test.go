package proc

import (
	"context"
	"strings"
	"testing"
)

type countingWriter struct{ writes, bytes int }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes++
	c.bytes += len(p)
	return len(p), nil
}

// A tool that writes 4 KiB at a time (as mariadb-dump does) is read in
// far fewer, larger pieces, and every byte arrives.
func TestRunReadsSmallWritesInLargePieces(t *testing.T) {
	t.Parallel()
	var out countingWriter
	cmd := Cmd{Path: "/bin/sh", Args: []string{"-c", "dd if=/dev/zero bs=4096 count=5000 status=none"}}
	if err := Run(context.Background(), cmd, nil, &out, nil); err != nil {
		t.Fatal(err)
	}
	if out.bytes != 4096*5000 {
		t.Fatalf("%d bytes arrived, want %d", out.bytes, 4096*5000)
	}
	if out.writes > 1000 {
		t.Fatalf("the tool's 5000 writes were read in %d pieces", out.writes)
	}
}

func TestRunReportsTheToolsFailure(t *testing.T) {
	t.Parallel()
	var out countingWriter
	cmd := Cmd{Path: "/bin/sh", Args: []string{"-c", "echo partial; echo 'dump: error: lost' >&2; exit 3"}}
	err := Run(context.Background(), cmd, nil, &out, nil)
	if err == nil || !strings.Contains(err.Error(), "exited with status 3") || !strings.Contains(err.Error(), "dump: error: lost") {
		t.Fatalf("got %v", err)
	}
}
