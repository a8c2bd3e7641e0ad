// Package discord posts events to a Discord webhook as an embed.
package discord

import (
	"context"
	"time"

	"github.com/dbackup/dbackup/internal/notify"
	"github.com/dbackup/dbackup/internal/notify/webhook"
)

// Config is a Discord channel; the webhook URL is the secret "webhook_url".
type Config struct {
	Username string `json:"username,omitempty"`
}

// Discord is one Discord webhook.
type Discord struct {
	cfg Config
	url string
}

var _ notify.Notifier = (*Discord)(nil)

// Factory registers Discord.
var Factory = webhook.URLChannel("discord", "Discord", func(c Config, url string) notify.Notifier {
	if c.Username == "" {
		c.Username = "dbackup"
	}
	return &Discord{cfg: c, url: url}
})

type embedField struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline"`
}

type embed struct {
	Title       string       `json:"title"`
	Description string       `json:"description,omitempty"`
	Color       int          `json:"color"`
	Fields      []embedField `json:"fields,omitempty"`
	Timestamp   string       `json:"timestamp"`
}

// Notify sends the event as one embed.
func (d *Discord) Notify(ctx context.Context, e notify.Event) (string, error) {
	em := embed{Title: e.Title, Description: e.Message, Color: e.Color(), Timestamp: e.Time.UTC().Format(time.RFC3339)}
	for _, f := range e.Fields {
		em.Fields = append(em.Fields, embedField(f))
	}
	return notify.PostJSON(ctx, d.url, nil, map[string]any{"username": d.cfg.Username, "embeds": []embed{em}})
}
