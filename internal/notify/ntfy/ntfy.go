// Package ntfy publishes events to an ntfy topic.
package ntfy

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/notify"
	"github.com/dbackup/dbackup/internal/notify/webhook"
	"github.com/dbackup/dbackup/internal/plugin"
)

// Config is an ntfy topic; an access token is the optional secret "token".
type Config struct {
	URL   string `json:"url,omitempty" help:"default https://ntfy.sh"` // default https://ntfy.sh
	Topic string `json:"topic"`
}

// Ntfy is one topic.
type Ntfy struct {
	cfg   Config
	token string
}

var _ notify.Notifier = (*Ntfy)(nil)

// Factory registers ntfy.
var Factory = plugin.Typed("ntfy", "ntfy", []string{"token"}, func(c Config, secrets map[string]string) (notify.Notifier, error) {
	if c.URL == "" {
		c.URL = "https://ntfy.sh"
	}
	if err := webhook.CheckURL(c.URL); err != nil {
		return nil, err
	}
	if c.Topic == "" || strings.ContainsAny(c.Topic, "/?#") {
		return nil, fmt.Errorf("%w: a topic name is required", backup.ErrInvalid)
	}
	return &Ntfy{cfg: c, token: secrets["token"]}, nil
})

// Notify publishes the text with title, priority and tags headers.
func (n *Ntfy) Notify(ctx context.Context, e notify.Event) (string, error) {
	priority, tag := "default", "white_check_mark"
	switch e.Outcome {
	case notify.OutcomeFailed:
		priority, tag = "high", "rotating_light"
	case notify.OutcomePartial:
		priority, tag = "high", "warning"
	case notify.OutcomeCancelled:
		tag = "stop_sign"
	}
	headers := map[string]string{"Title": e.Title, "Priority": priority, "Tags": tag, "Content-Type": "text/plain; charset=utf-8"}
	if n.token != "" {
		headers["Authorization"] = "Bearer " + n.token
	}
	body := strings.TrimPrefix(e.Text(), e.Title+"\n")
	return body, notify.Do(ctx, http.MethodPost, strings.TrimRight(n.cfg.URL, "/")+"/"+n.cfg.Topic, headers, []byte(body))
}
