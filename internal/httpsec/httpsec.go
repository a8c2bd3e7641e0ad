// Package httpsec holds what the API and the web pages share about HTTP
// security: cookie and header names, the client's address behind trusted
// proxies, when cookies must be Secure, and the security headers.
package httpsec

import (
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
)

// Names of the session cookie and of the CSRF header of API calls made
// with a session.
const (
	SessionCookie = "dbackup_session"
	CSRFHeader    = "X-CSRF-Token"
)

// ClientIP is the caller's address: the peer, or what a trusted proxy in
// front of it says in X-Forwarded-For (its last entry: the one it added).
func ClientIP(r *http.Request, trusted []*net.IPNet) string {
	host := peer(r)
	if fromTrusted(host, trusted) {
		if f := r.Header.Get("X-Forwarded-For"); f != "" {
			parts := strings.Split(f, ",")
			return strings.TrimSpace(parts[len(parts)-1])
		}
	}
	return host
}

// Secure tells whether cookies must be Secure: the request came over TLS,
// or a trusted proxy says the client used https.
func Secure(r *http.Request, trusted []*net.IPNet) bool {
	if r.TLS != nil {
		return true
	}
	return fromTrusted(peer(r), trusted) && r.Header.Get("X-Forwarded-Proto") == "https"
}

func peer(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func fromTrusted(host string, trusted []*net.IPNet) bool {
	ip := net.ParseIP(host)
	for _, n := range trusted {
		if ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

// Headers sets the headers every answer carries, with a Content Security
// Policy.
func Headers(hd http.Header, csp string) {
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
}

// ServeDownload sends body as a file attachment and closes it. Without a
// Content-Length: when the body fails (a backup found damaged at its end),
// the connection is broken before the chunked answer ends, so the client
// sees a failed download rather than a complete wrong file.
func ServeDownload(w http.ResponseWriter, name string, body io.ReadCloser, log *slog.Logger) {
	defer body.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	if _, err := io.Copy(w, body); err != nil {
		log.Warn("download failed", "file", name, "err", err)
		panic(http.ErrAbortHandler)
	}
}
