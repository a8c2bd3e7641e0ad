package dest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
)

// ProbeDir holds the probes of write tests.
const ProbeDir = ".dbackup"

// Probe proves d can be written, read back and cleaned: it stores a small
// random object under .dbackup/, reads it back equal and removes it.
func Probe(ctx context.Context, d Destination) error {
	b := make([]byte, 16)
	rand.Read(b)
	key := ProbeDir + "/probe-" + hex.EncodeToString(b[:6])
	if _, err := d.Put(ctx, key, bytes.NewReader(b)); err != nil {
		return fmt.Errorf("write test: %w", err)
	}
	rc, err := d.Open(ctx, key)
	if err != nil {
		d.Delete(context.WithoutCancel(ctx), key)
		return fmt.Errorf("write test: read back: %w", err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if derr := d.Delete(ctx, key); err == nil && derr != nil {
		err = fmt.Errorf("remove the probe: %w", derr)
	}
	if err != nil {
		return fmt.Errorf("write test: %w", err)
	}
	if !bytes.Equal(got, b) {
		return fmt.Errorf("write test: read back %d bytes that differ from the %d written", len(got), len(b))
	}
	return nil
}
