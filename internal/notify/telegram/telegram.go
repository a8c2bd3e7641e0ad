// Package telegram sends events through the Telegram Bot API.
package telegram

import (
	"context"
	"fmt"
	"html"
	"strings"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/notify"
	"github.com/dbackup/dbackup/internal/notify/webhook"
	"github.com/dbackup/dbackup/internal/plugin"
)

// Config is a Telegram chat; the bot token is the secret "bot_token".
type Config struct {
	ChatID string `json:"chat_id"`
	// APIURL defaults to https://api.telegram.org (set it for a local Bot API server).
	APIURL string `json:"api_url,omitempty" help:"default https://api.telegram.org (set it for a local Bot API server)"`
}

// Telegram is one chat of one bot.
type Telegram struct {
	cfg   Config
	token string
}

var _ notify.Notifier = (*Telegram)(nil)

// Factory registers Telegram.
var Factory = plugin.Typed("telegram", "Telegram", []string{"bot_token"}, func(c Config, secrets map[string]string) (notify.Notifier, error) {
	if c.ChatID == "" || secrets["bot_token"] == "" {
		return nil, fmt.Errorf("%w: chat_id and the bot_token secret are required", backup.ErrInvalid)
	}
	if c.APIURL == "" {
		c.APIURL = "https://api.telegram.org"
	}
	if err := webhook.CheckURL(c.APIURL); err != nil {
		return nil, err
	}
	return &Telegram{cfg: c, token: secrets["bot_token"]}, nil
})

// Notify sends an HTML-formatted message.
func (t *Telegram) Notify(ctx context.Context, e notify.Event) (string, error) {
	var b strings.Builder
	b.WriteString("<b>" + html.EscapeString(e.Title) + "</b>\n")
	if e.Message != "" {
		b.WriteString(html.EscapeString(e.Message) + "\n")
	}
	for _, f := range e.Fields {
		b.WriteString("<b>" + html.EscapeString(f.Name) + ":</b> " + html.EscapeString(f.Value) + "\n")
	}
	url := strings.TrimRight(t.cfg.APIURL, "/") + "/bot" + t.token + "/sendMessage"
	return notify.PostJSON(ctx, url, nil, map[string]any{"chat_id": t.cfg.ChatID, "text": b.String(), "parse_mode": "HTML", "disable_web_page_preview": true})
}
