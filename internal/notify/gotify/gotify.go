// Package gotify sends events to a Gotify server.
package gotify

import (
	"context"
	"fmt"
	"strings"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/notify"
	"github.com/dbackup/dbackup/internal/notify/webhook"
	"github.com/dbackup/dbackup/internal/plugin"
)

// Config is a Gotify server; the application token is the secret "token".
type Config struct {
	URL string `json:"url"`
}

// Gotify is one application on one server.
type Gotify struct {
	cfg   Config
	token string
}

var _ notify.Notifier = (*Gotify)(nil)

// Factory registers Gotify.
var Factory = plugin.Typed("gotify", "Gotify", []string{"token"}, func(c Config, secrets map[string]string) (notify.Notifier, error) {
	if err := webhook.CheckURL(c.URL); err != nil {
		return nil, err
	}
	if secrets["token"] == "" {
		return nil, fmt.Errorf("%w: the token secret is required", backup.ErrInvalid)
	}
	return &Gotify{cfg: c, token: secrets["token"]}, nil
})

// Notify posts a message; failures get a high priority.
func (g *Gotify) Notify(ctx context.Context, e notify.Event) (string, error) {
	priority := 5
	if e.Outcome == notify.OutcomeFailed {
		priority = 8
	}
	msg := strings.TrimPrefix(e.Text(), e.Title+"\n")
	return notify.PostJSON(ctx, strings.TrimRight(g.cfg.URL, "/")+"/message", map[string]string{"X-Gotify-Key": g.token},
		map[string]any{"title": e.Title, "message": msg, "priority": priority})
}
