// Package slack posts events to a Slack incoming webhook with Block Kit.
package slack

import (
	"context"

	"github.com/dbackup/dbackup/internal/notify"
	"github.com/dbackup/dbackup/internal/notify/webhook"
)

// Config is a Slack channel; the webhook URL is the secret "webhook_url".
type Config struct{}

// Slack is one incoming webhook.
type Slack struct{ url string }

var _ notify.Notifier = (*Slack)(nil)

// Factory registers Slack.
var Factory = webhook.URLChannel("slack", "Slack", func(_ Config, url string) notify.Notifier { return &Slack{url: url} })

type text struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Notify sends a header, the message and the fields as blocks, in an
// attachment colored by outcome; "text" is the notification fallback.
func (s *Slack) Notify(ctx context.Context, e notify.Event) (string, error) {
	blocks := []map[string]any{{"type": "header", "text": text{"plain_text", e.Title}}}
	if e.Message != "" {
		blocks = append(blocks, map[string]any{"type": "section", "text": text{"mrkdwn", e.Message}})
	}
	var fields []text
	for _, f := range e.Fields {
		fields = append(fields, text{"mrkdwn", "*" + f.Name + "*\n" + f.Value})
	}
	for len(fields) > 0 { // Slack takes at most 10 fields per section
		n := min(len(fields), 10)
		blocks = append(blocks, map[string]any{"type": "section", "fields": fields[:n]})
		fields = fields[n:]
	}
	return notify.PostJSON(ctx, s.url, nil, map[string]any{
		"text":        e.Title,
		"attachments": []map[string]any{{"color": e.HexColor(), "blocks": blocks}},
	})
}
