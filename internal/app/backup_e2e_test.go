package app

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/runner"
	"github.com/dbackup/dbackup/internal/testutil/pgtest"
)

var (
	seedOnce sync.Once
	seedDB   string
	seedSums map[string]string
)

// seeded returns one awkward database shared by the tests of this package.
func seeded(t *testing.T) (string, map[string]string) {
	seedOnce.Do(func() {
		seedDB = pgtest.Name("dbackup_src")
		conn := pgtest.Connect(t, "")
		if _, err := conn.Exec(context.Background(), "CREATE DATABASE "+seedDB); err != nil {
			t.Fatal(err)
		}
		pgtest.SeedAwkward(t, seedDB, 300_000)
		seedSums = pgtest.TableChecksums(t, seedDB)
	})
	if seedSums == nil {
		t.Fatal("seeding failed in another test")
	}
	return seedDB, seedSums
}

func TestMain(m *testing.M) {
	code := m.Run()
	if seedDB != "" {
		exec.Command("psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc", "DROP DATABASE IF EXISTS "+seedDB+" WITH (FORCE)").Run()
	}
	os.Exit(code)
}

func TestBackupAndRestoreEveryCompressionEncrypted(t *testing.T) {
	t.Parallel()
	src, want := seeded(t)
	for _, comp := range []string{"none", "gzip", "zstd", "brotli"} {
		t.Run(comp, func(t *testing.T) {
			t.Parallel()
			a := setup(t)
			ctx := context.Background()
			pgSource(t, a, "pg", "postgres", "")
			d1, d2 := t.TempDir(), t.TempDir()
			localDest(t, a, "disk-a", d1)
			localDest(t, a, "disk-b", d2)
			if _, err := a.CreateProfile(ctx, "main", ""); err != nil {
				t.Fatal(err)
			}
			mustJob(t, a, JobInput{Name: "prod pg/" + comp, Source: "pg", Databases: []string{src}, Destinations: dests("disk-a", "disk-b"),
				Compression: comp, Profile: "main"})
			e, err := a.RunJob(ctx, "prod pg/"+comp, backup.TriggerManual, false)
			if err != nil {
				t.Fatal(err)
			}
			if e.Status != backup.StatusSuccess {
				t.Fatalf("status %s: %s\n%s", e.Status, e.Error, logsOf(t, a, e.ID))
			}
			if len(e.Destinations) != 2 || !e.Destinations[0].Verified || !e.Destinations[1].Verified {
				t.Fatalf("destinations: %+v", e.Destinations)
			}
			if !strings.HasSuffix(e.BackupName, ".dump"+backup.Compression(comp).Ext()+".enc") || !strings.HasPrefix(e.BackupName, "prod_pg_"+comp+"/") {
				t.Fatalf("backup name %q", e.BackupName)
			}
			for _, d := range []string{"disk-a", "disk-b"} {
				list, err := a.ListBackups(ctx, d, "")
				if err != nil || len(list.Backups) != 1 || len(list.Problems) != 0 {
					t.Fatalf("%s lists %+v, %v", d, list, err)
				}
			}
			// No plaintext of the dump is visible in the stored bytes.
			stored, _ := os.ReadFile(filepath.Join(d1, e.BackupName))
			if strings.Contains(string(stored), "PGDMP") || strings.Contains(string(stored), "Weird Table") {
				t.Fatal("stored backup contains plaintext")
			}
			target := pgtest.Name("dbackup_restored")
			pgtest.Drop(t, target)
			r := restore(t, a, runner.RestoreRequest{Destination: "disk-b", Key: e.BackupName, Source: "pg", Targets: map[string]string{src: target}})
			if r.Status != backup.StatusSuccess {
				t.Fatalf("restore %s: %s\n%s", r.Status, r.Error, logsOf(t, a, r.ID))
			}
			got := pgtest.TableChecksums(t, target)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("restored data differs:\n got %v\nwant %v", got, want)
			}
		})
	}
}
