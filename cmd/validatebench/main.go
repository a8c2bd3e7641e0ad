// Command validatebench measures what streaming dump validation costs, for
// `make bench`: for each dump file given (FORMAT=PATH, e.g.
// pg_custom=/var/tmp/x.dump), it runs the backup pipeline (zstd, the default level +
// AES-256-GCM, one consumer that discards) over the file with and without
// the format's validator, alternating, and the validator alone. It is not
// part of the dbackup binary.
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/pipeline"
	"github.com/dbackup/dbackup/internal/source"
	sourceall "github.com/dbackup/dbackup/internal/source/all"
)

func main() {
	reps := flag.Int("n", 3, "runs of each, the median is reported")
	flag.Parse()
	validators := sourceall.Validators()
	key := make([]byte, 32)
	rand.Read(key)
	fmt.Println("| dump | size (MiB) | validator alone (MB/s) | pipeline without validation (s) | with validation (s) | cost |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, arg := range flag.Args() {
		format, path, ok := strings.Cut(arg, "=")
		v := validators[format]
		if !ok || v == nil {
			fail(fmt.Errorf("%q: want FORMAT=PATH with a known format", arg))
		}
		st, err := os.Stat(path)
		if err != nil {
			fail(err)
		}
		plan := source.Plan{Databases: []string{"bench"}, Format: format}
		var alone, without, with []time.Duration
		for range *reps {
			alone = append(alone, timed(func() error {
				f, err := os.Open(path)
				if err != nil {
					return err
				}
				defer f.Close()
				_, err = validators.Validate(plan, f)
				return err
			}))
			without = append(without, timed(func() error { return run(path, key, nil) }))
			with = append(with, timed(func() error {
				return run(path, key, func(r io.Reader) error { _, err := validators.Validate(plan, r); return err })
			}))
		}
		a, wo, w := median(alone), median(without), median(with)
		fmt.Printf("| %s | %d | %.0f | %.2f | %.2f | %+.1f %% |\n", format, st.Size()>>20, float64(st.Size())/a.Seconds()/1e6,
			wo.Seconds(), w.Seconds(), 100*(w.Seconds()-wo.Seconds())/wo.Seconds())
	}
}

// run streams the file through the pipeline into a consumer that discards.
func run(path string, key []byte, validate func(io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dump := func(_ context.Context, w io.Writer) error {
		_, err := io.CopyBuffer(w, onlyReader{f}, make([]byte, 256<<10))
		return err
	}
	opts := pipeline.Options{Compression: backup.CompressionZstd, Key: key, Validate: validate}
	_, errs, err := pipeline.Run(context.Background(), dump, opts, nil, func(r io.Reader) error {
		_, err := io.Copy(io.Discard, r)
		return err
	})
	if err == nil {
		err = errs[0]
	}
	return err
}

type onlyReader struct{ io.Reader }

func timed(fn func() error) time.Duration {
	start := time.Now()
	if err := fn(); err != nil {
		fail(err)
	}
	return time.Since(start)
}

func median(d []time.Duration) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2]
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "validatebench:", err)
	os.Exit(1)
}
