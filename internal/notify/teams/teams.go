// Package teams posts events to a Microsoft Teams (Workflows) webhook as an
// Adaptive Card.
package teams

import (
	"context"

	"github.com/dbackup/dbackup/internal/notify"
	"github.com/dbackup/dbackup/internal/notify/webhook"
)

// Config is a Teams channel; the webhook URL is the secret "webhook_url".
type Config struct{}

// Teams is one Teams webhook.
type Teams struct{ url string }

var _ notify.Notifier = (*Teams)(nil)

// Factory registers Microsoft Teams.
var Factory = webhook.URLChannel("teams", "Microsoft Teams", func(_ Config, url string) notify.Notifier { return &Teams{url: url} })

// Notify sends a message with one Adaptive Card: title, text and a fact set.
func (t *Teams) Notify(ctx context.Context, e notify.Event) (string, error) {
	style := "good"
	switch e.Outcome {
	case notify.OutcomeFailed:
		style = "attention"
	case notify.OutcomePartial:
		style = "warning"
	case notify.OutcomeCancelled:
		style = "default"
	}
	var facts []map[string]string
	for _, f := range e.Fields {
		facts = append(facts, map[string]string{"title": f.Name, "value": f.Value})
	}
	body := []map[string]any{
		{"type": "TextBlock", "text": e.Title, "weight": "Bolder", "size": "Medium", "color": style, "wrap": true},
		{"type": "TextBlock", "text": e.Message, "wrap": true},
		{"type": "FactSet", "facts": facts},
	}
	card := map[string]any{"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4", "body": body}
	return notify.PostJSON(ctx, t.url, nil, map[string]any{
		"type":        "message",
		"attachments": []map[string]any{{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}},
	})
}
