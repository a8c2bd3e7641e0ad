// Command destbench uploads its standard input to one destination, the way
// a backup run feeds it (blocks of 256 KiB), for `make bench`. It is not
// part of the dbackup binary. The destination's secrets come from the
// DESTBENCH_SECRETS environment variable (JSON), never from the command line.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/dbackup/dbackup/internal/backup"
	destall "github.com/dbackup/dbackup/internal/dest/all"
)

func main() {
	typ := flag.String("type", "", "destination type")
	cfg := flag.String("config", "{}", "destination config (JSON)")
	key := flag.String("key", "bench/upload.bin", "object key")
	bucket := flag.String("make-bucket", "", "create this bucket first (S3 on MinIO, root credentials from DESTBENCH_MINIO)")
	flag.Parse()
	var secrets map[string]string
	if s := os.Getenv("DESTBENCH_SECRETS"); s != "" {
		if err := json.Unmarshal([]byte(s), &secrets); err != nil {
			fail(err)
		}
	}
	if *bucket != "" {
		makeBucket(*bucket)
	}
	d, err := destall.Registry(slog.New(slog.NewTextHandler(io.Discard, nil))).New(
		&backup.Endpoint{Name: "bench", Type: *typ, Config: json.RawMessage(*cfg), Secrets: secrets})
	if err != nil {
		fail(err)
	}
	defer d.Close()
	ctx := context.Background()
	d.Delete(ctx, *key)
	start := time.Now()
	info, err := d.Put(ctx, *key, blocks{os.Stdin})
	if err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "%s: %d bytes in %.2f s\n", *typ, info.Size, time.Since(start).Seconds())
	if err := d.Delete(ctx, *key); err != nil {
		fail(err)
	}
}

// blocks hands the data on in 256 KiB writes, as the pipeline's fan-out does.
type blocks struct{ r io.Reader }

func (b blocks) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b blocks) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, 256<<10)
	var total int64
	for {
		n, err := io.ReadFull(b.r, buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "destbench:", err)
	os.Exit(1)
}

// makeBucket creates a bucket on MinIO; DESTBENCH_MINIO is
// "endpoint user password".
func makeBucket(name string) {
	f := strings.Fields(os.Getenv("DESTBENCH_MINIO"))
	if len(f) != 3 {
		fail(fmt.Errorf("DESTBENCH_MINIO must be \"host:port user password\""))
	}
	c, err := minio.New(f[0], &minio.Options{Creds: credentials.NewStaticV4(f[1], f[2], "")})
	if err != nil {
		fail(err)
	}
	if ok, _ := c.BucketExists(context.Background(), name); !ok {
		if err := c.MakeBucket(context.Background(), name, minio.MakeBucketOptions{}); err != nil {
			fail(err)
		}
	}
}
