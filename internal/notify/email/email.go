// Package email sends events as multipart (text and HTML) mail over SMTP.
package email

import (
	"context"
	"crypto/tls"
	"fmt"
	"html/template"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/notify"
	"github.com/dbackup/dbackup/internal/plugin"
)

// Config is an SMTP server and the addresses; the password is the secret "password".
type Config struct {
	Host string `json:"host"`
	Port int    `json:"port" help:"default 587 (465 with tls, 25 with none)"`
	// Security is "starttls" (default, required), "tls" (implicit TLS) or "none".
	Security string   `json:"security" choices:"|starttls|tls|none" help:"default starttls (required); tls is implicit TLS"`
	Username string   `json:"username,omitempty"`
	From     string   `json:"from"`
	To       []string `json:"to" help:"addresses, one per line"`
	// InsecureSkipVerify accepts any server certificate (self-signed test servers only).
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty" help:"accept any server certificate (self-signed test servers only)"`
}

// Email is one SMTP channel.
type Email struct {
	cfg      Config
	password string
}

var _ notify.Notifier = (*Email)(nil)

// Factory registers email.
var Factory = plugin.Typed("email", "Email (SMTP)", []string{"password"}, func(c Config, secrets map[string]string) (notify.Notifier, error) {
	return New(c, secrets["password"])
})

// New validates the config.
func New(c Config, password string) (*Email, error) {
	bad := func(msg string) error { return fmt.Errorf("%w: email: %s", backup.ErrInvalid, msg) }
	if c.Host == "" || c.From == "" || len(c.To) == 0 {
		return nil, bad("host, from and at least one to address are required")
	}
	switch c.Security {
	case "":
		c.Security = "starttls"
	case "starttls", "tls", "none":
	default:
		return nil, bad(`security must be "starttls", "tls" or "none"`)
	}
	if c.Port == 0 {
		c.Port = map[string]int{"starttls": 587, "tls": 465, "none": 25}[c.Security]
	}
	return &Email{cfg: c, password: password}, nil
}

var htmlBody = template.Must(template.New("mail").Parse(`<!doctype html>
<html><body style="font-family:sans-serif">
<h2 style="color:{{.Color}}">{{.E.Title}}</h2>
{{if .E.Message}}<p>{{.E.Message}}</p>{{end}}
<table cellpadding="4" style="border-collapse:collapse">
{{range .E.Fields}}<tr><th align="left" valign="top">{{.Name}}</th><td>{{.Value}}</td></tr>
{{end}}</table>
<p style="color:#888;font-size:small">dbackup</p>
</body></html>`))

// Notify sends one message to every recipient.
func (m *Email) Notify(ctx context.Context, e notify.Event) (string, error) {
	msg := mail.NewMsg()
	if err := msg.From(m.cfg.From); err != nil {
		return "", fmt.Errorf("from: %w", err)
	}
	if err := msg.To(m.cfg.To...); err != nil {
		return "", fmt.Errorf("to: %w", err)
	}
	msg.Subject("[dbackup] " + e.Title)
	msg.SetBodyString(mail.TypeTextPlain, e.Text())
	var h strings.Builder
	if err := htmlBody.Execute(&h, map[string]any{"E": e, "Color": e.HexColor()}); err != nil {
		return "", err
	}
	msg.AddAlternativeString(mail.TypeTextHTML, h.String())

	opts := []mail.Option{mail.WithPort(m.cfg.Port), mail.WithTimeout(30 * time.Second),
		mail.WithTLSConfig(&tls.Config{ServerName: m.cfg.Host, InsecureSkipVerify: m.cfg.InsecureSkipVerify, MinVersion: tls.VersionTLS12})}
	switch m.cfg.Security {
	case "tls":
		opts = append(opts, mail.WithSSL())
	case "starttls":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	}
	if m.cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(m.cfg.Username), mail.WithPassword(m.password))
	}
	c, err := mail.NewClient(m.cfg.Host, opts...)
	if err != nil {
		return "", err
	}
	payload := "To: " + strings.Join(m.cfg.To, ", ") + "\nSubject: [dbackup] " + e.Title + "\n\n" + e.Text()
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return payload, fmt.Errorf("smtp %s:%d: %w", m.cfg.Host, m.cfg.Port, err)
	}
	return payload, nil
}
