// Package notify defines notification events and the Notifier interface the
// channels implement. Channels never import the store or the runner.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Outcome is what happened; jobs route outcomes to channels.
type Outcome string

const (
	OutcomeSuccess   Outcome = "success"
	OutcomePartial   Outcome = "partial"
	OutcomeFailed    Outcome = "failed"
	OutcomeCancelled Outcome = "cancelled"
)

// Outcomes lists every outcome a job can route.
var Outcomes = []Outcome{OutcomeSuccess, OutcomePartial, OutcomeFailed, OutcomeCancelled}

// Kind says what the event is about.
type Kind string

const (
	KindBackup      Kind = "backup"
	KindStart       Kind = "start" // a backup started: only ping channels act on it
	KindMissed      Kind = "missed"
	KindRestore     Kind = "restore"
	KindDrill       Kind = "drill" // a restore drill ended
	KindDestination Kind = "destination"
	KindTest        Kind = "test"
)

// Field is one labelled value of a message.
type Field struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline"`
}

// Event is a rendered-independent notification.
type Event struct {
	Kind        Kind      `json:"kind"`
	Outcome     Outcome   `json:"outcome"`
	Title       string    `json:"title"`
	Message     string    `json:"message"`
	Fields      []Field   `json:"fields"`
	JobName     string    `json:"job_name,omitempty"`
	ExecutionID string    `json:"execution_id,omitempty"`
	Time        time.Time `json:"time"`
}

// Color is the outcome's color as 0xRRGGBB.
func (e Event) Color() int {
	switch e.Outcome {
	case OutcomeSuccess:
		return 0x2ea043
	case OutcomePartial:
		return 0xd29922
	case OutcomeCancelled:
		return 0x8b949e
	}
	return 0xcf222e
}

// HexColor is Color as "#rrggbb".
func (e Event) HexColor() string { return fmt.Sprintf("#%06x", e.Color()) }

// Text renders the event as plain text: title, message, one line per field.
func (e Event) Text() string {
	var b strings.Builder
	b.WriteString(e.Title + "\n")
	if e.Message != "" {
		b.WriteString(e.Message + "\n")
	}
	for _, f := range e.Fields {
		b.WriteString(f.Name + ": " + f.Value + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// Notifier delivers events to one channel. It returns the payload it sent
// (for the delivery log; it must not contain secrets) and an error.
type Notifier interface {
	Notify(ctx context.Context, e Event) (payload string, err error)
}

// Do sends one HTTP request and fails on any non-2xx answer, quoting the
// start of the body. The URL is never part of the error: it may hold a token.
func Do(ctx context.Context, method, url string, headers map[string]string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %v", redact(err, url))
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return redact(err, url)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(snippet)))
	}
	return nil
}

// redact hides a secret URL in an error's message and keeps its chain
// (so a timeout is still recognised as one).
func redact(err error, url string) error {
	return redacted{strings.ReplaceAll(err.Error(), url, "<url>"), err}
}

type redacted struct {
	msg string
	err error
}

func (r redacted) Error() string { return r.msg }
func (r redacted) Unwrap() error { return r.err }

// PostJSON posts v as JSON and returns the body sent.
func PostJSON(ctx context.Context, url string, headers map[string]string, v any) (string, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	h := map[string]string{"Content-Type": "application/json", "User-Agent": "dbackup"}
	for k, val := range headers {
		h[k] = val
	}
	return string(body), Do(ctx, http.MethodPost, url, h, body)
}
