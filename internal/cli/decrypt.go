package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/catalog"
	"github.com/dbackup/dbackup/internal/pipeline"
	"github.com/dbackup/dbackup/internal/pipeline/crypt"
	"github.com/dbackup/dbackup/internal/secret"
)

func decryptCommands() []command {
	return []command{{name: "decrypt", args: "(-key-file F | -key-stdin) [-decompress auto|none|gzip|zstd|brotli] [-sidecar F | -no-sidecar] [-out FILE] [BACKUP]",
		summary: "turn an encrypted backup into the plain dump with only its key: no server, no database", run: decryptRun}}
}

// decryptRun needs nothing but the backup and the key.
func decryptRun(_ context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("dbackup decrypt", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	keyFile := fs.String("key-file", "", "file holding the key as 64 hex digits (see `dbackup profile export-key`)")
	keyStdin := fs.Bool("key-stdin", false, "read the key (64 hex digits) from the first line of stdin")
	decompress := fs.String("decompress", "auto", "auto (from the file name), none, gzip, zstd or brotli")
	out := fs.String("out", "", "output file, written under a temporary name and renamed only when complete; default stdout")
	sidecarFile := fs.String("sidecar", "", "the backup's sidecar (default: BACKUP.meta.json when it exists): its MAC is checked with the key, and the backup against its size and SHA-256")
	noSidecar := fs.Bool("no-sidecar", false, "do not look for the sidecar")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 1 || (*keyFile == "") == !*keyStdin {
		return fmt.Errorf("%w: give exactly one of -key-file and -key-stdin, and at most one backup file", errUsage)
	}
	var key []byte
	var err error
	in := e.stdin
	if *keyStdin {
		br := bufio.NewReader(e.stdin)
		line, rerr := br.ReadString('\n')
		if rerr != nil && line == "" {
			return fmt.Errorf("reading the key from stdin: %w", rerr)
		}
		if key, err = secret.ParseKey(line); err != nil {
			return err
		}
		in = br
	} else if key, err = readKeyFile(*keyFile); err != nil {
		return err
	}
	name := ""
	if fs.NArg() == 1 {
		name = fs.Arg(0)
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	} else if *keyStdin {
		return fmt.Errorf("%w: with -key-stdin the backup must be a file argument", errUsage)
	}
	if !*noSidecar {
		if *sidecarFile == "" && name != "" {
			if _, err := os.Stat(name + backup.MetaSuffix); err == nil {
				*sidecarFile = name + backup.MetaSuffix
			}
		}
		if *sidecarFile == "" {
			fmt.Fprintln(e.stderr, "no sidecar: only the container's own authentication is checked")
		} else {
			m, err := readSidecar(*sidecarFile, key)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "sidecar authenticated: job %s, %s, created %s, %d bytes, SHA-256 %s\n", m.JobName, m.SourceType, m.CreatedAt.Format(time.RFC3339), m.Size, m.SHA256)
			in = catalog.Checked(in, m)
		}
	}
	alg, err := compressionFor(*decompress, name)
	if err != nil {
		return err
	}
	plain, err := pipeline.Open(in, pipeline.OpenOptions{Compression: alg, Key: key, Encrypted: true})
	if err != nil {
		return err
	}
	defer plain.Close()
	if *out == "" {
		if _, err := io.Copy(e.stdout, plain); err != nil {
			return fmt.Errorf("%w (discard the output written so far)", err)
		}
		return nil
	}
	return writeAtomically(*out, plain)
}

// readSidecar reads a sidecar and checks its MAC under the key.
func readSidecar(path string, key []byte) (*backup.Meta, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := backup.ParseMeta(b)
	if err != nil {
		return nil, err
	}
	if m.Encryption == nil {
		return nil, fmt.Errorf("sidecar %s: the backup is not encrypted; its MAC is under the server's instance key, which this command does not have (use -no-sidecar)", path)
	}
	if id := crypt.KeyID(key); id != m.Encryption.KeyID {
		return nil, fmt.Errorf("%w: the backup needs key %s, this key is %s", crypt.ErrWrongKey, m.Encryption.KeyID, id)
	}
	macKey, err := backup.SidecarKey(key)
	if err != nil {
		return nil, err
	}
	if err := m.Authenticate(macKey); err != nil {
		return nil, fmt.Errorf("sidecar %s: %w (use -no-sidecar to decrypt with the container's own authentication only)", path, err)
	}
	return m, nil
}

// compressionFor resolves -decompress; auto reads the suffix before .enc.
func compressionFor(flagValue, name string) (backup.Compression, error) {
	if flagValue != "auto" {
		c := backup.Compression(flagValue)
		return c, c.Validate(0)
	}
	base := strings.TrimSuffix(name, ".enc")
	for _, c := range []backup.Compression{backup.CompressionGzip, backup.CompressionZstd, backup.CompressionBrotli} {
		if strings.HasSuffix(base, c.Ext()) {
			return c, nil
		}
	}
	return backup.CompressionNone, nil
}

// writeAtomically writes r to path only if all of it could be read.
func writeAtomically(path string, r io.Reader) error {
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".partial-"+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("nothing written to %s: %w", path, err)
	}
	return nil
}
