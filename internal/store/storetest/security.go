package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
)

func runSecurity(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	if n, err := s.CountUsers(ctx); err != nil || n != 0 {
		t.Fatalf("a new store has %d users (%v)", n, err)
	}
	u := &backup.User{Name: "alice", Role: "admin", PasswordHash: "$argon2id$canary-hash"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, &backup.User{Name: "alice", Role: "viewer", PasswordHash: "x"}); !errors.Is(err, backup.ErrConflict) {
		t.Fatalf("duplicate user: %v", err)
	}
	got, err := s.GetUser(ctx, "alice")
	if err != nil || got.ID != u.ID || got.PasswordHash != u.PasswordHash || got.Role != "admin" {
		t.Fatalf("get user: %+v %v", got, err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	se := &backup.Session{TokenHash: "tok-hash", UserID: u.ID, CSRFHash: "csrf-hash", IP: "10.0.0.1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateSession(ctx, se); err != nil {
		t.Fatal(err)
	}
	if g, err := s.GetSession(ctx, "tok-hash"); err != nil || g.UserID != u.ID || g.CSRFHash != "csrf-hash" || !g.ExpiresAt.Equal(se.ExpiresAt) {
		t.Fatalf("get session: %+v %v", g, err)
	}
	// A new password ends the user's sessions; the same one does not.
	u.Role = "operator"
	if err := s.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(ctx, "tok-hash"); err != nil {
		t.Fatalf("a role change ended the session: %v", err)
	}
	u.PasswordHash = "$argon2id$other"
	s.UpdateUser(ctx, u)
	if _, err := s.GetSession(ctx, "tok-hash"); !errors.Is(err, backup.ErrNotFound) {
		t.Fatalf("session after a password change: %v", err)
	}
	s.CreateSession(ctx, &backup.Session{TokenHash: "old", UserID: u.ID, CSRFHash: "c", CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)})
	if err := s.DeleteExpiredSessions(ctx, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(ctx, "old"); !errors.Is(err, backup.ErrNotFound) {
		t.Fatalf("expired session kept: %v", err)
	}

	exp := now.Add(24 * time.Hour)
	k := &backup.APIKey{ID: "0123456789abcdef", Name: "ci", Role: "operator", Salt: "salt", Hash: "canary-key-hash", CreatedBy: "user:alice", ExpiresAt: &exp}
	if err := s.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchAPIKey(ctx, k.ID, now); err != nil {
		t.Fatal(err)
	}
	g, err := s.GetAPIKey(ctx, "ci")
	if err != nil || g.Hash != "canary-key-hash" || g.LastUsedAt == nil || !g.LastUsedAt.Equal(now) || !g.ExpiresAt.Equal(exp) || !g.Usable(now) {
		t.Fatalf("get key: %+v %v", g, err)
	}
	if err := s.RevokeAPIKey(ctx, k.ID, now); err != nil {
		t.Fatal(err)
	}
	if g, _ := s.GetAPIKey(ctx, k.ID); g.Usable(now) {
		t.Fatal("a revoked key is usable")
	}
	if err := s.RevokeAPIKey(ctx, k.ID, now); !errors.Is(err, backup.ErrNotFound) {
		t.Fatalf("second revoke: %v", err)
	}

	for i, a := range []string{"login", "job.create", "restore.start"} {
		if err := s.AppendAudit(ctx, &backup.AuditEntry{At: now.Add(time.Duration(i) * time.Second), Actor: "user:alice", IP: "10.0.0.1", Action: a, Target: "t", OK: i != 1}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.ListAudit(ctx, 2, 0)
	if err != nil || len(list) != 2 || list[0].Action != "restore.start" || list[1].OK {
		t.Fatalf("audit newest first: %+v %v", list, err)
	}
	if n, err := s.PruneAudit(ctx, now.Add(500*time.Millisecond)); err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetUser(ctx, "alice"); !errors.Is(err, backup.ErrNotFound) {
		t.Fatalf("deleted user: %v", err)
	}
}

// Eight first-start setups at once create exactly one user.
func runFirstUser(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	var wg sync.WaitGroup
	var created atomic.Int32
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.CreateFirstUser(ctx, &backup.User{Name: fmt.Sprintf("admin%d", i), Role: "admin", PasswordHash: "x"})
			if err != nil {
				t.Error(err)
			}
			if ok {
				created.Add(1)
			}
		}()
	}
	wg.Wait()
	if n, _ := s.CountUsers(ctx); created.Load() != 1 || n != 1 {
		t.Fatalf("%d setups said they created the first user, %d users exist", created.Load(), n)
	}
	if ok, _ := s.CreateFirstUser(ctx, &backup.User{Name: "late", Role: "admin", PasswordHash: "x"}); ok {
		t.Fatal("a setup after the first created a user")
	}
}

// The instance key is created once and the same for every reader; the
// records of a restore's databases are listed by execution.
func runInstanceKeyAndLeftovers(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	k1, err := s.InstanceKey(ctx, "sidecars")
	if err != nil || len(k1) != 32 {
		t.Fatalf("instance key: %x %v", k1, err)
	}
	if k2, _ := s.InstanceKey(ctx, "sidecars"); string(k2) != string(k1) {
		t.Fatal("the instance key changed")
	}
	if k3, _ := s.InstanceKey(ctx, "other"); string(k3) == string(k1) {
		t.Fatal("two instance keys are the same")
	}
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	a := &backup.Leftover{SourceID: "s", Database: "dbackup_scratch_x", State: backup.LeftoverScratch, ExecutionID: "e1"}
	b := &backup.Leftover{SourceID: "s", Database: "shop_replaced_x", State: backup.LeftoverReplaced, ExecutionID: "e2", ExpiresAt: &exp}
	for _, l := range []*backup.Leftover{a, b} {
		if err := s.AddLeftover(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	if l, _ := s.ListLeftovers(ctx, "e2"); len(l) != 1 || l[0].Database != "shop_replaced_x" || !l[0].ExpiresAt.Equal(exp) {
		t.Fatalf("leftovers of e2: %+v", l)
	}
	s.DeleteLeftover(ctx, a.ID)
	if l, _ := s.ListLeftovers(ctx, ""); len(l) != 1 || l[0].ID != b.ID {
		t.Fatalf("leftovers after a delete: %+v", l)
	}
}

// runDownloadLinks: a link serves once however many use it at the same
// time, and never after it expires.
func runDownloadLinks(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	l := &backup.DownloadLink{TokenHash: "h1", DestinationID: "d1", Key: "job/x.sql.zst", Plain: true, CreatedBy: "user:alice", CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
	if err := s.CreateDownloadLink(ctx, l); err != nil {
		t.Fatal(err)
	}
	s.CreateDownloadLink(ctx, &backup.DownloadLink{TokenHash: "h2", DestinationID: "d1", Key: "k", CreatedBy: "x", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute)})
	var won atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.UseDownloadLink(ctx, "h1", now.Add(time.Minute))
			if err == nil {
				won.Add(1)
				if got.Key != l.Key || got.DestinationID != "d1" || !got.Plain || got.CreatedBy != "user:alice" {
					t.Errorf("used link: %+v", got)
				}
			} else if !errors.Is(err, backup.ErrNotFound) {
				t.Errorf("use: %v", err)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("a single-use link served %d times", won.Load())
	}
	if _, err := s.UseDownloadLink(ctx, "h2", now); !errors.Is(err, backup.ErrNotFound) {
		t.Fatalf("an expired link: %v", err)
	}
	if _, err := s.UseDownloadLink(ctx, "nope", now); !errors.Is(err, backup.ErrNotFound) {
		t.Fatalf("an unknown link: %v", err)
	}
}
