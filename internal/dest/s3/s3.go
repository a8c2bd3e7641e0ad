// Package s3 stores backups in S3-compatible object storage: AWS,
// Cloudflare R2, Backblaze B2, Hetzner, Wasabi, MinIO or any other.
//
// An upload of unknown length streams as a multipart upload whose parts
// grow (5 MiB, S3's least, for the first 900, then doubling every 900), so a
// multi-terabyte dump stays under the 10,000-part limit while memory stays
// at two parts. Each part carries its SHA-256, which the provider checks on
// arrival; the provider's checksum of the whole object then proves, without
// downloading it, that it holds exactly the bytes sent. An upload is
// completed only when the stream ended cleanly and aborted otherwise, and
// it never replaces an existing object (If-None-Match where the provider
// honours it, a check before otherwise).
package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/dest"
	"github.com/dbackup/dbackup/internal/plugin"
)

// Type is the destination type name.
const Type = "s3"

// Config is a bucket and a prefix in it. The secret access key is a
// secret.
type Config struct {
	// Preset fills the endpoint: aws, r2, b2, hetzner, wasabi, minio or
	// generic (the default: give endpoint).
	Preset string `json:"preset,omitempty" choices:"|aws|r2|b2|hetzner|wasabi|minio|generic" help:"fills the endpoint (generic: give the endpoint)"`
	// Endpoint is host[:port] or an http(s) URL; http:// turns TLS off.
	Endpoint     string `json:"endpoint,omitempty" help:"host[:port] or an http(s) URL; http:// turns TLS off"`
	Region       string `json:"region,omitempty"`
	AccountID    string `json:"account_id,omitempty" help:"Cloudflare R2 only"` // Cloudflare R2
	Bucket       string `json:"bucket"`
	Prefix       string `json:"prefix,omitempty" help:"folder inside the bucket"`
	AccessKeyID  string `json:"access_key_id"`
	PathStyle    bool   `json:"path_style,omitempty" help:"bucket in the path, not the host name (MinIO, some NAS)"`
	StorageClass string `json:"storage_class,omitempty"`
}

// Validate applies the preset and checks the configuration.
func (c *Config) Validate() error {
	if c.Bucket == "" || c.AccessKeyID == "" {
		return fmt.Errorf("%w: bucket and access_key_id are required", backup.ErrInvalid)
	}
	need := func(what string) error {
		return fmt.Errorf("%w: preset %s needs %s", backup.ErrInvalid, c.Preset, what)
	}
	switch c.Preset {
	case "aws":
		if c.Region == "" {
			c.Region = "us-east-1"
		}
		c.Endpoint = "s3." + c.Region + ".amazonaws.com"
	case "r2":
		if c.AccountID == "" {
			return need("account_id")
		}
		c.Endpoint, c.Region = c.AccountID+".r2.cloudflarestorage.com", "auto"
	case "b2":
		if c.Region == "" {
			return need("region (e.g. us-west-004)")
		}
		c.Endpoint = "s3." + c.Region + ".backblazeb2.com"
	case "hetzner":
		if c.Region == "" {
			return need("region (fsn1, nbg1 or hel1)")
		}
		c.Endpoint = c.Region + ".your-objectstorage.com"
	case "wasabi":
		if c.Region == "" {
			c.Region = "us-east-1"
		}
		c.Endpoint = "s3." + c.Region + ".wasabisys.com"
	case "minio":
		c.PathStyle = true
		fallthrough
	case "", "generic":
		if c.Endpoint == "" {
			return fmt.Errorf("%w: endpoint is required", backup.ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: preset %q (want aws, r2, b2, hetzner, wasabi, minio or generic)", backup.ErrInvalid, c.Preset)
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	c.Prefix = strings.Trim(c.Prefix, "/")
	return nil
}

// Factory registers S3.
var Factory = plugin.Typed(Type, "S3-compatible (AWS, R2, B2, Hetzner, Wasabi, MinIO…)", []string{"secret_access_key"},
	func(c Config, secrets map[string]string) (dest.Destination, error) {
		return New(c, secrets["secret_access_key"])
	})

// Bucket is a destination in one bucket.
type Bucket struct {
	cfg  Config
	core minio.Core
	name string

	mu   sync.Mutex
	sent map[string]sent // what the last Put of each key sent, for VerifyUpload
}

// sent is what an upload sent: its size, its SHA-256, and the checksum the
// provider must report for it.
type sent struct {
	size     int64
	sha256   string
	checksum string
}

var (
	_ dest.Destination      = (*Bucket)(nil)
	_ dest.UploadAborter    = (*Bucket)(nil)
	_ dest.ChecksumVerifier = (*Bucket)(nil)
	_ dest.RangeOpener      = (*Bucket)(nil)
)

// New returns the destination.
func New(c Config, secretKey string) (*Bucket, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	host, secure := c.Endpoint, true
	if u, err := url.Parse(c.Endpoint); err == nil && u.Scheme != "" {
		host, secure = u.Host, u.Scheme == "https"
	}
	lookup := minio.BucketLookupAuto
	if c.PathStyle {
		lookup = minio.BucketLookupPath
	}
	cl, err := minio.New(host, &minio.Options{Creds: credentials.NewStaticV4(c.AccessKeyID, secretKey, ""), Secure: secure,
		Region: c.Region, BucketLookup: lookup})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", backup.ErrInvalid, err)
	}
	return &Bucket{cfg: c, core: minio.Core{Client: cl}, name: "s3://" + c.Bucket + "/" + c.Prefix, sent: map[string]sent{}}, nil
}

func (b *Bucket) object(key string) (string, string, error) {
	k, err := dest.CleanKey(key)
	if err != nil {
		return "", "", err
	}
	if b.cfg.Prefix == "" {
		return k, k, nil
	}
	return k, b.cfg.Prefix + "/" + k, nil
}

// explain turns S3 errors into what the user must fix.
func (b *Bucket) explain(err error, key string) error {
	if err == nil {
		return nil
	}
	r := minio.ToErrorResponse(err)
	switch r.Code {
	case "NoSuchKey":
		return fmt.Errorf("%w: %s", dest.ErrNotFound, key)
	case "NoSuchBucket":
		return fmt.Errorf("%s: bucket %q does not exist", b.name, b.cfg.Bucket)
	case "InvalidAccessKeyId", "SignatureDoesNotMatch":
		return fmt.Errorf("%s: access key %q or its secret is wrong (%s)", b.name, b.cfg.AccessKeyID, r.Code)
	case "AccessDenied":
		return fmt.Errorf("%s: access denied: %s", b.name, r.Message)
	case "PreconditionFailed":
		return fmt.Errorf("%w: %s", dest.ErrExists, key)
	case "XMinioStorageFull", "EntityTooLarge", "QuotaExceeded", "XMinioAdminBucketQuotaExceeded":
		return fmt.Errorf("%s: no space left: %s", b.name, r.Message)
	case "NoSuchUpload":
		// Only while dbackup holds the upload. A MinIO whose drive fills
		// during a part sometimes answers this instead of running out of
		// space (1 run in 4, then 1 in 16, on a fresh 32 MiB drive).
		return fmt.Errorf("%s: the server dropped the unfinished upload of %s (NoSuchUpload): "+
			"MinIO answers this when its drive has no space left; elsewhere a lifecycle rule or another client aborted it", b.name, key)
	}
	if r.StatusCode == 0 && r.Code == "" {
		return fmt.Errorf("cannot reach %s at %s: %w", b.name, b.cfg.Endpoint, err)
	}
	return fmt.Errorf("%s: %w", b.name, err)
}

// Check lists one key of the bucket: it proves the endpoint, the
// credentials and the bucket, and writes nothing.
func (b *Bucket) Check(ctx context.Context) error {
	_, err := b.core.ListObjectsV2(b.cfg.Bucket, b.cfg.Prefix, "", "", "", 1)
	return b.explain(err, "")
}

// Part sizes: S3 allows 10,000 parts of 5 MiB to 5 GiB.
const (
	firstPart = 5 << 20 // two in memory: the one sent, the one filled
	doubleAt  = 900     // parts between doublings
	maxPart   = 5 << 30
	maxParts  = 10000
)

// partSize grows with the part number so that 10,000 parts hold about 10 TB.
func partSize(n int) int {
	s := firstPart << ((n - 1) / doubleAt)
	return min(s, maxPart)
}

// Put streams r as one object; see the package comment.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader) (dest.ObjectInfo, error) {
	return b.put(ctx, key, r, false)
}

// Replace overwrites an existing object (S3 swaps objects atomically).
func (b *Bucket) Replace(ctx context.Context, key string, r io.Reader) (dest.ObjectInfo, error) {
	return b.put(ctx, key, r, true)
}

func (b *Bucket) put(ctx context.Context, key string, r io.Reader, replace bool) (dest.ObjectInfo, error) {
	k, obj, err := b.object(key)
	if err != nil {
		return dest.ObjectInfo{}, err
	}
	opts := minio.PutObjectOptions{StorageClass: b.cfg.StorageClass, UserMetadata: map[string]string{}}
	if !replace {
		if _, err := b.core.StatObject(ctx, b.cfg.Bucket, obj, minio.StatObjectOptions{}); err == nil {
			return dest.ObjectInfo{}, fmt.Errorf("%w: %s", dest.ErrExists, k)
		}
		opts.SetMatchETagExcept("*")
	}
	r = dest.WithContext(ctx, r)
	whole := sha256.New()
	// The first part decides: a stream that ends within it is one PUT.
	buf := make([]byte, partSize(1))
	n, err := io.ReadFull(r, buf)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return dest.ObjectInfo{}, err
	}
	if err != nil {
		return b.putSingle(ctx, k, obj, buf[:n], whole, opts)
	}
	return b.putMultipart(ctx, k, obj, buf, r, whole, opts)
}

func (b *Bucket) putSingle(ctx context.Context, k, obj string, data []byte, whole hash.Hash, opts minio.PutObjectOptions) (dest.ObjectInfo, error) {
	sum := sha256.Sum256(data)
	whole.Write(data)
	opts.UserMetadata["x-amz-checksum-sha256"] = base64.StdEncoding.EncodeToString(sum[:])
	// The payload's SHA-256 is given: no streaming (aws-chunked) signature,
	// which some servers refuse for small or empty bodies.
	opts.DisableContentSha256 = true
	info, err := b.core.PutObject(ctx, b.cfg.Bucket, obj, bytes.NewReader(data), int64(len(data)), "", hex.EncodeToString(sum[:]), opts)
	if err != nil {
		return dest.ObjectInfo{}, b.explain(err, k)
	}
	b.remember(k, sent{size: int64(len(data)), sha256: hex.EncodeToString(whole.Sum(nil)), checksum: base64.StdEncoding.EncodeToString(sum[:])})
	return dest.ObjectInfo{Key: k, Size: int64(len(data)), ModTime: info.LastModified}, nil
}

// putMultipart uploads part after part; the next part is read while the
// previous one is sent.
func (b *Bucket) putMultipart(ctx context.Context, k, obj string, first []byte, r io.Reader, whole hash.Hash, opts minio.PutObjectOptions) (dest.ObjectInfo, error) {
	create := minio.PutObjectOptions{StorageClass: opts.StorageClass, UserMetadata: map[string]string{"x-amz-checksum-algorithm": "SHA256"}}
	id, err := b.core.NewMultipartUpload(ctx, b.cfg.Bucket, obj, create)
	if err != nil {
		return dest.ObjectInfo{}, b.explain(err, k)
	}
	type result struct {
		part minio.CompletePart
		sum  []byte
		err  error
	}
	var (
		parts   []minio.CompletePart
		sums    []byte // the parts' SHA-256s, concatenated
		size    int64
		pending chan result
		spare   []byte
	)
	wait := func() error { // for the part in flight
		if pending == nil {
			return nil
		}
		res := <-pending
		pending = nil
		if res.err != nil {
			return b.explain(res.err, k)
		}
		parts = append(parts, res.part)
		sums = append(sums, res.sum...)
		return nil
	}
	abort := func(err error) (dest.ObjectInfo, error) {
		wait()
		b.core.AbortMultipartUpload(context.WithoutCancel(ctx), b.cfg.Bucket, obj, id)
		return dest.ObjectInfo{}, err
	}
	cur := first
	for num := 1; len(cur) > 0; num++ {
		if num > maxParts {
			return abort(fmt.Errorf("%s: %s is larger than S3's 10,000 parts allow", b.name, k))
		}
		whole.Write(cur)
		size += int64(len(cur))
		if err := wait(); err != nil {
			return abort(err)
		}
		pending = make(chan result, 1)
		go func(num int, data []byte) {
			sum := sha256.Sum256(data)
			b64 := base64.StdEncoding.EncodeToString(sum[:])
			p, err := b.core.PutObjectPart(ctx, b.cfg.Bucket, obj, id, num, bytes.NewReader(data), int64(len(data)),
				minio.PutObjectPartOptions{Sha256Hex: hex.EncodeToString(sum[:]), DisableContentSha256: true,
					CustomHeader: http.Header{"X-Amz-Checksum-Sha256": {b64}}})
			pending <- result{minio.CompletePart{PartNumber: num, ETag: p.ETag, ChecksumSHA256: b64}, sum[:], err}
		}(num, cur)
		// Read the next part into the buffer whose upload has finished.
		next := spare
		if len(next) != partSize(num+1) {
			next = make([]byte, partSize(num+1))
		}
		spare = cur[:cap(cur)]
		n, err := io.ReadFull(r, next)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return abort(err)
		}
		cur = next[:n]
	}
	if err := wait(); err != nil {
		return abort(err)
	}
	if err := ctx.Err(); err != nil {
		return abort(err)
	}
	info, err := b.core.CompleteMultipartUpload(ctx, b.cfg.Bucket, obj, id, parts, conditional(opts))
	if err != nil {
		return abort(b.explain(err, k))
	}
	comp := sha256.Sum256(sums)
	b.remember(k, sent{size: size, sha256: hex.EncodeToString(whole.Sum(nil)),
		checksum: fmt.Sprintf("%s-%d", base64.StdEncoding.EncodeToString(comp[:]), len(parts))})
	return dest.ObjectInfo{Key: k, Size: size, ModTime: info.LastModified}, nil
}

// conditional keeps only the no-overwrite condition of opts for the
// completion.
func conditional(opts minio.PutObjectOptions) minio.PutObjectOptions {
	var c minio.PutObjectOptions
	if h := opts.Header(); h.Get("If-None-Match") != "" {
		c.SetMatchETagExcept("*")
	}
	return c
}

func (b *Bucket) remember(k string, s sent) {
	b.mu.Lock()
	b.sent[k] = s
	b.mu.Unlock()
}

// VerifyUpload proves the provider holds what the last Put of key sent:
// the bytes sent hash to sha256hex, and the provider's SHA-256 checksum
// (checked by the provider on arrival, part by part) and size are those of
// the bytes sent. It never downloads the object.
func (b *Bucket) VerifyUpload(ctx context.Context, key string, size int64, sha256hex string) (string, error) {
	k, obj, err := b.object(key)
	if err != nil {
		return "", err
	}
	b.mu.Lock()
	s, ok := b.sent[k]
	b.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("%w: no upload of %s in this process", dest.ErrNoChecksum, k)
	}
	if s.size != size || s.sha256 != sha256hex {
		return "", fmt.Errorf("sent %d bytes with SHA-256 %s, expected %d bytes with %s", s.size, s.sha256, size, sha256hex)
	}
	info, err := b.core.StatObject(ctx, b.cfg.Bucket, obj, minio.StatObjectOptions{Checksum: true})
	if err != nil {
		return "", b.explain(err, k)
	}
	if info.ChecksumSHA256 == "" {
		return "", fmt.Errorf("%w: the provider reports no SHA-256 for %s", dest.ErrNoChecksum, k)
	}
	if info.Size != size || info.ChecksumSHA256 != s.checksum {
		return "", fmt.Errorf("the provider holds %d bytes with checksum %s, sent %d bytes with %s", info.Size, info.ChecksumSHA256, size, s.checksum)
	}
	return "provider-sha256", nil
}

// Open reads an object.
func (b *Bucket) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	k, obj, err := b.object(key)
	if err != nil {
		return nil, err
	}
	rc, _, _, err := b.core.GetObject(ctx, b.cfg.Bucket, obj, minio.GetObjectOptions{})
	if err != nil {
		return nil, b.explain(err, k)
	}
	return rc, nil
}

// OpenRange reads part of an object with a ranged GET.
func (b *Bucket) OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	k, obj, err := b.object(key)
	if err != nil {
		return nil, err
	}
	if length == 0 {
		if _, err := b.Stat(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(offset, offset+length-1); err != nil {
		return nil, err
	}
	rc, _, _, err := b.core.GetObject(ctx, b.cfg.Bucket, obj, opts)
	if err != nil {
		return nil, b.explain(err, k)
	}
	return rc, nil
}

// Stat describes an object.
func (b *Bucket) Stat(ctx context.Context, key string) (dest.ObjectInfo, error) {
	k, obj, err := b.object(key)
	if err != nil {
		return dest.ObjectInfo{}, err
	}
	info, err := b.core.StatObject(ctx, b.cfg.Bucket, obj, minio.StatObjectOptions{})
	if err != nil {
		return dest.ObjectInfo{}, b.explain(err, k)
	}
	return dest.ObjectInfo{Key: k, Size: info.Size, ModTime: info.LastModified}, nil
}

// List pages through every object under prefix (S3 returns them sorted).
func (b *Bucket) List(ctx context.Context, prefix string) ([]dest.ObjectInfo, error) {
	full := prefix
	if b.cfg.Prefix != "" {
		full = b.cfg.Prefix + "/" + prefix
	}
	var out []dest.ObjectInfo
	token := ""
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res, err := b.core.ListObjectsV2(b.cfg.Bucket, full, "", token, "", 1000)
		if err != nil {
			return nil, b.explain(err, prefix)
		}
		for _, o := range res.Contents {
			k := o.Key
			if b.cfg.Prefix != "" {
				k = strings.TrimPrefix(k, b.cfg.Prefix+"/")
			}
			if !dest.IsTemp(k) {
				out = append(out, dest.ObjectInfo{Key: k, Size: o.Size, ModTime: o.LastModified})
			}
		}
		if !res.IsTruncated {
			return out, nil
		}
		if res.NextContinuationToken == "" {
			return nil, errors.New("the listing is truncated but has no continuation token")
		}
		token = res.NextContinuationToken
	}
}

// Delete removes an object.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	k, obj, err := b.object(key)
	if err != nil {
		return err
	}
	if _, err := b.core.StatObject(ctx, b.cfg.Bucket, obj, minio.StatObjectOptions{}); err != nil {
		return b.explain(err, k)
	}
	return b.explain(b.core.RemoveObject(ctx, b.cfg.Bucket, obj, minio.RemoveObjectOptions{}), k)
}

// AbortUploads aborts the unfinished multipart uploads of key (a killed
// run leaves them; they cost storage until aborted).
func (b *Bucket) AbortUploads(ctx context.Context, key string) (int, error) {
	_, obj, err := b.object(key)
	if err != nil {
		return 0, err
	}
	res, err := b.core.ListMultipartUploads(ctx, b.cfg.Bucket, obj, "", "", "", 1000)
	if err != nil {
		return 0, b.explain(err, key)
	}
	n := 0
	for _, u := range res.Uploads {
		if u.Key != obj {
			continue
		}
		if err := b.core.AbortMultipartUpload(ctx, b.cfg.Bucket, obj, u.UploadID); err != nil {
			return n, b.explain(err, key)
		}
		n++
	}
	return n, nil
}

// AbortStale aborts every unfinished multipart upload under the
// destination's prefix started before before, but those of busy keys.
func (b *Bucket) AbortStale(ctx context.Context, before time.Time, busy func(key string) bool) (int, error) {
	n := 0
	prefix := ""
	if b.cfg.Prefix != "" {
		prefix = b.cfg.Prefix + "/"
	}
	keyMarker, idMarker := "", ""
	for {
		res, err := b.core.ListMultipartUploads(ctx, b.cfg.Bucket, prefix, keyMarker, idMarker, "", 1000)
		if err != nil {
			return n, b.explain(err, prefix)
		}
		for _, u := range res.Uploads {
			key := strings.TrimPrefix(u.Key, prefix)
			if !u.Initiated.Before(before) || busy(key) {
				continue
			}
			if err := b.core.AbortMultipartUpload(ctx, b.cfg.Bucket, u.Key, u.UploadID); err != nil {
				return n, b.explain(err, key)
			}
			n++
		}
		if !res.IsTruncated {
			return n, nil
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
}

// Close releases idle connections.
func (b *Bucket) Close() error { return nil }
