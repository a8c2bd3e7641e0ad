package httpsec

import (
	"crypto/tls"
	"net/http"
	"time"
)

// Timeouts of the service: a request's headers and body must arrive in
// time (a client trickling bytes holds a connection, not the server); no
// write timeout, for the live log's long-lived event stream.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 2 * time.Minute
	IdleTimeout       = 2 * time.Minute
)

// TLSConfig allows TLS 1.2 with AEAD cipher suites only (no CBC, no
// SHA-1), and TLS 1.3.
func TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}

// NewServer is the service's HTTP server for h; with useTLS, every answer
// tells browsers to use HTTPS only (HSTS).
func NewServer(h http.Handler, useTLS bool) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout, IdleTimeout: IdleTimeout}
	if useTLS {
		srv.TLSConfig = TLSConfig()
		srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
			h.ServeHTTP(w, r)
		})
	}
	return srv
}
