// Package ping reports runs to a monitoring URL in the style of
// healthchecks.io (URL, URL/start, URL/fail) or Uptime Kuma push monitors
// (URL?status=up|down&msg=…). A ping channel also acts on start events.
package ping

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/notify"
	"github.com/dbackup/dbackup/internal/notify/webhook"
	"github.com/dbackup/dbackup/internal/plugin"
)

// Config picks the style; the ping URL (it holds the check's token) is the secret "url".
type Config struct {
	Style string `json:"style" choices:"|healthchecks|uptime-kuma" help:"default healthchecks"` // "healthchecks" (default) or "uptime-kuma"
}

// Ping is one monitored check.
type Ping struct {
	style string
	url   string
}

var _ notify.Notifier = (*Ping)(nil)

// Factory registers ping URLs.
var Factory = plugin.Typed("ping", "Ping URL (healthchecks.io, Uptime Kuma)", []string{"url"}, func(c Config, secrets map[string]string) (notify.Notifier, error) {
	if c.Style == "" {
		c.Style = "healthchecks"
	}
	if c.Style != "healthchecks" && c.Style != "uptime-kuma" {
		return nil, fmt.Errorf("%w: style must be healthchecks or uptime-kuma", backup.ErrInvalid)
	}
	if err := webhook.CheckURL(secrets["url"]); err != nil {
		return nil, err
	}
	return &Ping{style: c.Style, url: secrets["url"]}, nil
})

// Notify pings start, success or failure.
func (p *Ping) Notify(ctx context.Context, e notify.Event) (string, error) {
	ok := e.Outcome == notify.OutcomeSuccess
	if p.style == "uptime-kuma" {
		if e.Kind == notify.KindStart {
			return "", nil // push monitors have no start signal
		}
		status := "down"
		if ok {
			status = "up"
		}
		u := p.url + sep(p.url) + "status=" + status + "&msg=" + url.QueryEscape(e.Title)
		return "GET status=" + status + " msg=" + e.Title, notify.Do(ctx, http.MethodGet, u, nil, nil)
	}
	base := strings.TrimRight(p.url, "/")
	suffix := "/fail"
	switch {
	case e.Kind == notify.KindStart:
		suffix = "/start"
	case ok:
		suffix = ""
	}
	body := e.Text()
	return "POST " + suffix + "\n" + body, notify.Do(ctx, http.MethodPost, base+suffix, map[string]string{"Content-Type": "text/plain; charset=utf-8"}, []byte(body))
}

func sep(u string) string {
	if strings.Contains(u, "?") {
		return "&"
	}
	return "?"
}
