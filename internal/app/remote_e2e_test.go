package app

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/runner"
	"github.com/dbackup/dbackup/internal/testutil/pgtest"
	"github.com/dbackup/dbackup/internal/testutil/srvtest"
)

// One job backs up to four destinations of different kinds at once: S3
// (MinIO), WebDAV (nginx), SMB (Samba) and SFTP (OpenSSH). The SFTP server
// goes away during the upload (a proxy in front of it cuts every connection
// and accepts no more, as a killed server does): the run is partial, the
// three others hold verified backups that restore, and the SFTP directory
// lists nothing.
func TestFourDestinationsOneServerDies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, sums := seeded(t)
	a := setup(t)
	pgSource(t, a, "pg", "postgres", "")

	sftpDir := srvtest.MakeDir(t, "e2e-sftp")
	hostKey := srvtest.File(t, "ssh/host_ed25519.pub")
	proxy := cutProxy(t, "127.0.0.1:"+strconv.Itoa(srvtest.SFTPPort), 2<<20)
	proxyHost, proxyPort, _ := net.SplitHostPort(proxy)
	pPort, _ := strconv.Atoi(proxyPort)
	bucket := srvtest.MinIOBucket(t)
	pw := map[string]string{"password": srvtest.Password}
	for _, d := range []EndpointInput{
		{Name: "s3", Type: "s3", Config: raw(map[string]any{"preset": "minio", "endpoint": srvtest.MinIOEndpoint, "bucket": bucket, "prefix": "db", "access_key_id": srvtest.MinIOUser}),
			Secrets: map[string]string{"secret_access_key": srvtest.MinIOPassword}},
		{Name: "dav", Type: "webdav", Config: raw(map[string]any{"url": srvtest.WebDAVURL, "user": srvtest.User, "path": srvtest.MakeDir(t, "e2e-dav")}), Secrets: pw},
		{Name: "nas", Type: "smb", Config: raw(map[string]any{"host": "127.0.0.1", "port": srvtest.SMBPort, "share": srvtest.SMBShare, "user": srvtest.User, "path": srvtest.MakeDir(t, "e2e-smb")}), Secrets: pw},
		{Name: "ssh", Type: "sftp", Config: raw(map[string]any{"host": proxyHost, "port": pPort, "user": srvtest.User, "path": sftpDir, "host_key": hostKey}), Secrets: pw},
		{Name: "ssh-direct", Type: "sftp", Config: raw(map[string]any{"host": "127.0.0.1", "port": srvtest.SFTPPort, "user": srvtest.User, "path": sftpDir, "host_key": hostKey}), Secrets: pw},
	} {
		if _, err := a.CreateEndpoint(ctx, KindDestination, d); err != nil {
			t.Fatalf("%s: %v", d.Name, err)
		}
	}
	a.CreateProfile(ctx, "k", "")
	mustJob(t, a, JobInput{Name: "four", Source: "pg", Databases: []string{src}, Destinations: dests("s3", "dav", "nas", "ssh"),
		Compression: "none", Profile: "k"})
	e, err := a.RunJob(ctx, "four", backup.TriggerManual, false)
	if err != nil {
		t.Fatal(err)
	}
	if e.Status != backup.StatusPartial {
		t.Fatalf("status %s (%s), want partial\n%s", e.Status, e.Error, logsOf(t, a, e.ID))
	}
	methods := map[string]string{}
	for _, d := range e.Destinations {
		switch {
		case d.Name == "ssh" && d.Status != backup.StatusFailed:
			t.Fatalf("the destination whose server died: %+v", d)
		case d.Name != "ssh" && (d.Status != backup.StatusSuccess || !d.Verified):
			t.Fatalf("destination %s: %+v", d.Name, d)
		}
		methods[d.Name] = d.VerifyMethod
	}
	if methods["s3"] != "provider-sha256" || methods["dav"] != "read-back-sha256" {
		t.Fatalf("verification methods %v", methods)
	}
	t.Logf("partial: %s", e.Error)
	for _, d := range []string{"s3", "dav", "nas"} {
		list, err := a.ListBackups(ctx, d, "four")
		if err != nil || len(list.Backups) != 1 || list.Backups[0].Key != e.BackupName {
			t.Fatalf("%s lists %+v (%v)", d, list, err)
		}
	}
	if list, err := a.ListBackups(ctx, "ssh-direct", "four"); err != nil || len(list.Backups) != 0 {
		t.Fatalf("the SFTP destination lists %+v (%v)", list, err)
	}
	// What the broken upload left on the server is hidden (a temporary name).
	filepath.Walk(filepath.Join(srvtest.Home, sftpDir), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && !strings.HasPrefix(fi.Name(), ".dbackup-tmp-") {
			t.Errorf("left on the SFTP server: %s", p)
		}
		return nil
	})
	// Each surviving copy restores; one is enough to show it.
	target := pgtest.Name("dbackup_four_r")
	pgtest.Drop(t, target)
	r := restore(t, a, runner.RestoreRequest{Destination: "nas", Key: e.BackupName, Source: "pg", Targets: map[string]string{src: target}})
	if r.Status != backup.StatusSuccess {
		t.Fatalf("restore from SMB: %s\n%s", r.Error, logsOf(t, a, r.ID))
	}
	if got := pgtest.TableChecksums(t, target); len(got) != len(sums) || got["public.items"] != sums["public.items"] {
		t.Fatalf("restored checksums %v, want %v", got, sums)
	}
}
