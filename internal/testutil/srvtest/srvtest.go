// Package srvtest names the storage servers scripts/services.sh starts on
// loopback for the destination tests, and the account they share.
package srvtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/user"
	"strconv"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// The shared account and where its files are.
const (
	User     = "dbackup-store"
	Password = "dbackup-test-pw"
	Home     = "/srv/dbackup-test/home"
	// Full is a 2 MiB file system under Home, for full-destination tests
	// (see FullDir).
	Full = "full"
	etc  = "/srv/dbackup-test/etc"

	SFTPPort = 2222
)

// Dir returns a fresh directory name (relative to Home) for one test.
func Dir(prefix string) string {
	b := make([]byte, 5)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// File reads a file of the servers' configuration (keys), failing the
// test with a hint when the servers were not set up.
func File(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(etc + "/" + name)
	if err != nil {
		t.Fatalf("%v (run `make services`)", err)
	}
	return string(b)
}

// MakeDir creates a fresh directory under Home owned by User, removed at
// cleanup, and returns its name relative to Home.
func MakeDir(t testing.TB, prefix string) string {
	t.Helper()
	return makeDir(t, Dir(prefix))
}

// FullDir is MakeDir on the 2 MiB file system.
func FullDir(t testing.TB, prefix string) string {
	t.Helper()
	return makeDir(t, Full+"/"+Dir(prefix))
}

func makeDir(t testing.TB, dir string) string {
	u, err := user.Lookup(User)
	if err != nil {
		t.Fatalf("%v (run `make services`)", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	p := Home + "/" + dir
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(p, uid, gid)
	t.Cleanup(func() { os.RemoveAll(p) })
	return dir
}

// WebDAVURL is the nginx WebDAV server whose root is Home.
const WebDAVURL = "http://127.0.0.1:8081/"

// FTPPort is vsftpd's (plain FTP and explicit TLS on one port).
const FTPPort = 2121

// SMBPort and SMBShare are Samba's; the share's root is Home.
const (
	SMBPort  = 4450
	SMBShare = "backups"
)

// The MinIO server (a real S3 implementation) and its root credentials.
const (
	MinIOEndpoint = "http://127.0.0.1:9100"
	// MinIOFullEndpoint is a second MinIO on a 32 MiB file system.
	MinIOFullEndpoint = "http://127.0.0.1:9102"
	MinIOUser         = "dbackup-minio"
	MinIOPassword     = "dbackup-minio-secret"
)

// MinIOBucket creates a fresh bucket on MinIO, emptied and removed at
// cleanup.
func MinIOBucket(t testing.TB) string {
	t.Helper()
	return bucketOn(t, MinIOEndpoint)
}

// MinIOFullBucket is MinIOBucket on the MinIO that fills up.
func MinIOFullBucket(t testing.TB) string {
	t.Helper()
	return bucketOn(t, MinIOFullEndpoint)
}

func bucketOn(t testing.TB, endpoint string) string {
	host := strings.TrimPrefix(endpoint, "http://")
	c, err := minio.New(host, &minio.Options{Creds: credentials.NewStaticV4(MinIOUser, MinIOPassword, "")})
	if err != nil {
		t.Fatal(err)
	}
	name := strings.ToLower(Dir("dbackup"))
	ctx := context.Background()
	if err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket on MinIO (run `make services`): %v", err)
	}
	t.Cleanup(func() {
		for o := range c.ListObjects(ctx, name, minio.ListObjectsOptions{Recursive: true}) {
			c.RemoveObject(ctx, name, o.Key, minio.RemoveObjectOptions{})
		}
		c.RemoveBucket(ctx, name)
	})
	return name
}
