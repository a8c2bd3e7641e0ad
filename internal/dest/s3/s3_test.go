package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/dest/desttest"
	"github.com/dbackup/dbackup/internal/testutil/srvtest"
)

func minioConfig(bucket, prefix string) Config {
	return Config{Preset: "minio", Endpoint: srvtest.MinIOEndpoint, Bucket: bucket, Prefix: prefix, AccessKeyID: srvtest.MinIOUser}
}

func newBucket(t *testing.T) string { return srvtest.MinIOBucket(t) }

func TestConformanceMinIO(t *testing.T) {
	t.Parallel()
	desttest.Run(t, func(t *testing.T) dest.Destination {
		d, err := New(minioConfig(newBucket(t), "backups/prod"), srvtest.MinIOPassword)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}, desttest.Options{LargeSize: 256 << 20, ManyObjects: 1001})
}

// The provider's checksum proves an upload without downloading it, and
// catches an object that is not what was sent.
func TestVerifyUploadByProviderChecksum(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := New(minioConfig(newBucket(t), "p"), srvtest.MinIOPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{0, 1, 5 << 20, 20<<20 + 3} { // single PUT and multipart
		data := make([]byte, size)
		rand.Read(data)
		key := fmt.Sprintf("j/%d.bin", size)
		pr, pw := io.Pipe()
		go func() { pw.Write(data); pw.Close() }()
		if _, err := d.Put(ctx, key, pr); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		method, err := d.VerifyUpload(ctx, key, int64(size), hex.EncodeToString(sum[:]))
		if err != nil || method != "provider-sha256" {
			t.Fatalf("%d bytes: %q %v", size, method, err)
		}
		if _, err := d.VerifyUpload(ctx, key, int64(size), strings.Repeat("0", 64)); err == nil {
			t.Fatalf("%d bytes: a wrong expected hash verified", size)
		}
	}
	// Someone replaces the object behind our back: the checksum differs.
	d.Put(ctx, "j/swap.bin", bytes.NewReader(make([]byte, 10<<20)))
	d.core.PutObject(ctx, d.cfg.Bucket, "p/j/swap.bin", bytes.NewReader(make([]byte, 10<<20+1)), 10<<20+1, "", "", minio.PutObjectOptions{})
	zero := sha256.Sum256(make([]byte, 10<<20))
	if _, err := d.VerifyUpload(ctx, "j/swap.bin", 10<<20, hex.EncodeToString(zero[:])); err == nil {
		t.Fatal("a replaced object verified")
	}
	if _, err := d.VerifyUpload(ctx, "j/never.bin", 1, ""); !errors.Is(err, dest.ErrNoChecksum) {
		t.Fatalf("verify of a key this process did not upload: %v", err)
	}
}

func TestPartSizesStayUnderTheLimit(t *testing.T) {
	t.Parallel()
	var total int64
	for n := 1; n <= maxParts; n++ {
		s := partSize(n)
		if s < 5<<20 || s > maxPart {
			t.Fatalf("part %d: %d bytes", n, s)
		}
		total += int64(s)
	}
	if total < 8e12 { // about 8 TB
		t.Fatalf("10,000 parts hold only %d bytes", total)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	bucket := newBucket(t)
	for want, c := range map[string]struct {
		cfg    Config
		secret string
	}{
		"or its secret is wrong":                   {minioConfig(bucket, ""), "wrong-secret"},
		`bucket "no-such-bucket-x" does not exist`: {minioConfig("no-such-bucket-x", ""), srvtest.MinIOPassword},
		"cannot reach":                             {Config{Endpoint: "http://127.0.0.1:1", Bucket: bucket, AccessKeyID: "k"}, "s"},
	} {
		d, err := New(c.cfg, c.secret)
		if err != nil {
			t.Fatal(err)
		}
		desttest.CheckFails(t, d, want)
	}
	for _, bad := range []Config{{Bucket: "b", AccessKeyID: "k"}, {Preset: "r2", Bucket: "b", AccessKeyID: "k"}, {Preset: "gcs", Bucket: "b", AccessKeyID: "k"}} {
		if _, err := New(bad, "s"); err == nil {
			t.Errorf("config %+v accepted", bad)
		}
	}
}

// A full server: the upload fails saying so, and its multipart upload is
// aborted (nothing lists, nothing is left to abort). MinIO reports its full
// drive either as an out-of-space error or, sometimes on a fresh drive, by
// losing the upload (NoSuchUpload: 1 run in 4, then 1 in 16, measured); both
// messages must say what the user should look at.
func TestFullDestination(t *testing.T) {
	t.Parallel()
	c := minioConfig(srvtest.MinIOFullBucket(t), "")
	c.Endpoint = srvtest.MinIOFullEndpoint
	d, err := New(c, srvtest.MinIOPassword)
	if err != nil {
		t.Fatal(err)
	}
	desttest.Full(t, d, 64<<20, "no space left")
	if n, err := d.AbortUploads(context.Background(), "job/too-big.bin"); err != nil || n != 0 {
		t.Fatalf("%d multipart uploads left to abort (%v)", n, err)
	}
}

// The answer a full MinIO sometimes gives instead of an out-of-space error
// (see TestFullDestination, which meets it only now and then) still says
// what to look at.
func TestLostUploadExplained(t *testing.T) {
	b, err := New(minioConfig("b", ""), srvtest.MinIOPassword)
	if err != nil {
		t.Fatal(err)
	}
	got := b.explain(minio.ErrorResponse{Code: "NoSuchUpload", StatusCode: 404}, "job/x.bin").Error()
	for _, want := range []string{"dropped the unfinished upload of job/x.bin", "no space left", "lifecycle rule"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
}
