package s3

import (
	"net/http/httptest"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/dest/desttest"
)

// The same suite against the in-process gofakes3: fast, and a second S3
// implementation with its own quirks (it reports no checksums, so
// verification falls back to reading back; it does not decode aws-chunked
// bodies, which is why uploads sign their payload's SHA-256 directly).
func TestConformanceFake(t *testing.T) {
	t.Parallel()
	desttest.Run(t, func(t *testing.T) dest.Destination {
		backend := s3mem.New()
		srv := httptest.NewServer(gofakes3.New(backend).Server())
		t.Cleanup(srv.Close)
		if err := backend.CreateBucket("fake"); err != nil {
			t.Fatal(err)
		}
		d, err := New(Config{Endpoint: srv.URL, PathStyle: true, Bucket: "fake", Prefix: "pre", AccessKeyID: "k"}, "s")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}, desttest.Options{LargeSize: 64 << 20, ManyObjects: 1001})
}
