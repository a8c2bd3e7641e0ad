// Package webhook posts events to any HTTP endpoint, as JSON or through a
// body template.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"text/template"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/notify"
	"github.com/dbackup/dbackup/internal/plugin"
)

// Config is the generic webhook. The URL and the Authorization header are
// secrets ("url", "authorization").
type Config struct {
	Method      string            `json:"method" choices:"|POST|PUT|GET" help:"default POST"`
	ContentType string            `json:"content_type" help:"default application/json"`
	Headers     map[string]string `json:"headers,omitempty" help:"one “Name: value” per line"`
	// BodyTemplate is a Go text/template over the event; empty sends the
	// event as JSON. Use {{json .Title}} to embed a value as a JSON string.
	BodyTemplate string `json:"body_template,omitempty" form:"textarea" help:"Go text/template over the event; empty sends the event as JSON; {{json .Title}} embeds a value as a JSON string"`
}

// Webhook is one webhook channel.
type Webhook struct {
	cfg  Config
	url  string
	auth string
	tmpl *template.Template
}

var _ notify.Notifier = (*Webhook)(nil)

// Factory registers the generic webhook.
var Factory = plugin.Typed("webhook", "Generic webhook", []string{"url", "authorization"}, func(c Config, secrets map[string]string) (notify.Notifier, error) {
	return New(c, secrets["url"], secrets["authorization"])
})

var funcs = template.FuncMap{"json": func(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}}

// New validates the config.
func New(c Config, rawURL, auth string) (*Webhook, error) {
	if err := CheckURL(rawURL); err != nil {
		return nil, err
	}
	if c.Method == "" {
		c.Method = "POST"
	}
	if c.Method != "POST" && c.Method != "PUT" && c.Method != "GET" {
		return nil, fmt.Errorf("%w: method %q (want POST, PUT or GET)", backup.ErrInvalid, c.Method)
	}
	if c.ContentType == "" {
		c.ContentType = "application/json"
	}
	w := &Webhook{cfg: c, url: rawURL, auth: auth}
	if c.BodyTemplate != "" {
		t, err := template.New("body").Funcs(funcs).Option("missingkey=error").Parse(c.BodyTemplate)
		if err != nil {
			return nil, fmt.Errorf("%w: body_template: %v", backup.ErrInvalid, err)
		}
		w.tmpl = t
	}
	return w, nil
}

// CheckURL requires an absolute http(s) URL.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: a http(s) URL is required", backup.ErrInvalid)
	}
	return nil
}

// Notify renders and sends the event.
func (w *Webhook) Notify(ctx context.Context, e notify.Event) (string, error) {
	var body []byte
	if w.tmpl != nil {
		var b bytes.Buffer
		if err := w.tmpl.Execute(&b, e); err != nil {
			return "", fmt.Errorf("body_template: %v", err)
		}
		body = b.Bytes()
	} else {
		var err error
		if body, err = json.Marshal(e); err != nil {
			return "", err
		}
	}
	headers := map[string]string{"Content-Type": w.cfg.ContentType, "User-Agent": "dbackup"}
	for k, v := range w.cfg.Headers {
		headers[k] = v
	}
	if w.auth != "" {
		headers["Authorization"] = w.auth
	}
	if w.cfg.Method == "GET" {
		body = nil
	}
	return strings.TrimSpace(string(body)), notify.Do(ctx, w.cfg.Method, w.url, headers, body)
}

// URLChannel is the factory of a channel type configured by C whose
// endpoint is the secret "webhook_url" (Discord, Slack, Teams).
func URLChannel[C any](typ, label string, build func(c C, url string) notify.Notifier) plugin.Factory[notify.Notifier] {
	return plugin.Typed(typ, label, []string{"webhook_url"}, func(c C, secrets map[string]string) (notify.Notifier, error) {
		if err := CheckURL(secrets["webhook_url"]); err != nil {
			return nil, err
		}
		return build(c, secrets["webhook_url"]), nil
	})
}
