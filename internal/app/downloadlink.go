package app

import (
	"context"
	"fmt"
	"time"

	"github.com/dbackup/dbackup/internal/auth"
	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/catalog"
)

// MaxLinkTTL bounds how long a download link lives.
const MaxLinkTTL = time.Hour

// DownloadLinkInfo is a new download link: the token goes in its URL.
type DownloadLinkInfo struct {
	Token     string    `json:"token"`
	Path      string    `json:"path"` // the URL's path: /api/v1/downloads/<token>
	Name      string    `json:"name"` // the file it serves
	ExpiresAt time.Time `json:"expires_at"`
}

// CreateDownloadLink makes a short-lived link that downloads one backup
// once without logging in (for curl or wget on another host). The backup
// must exist and be authentic now; ttl is from 1 minute to MaxLinkTTL
// (0: 10 minutes).
func (a *App) CreateDownloadLink(ctx context.Context, destRef, key string, plain bool, ttl time.Duration) (info *DownloadLinkInfo, err error) {
	defer func() {
		a.Audit(ctx, "backup.link", destRef+":"+key, err == nil, fmt.Sprintf("plain=%t ttl=%s", plain, ttl))
	}()
	if ttl == 0 {
		ttl = 10 * time.Minute
	}
	if ttl < time.Minute || ttl > MaxLinkTTL {
		return nil, fmt.Errorf("%w: a download link lives from 1m to %s", backup.ErrInvalid, MaxLinkTTL)
	}
	ep, err := a.Store.Destinations().Get(ctx, destRef)
	if err != nil {
		return nil, err
	}
	d, err := a.openDest(ctx, ep.ID)
	if err != nil {
		return nil, err
	}
	m, err := catalog.ReadTrusted(ctx, d, key, a.Runner.Keyring())
	d.Close()
	if err != nil {
		return nil, err
	}
	if plain && m.Encryption != nil {
		if _, err := a.Runner.ProfileKey(ctx, m.Encryption, nil); err != nil {
			return nil, fmt.Errorf("%w: the backup's encryption profile is not on this server: link the stored bytes instead", backup.ErrInvalid)
		}
	}
	token, hash := auth.NewToken()
	now := time.Now().UTC()
	l := &backup.DownloadLink{TokenHash: hash, DestinationID: ep.ID, Key: key, Plain: plain, CreatedBy: "cli", CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if p := PrincipalFrom(ctx); p != nil {
		l.CreatedBy = p.Actor
	}
	if err := a.Store.CreateDownloadLink(ctx, l); err != nil {
		return nil, err
	}
	return &DownloadLinkInfo{Token: token, Path: "/api/v1/downloads/" + token, Name: key, ExpiresAt: l.ExpiresAt}, nil
}

// OpenDownloadLink opens the backup of a link and uses the link up, so
// that it serves once; the download is audited as its creator's.
func (a *App) OpenDownloadLink(ctx context.Context, token, ip string) (*Download, error) {
	l, err := a.Store.UseDownloadLink(ctx, auth.TokenHash(token), time.Now().UTC())
	if err != nil {
		return nil, err // not audited: anyone may try tokens, and must not fill the log
	}
	ctx = WithPrincipal(ctx, &Principal{Actor: "link:" + l.CreatedBy, IP: ip})
	return a.OpenDownload(ctx, l.DestinationID, l.Key, l.Plain)
}
