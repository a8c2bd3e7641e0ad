package email

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/dbackup/dbackup/internal/notify"
)

// sink is an in-process SMTP server (no real one is available here) that
// records every message and the credentials it was given.
type sink struct {
	mu   sync.Mutex
	msgs []message
}

type message struct {
	from, user, pass string
	to               []string
	data             string
}

type session struct {
	s   *sink
	msg message
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }
func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error { ss.msg.user, ss.msg.pass = user, pass; return nil }), nil
}
func (ss *session) Mail(from string, _ *smtp.MailOptions) error { ss.msg.from = from; return nil }
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.msg.to = append(ss.msg.to, to)
	return nil
}
func (ss *session) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	ss.msg.data = string(b)
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, ss.msg)
	ss.s.mu.Unlock()
	return nil
}
func (ss *session) Reset()        {}
func (ss *session) Logout() error { return nil }

func TestEmailMultipartToSeveralRecipients(t *testing.T) {
	t.Parallel()
	sk := &sink{}
	srv := smtp.NewServer(sk)
	srv.AllowInsecureAuth = true
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port

	m, err := New(Config{Host: "127.0.0.1", Port: port, Security: "none", Username: "mailer", From: "dbackup@example.org",
		To: []string{"ops@example.org", "dba@example.org"}}, "smtp-pass-1")
	if err != nil {
		t.Fatal(err)
	}
	e := notify.Event{Kind: notify.KindBackup, Outcome: notify.OutcomeFailed, Title: "Backup failed: prod <pg>", Message: "pg_dump exited with status 1",
		Fields: []notify.Field{{Name: "Job", Value: "prod"}, {Name: "Error", Value: "connection refused"}}, Time: time.Now()}
	payload, err := m.Notify(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(payload, "smtp-pass-1") {
		t.Fatal("the logged payload contains the password")
	}
	sk.mu.Lock()
	defer sk.mu.Unlock()
	if len(sk.msgs) != 1 {
		t.Fatalf("%d messages", len(sk.msgs))
	}
	msg := sk.msgs[0]
	if msg.from != "dbackup@example.org" || strings.Join(msg.to, ",") != "ops@example.org,dba@example.org" || msg.user != "mailer" || msg.pass != "smtp-pass-1" {
		t.Fatalf("envelope: %+v", msg)
	}
	for _, want := range []string{"Subject: [dbackup] Backup failed: prod <pg>", "multipart/alternative", "text/plain", "text/html",
		"Error: connection refused", "Backup failed: prod &lt;pg&gt;", "#cf222e"} {
		if !strings.Contains(msg.data, want) {
			t.Errorf("message lacks %q:\n%s", want, msg.data)
		}
	}
}

func TestEmailStartTLSRequiredByDefault(t *testing.T) {
	t.Parallel()
	sk := &sink{}
	srv := smtp.NewServer(sk)
	srv.AllowInsecureAuth = true
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	// The server offers no STARTTLS: the default policy must refuse to send in clear.
	m, _ := New(Config{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, From: "a@example.org", To: []string{"b@example.org"}}, "")
	if _, err := m.Notify(context.Background(), notify.Event{Title: "t", Outcome: notify.OutcomeSuccess}); err == nil {
		t.Fatal("mail sent in clear although STARTTLS is required")
	}
	if len(sk.msgs) != 0 {
		t.Fatal("a message arrived")
	}
}
