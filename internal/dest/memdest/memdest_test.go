package memdest

import (
	"testing"

	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/dest/desttest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	desttest.Run(t, func(t *testing.T) dest.Destination { return New() }, desttest.Options{LargeSize: 8 << 20})
}
