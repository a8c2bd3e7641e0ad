package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/auth"
	"github.com/dbackup/dbackup/internal/httpsec"
)

// Shorthands of the shared names.
const (
	SessionCookie = httpsec.SessionCookie
	CSRFHeader    = httpsec.CSRFHeader
)

// Route is one registered route and the permission it needs.
type Route struct {
	Pattern    string
	Permission auth.Permission
}

// handle registers a route behind the access check of its permission.
func (h *Handler) handle(pattern string, perm auth.Permission, fn http.HandlerFunc) {
	h.Routes = append(h.Routes, Route{pattern, perm})
	h.mux.HandleFunc(pattern, h.guard(perm, fn))
}

// Guard puts a handler outside the API behind the API's access check.
func (h *Handler) Guard(perm auth.Permission, fn http.HandlerFunc) http.Handler {
	return h.guard(perm, fn)
}

// guard authenticates the caller (API key or session), checks the route's
// permission and, for a session, the CSRF token of a state-changing request.
func (h *Handler) guard(perm auth.Permission, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if perm == auth.Public {
			next(w, r)
			return
		}
		ip := httpsec.ClientIP(r, h.app.Cfg.TrustedProxies)
		bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		session := ""
		if c, err := r.Cookie(SessionCookie); err == nil {
			session = c.Value
		}
		p, err := h.app.Authenticate(r.Context(), strings.TrimSpace(bearer), session, ip)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dbackup"`)
			writeError(w, http.StatusUnauthorized, err.Error())
			return
		}
		if !p.Role.Allows(perm) {
			writeError(w, http.StatusForbidden, "the "+string(p.Role)+" role may not do this ("+string(perm)+" needed)")
			return
		}
		if p.Session != nil && !safeMethod(r.Method) {
			if t := r.Header.Get(CSRFHeader); t == "" || auth.TokenHash(t) != p.Session.CSRFHash {
				writeError(w, http.StatusForbidden, "missing or wrong "+CSRFHeader+" header")
				return
			}
		}
		next(w, r.WithContext(app.WithPrincipal(r.Context(), p)))
	}
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// audited wraps a state-changing handler: it records the action, its
// target (the route's {ref} or {id}) and whether it succeeded.
func (h *Handler) audited(action string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next(rec, r)
		target := r.PathValue("ref")
		if target == "" {
			target = r.PathValue("id")
		}
		if target == "" {
			target = r.PathValue("name")
		}
		h.app.Audit(r.Context(), action, target, rec.status < 400, strconv.Itoa(rec.status))
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

type credentials struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	var c credentials
	if !decode(w, r, &c) {
		return
	}
	token, csrf, u, err := h.app.Login(r.Context(), c.Name, c.Password, httpsec.ClientIP(r, h.app.Cfg.TrustedProxies))
	if err != nil {
		status, retry := app.LoginStatus(err)
		if retry > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds())))
		}
		if status == http.StatusInternalServerError {
			fail(w, err)
			return
		}
		writeError(w, status, err.Error())
		return
	}
	h.setSession(w, r, token, time.Duration(0))
	writeJSON(w, http.StatusOK, map[string]any{"user": u, "csrf_token": csrf})
}

// setSession sets (or, with an empty token, clears) the session cookie.
func (h *Handler) setSession(w http.ResponseWriter, r *http.Request, token string, _ time.Duration) {
	c := &http.Cookie{Name: SessionCookie, Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: httpsec.Secure(r, h.app.Cfg.TrustedProxies)}
	if token == "" {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		h.app.Logout(r.Context(), c.Value)
	}
	h.setSession(w, r, "", 0)
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) setup(w http.ResponseWriter, r *http.Request) {
	var c credentials
	if !decode(w, r, &c) {
		return
	}
	ctx := app.WithPrincipal(r.Context(), &app.Principal{Actor: "user:" + c.Name, IP: httpsec.ClientIP(r, h.app.Cfg.TrustedProxies)})
	u, err := h.app.Setup(ctx, c.Name, c.Password)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

func (h *Handler) me(w http.ResponseWriter, r *http.Request) {
	p := app.PrincipalFrom(r.Context())
	writeJSON(w, http.StatusOK, map[string]string{"actor": p.Actor, "role": string(p.Role)})
}

func (h *Handler) userList(w http.ResponseWriter, r *http.Request) {
	list, err := h.app.ListUsers(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (h *Handler) userCreate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		credentials
		Role string `json:"role"`
	}
	if !decode(w, r, &in) {
		return
	}
	u, err := h.app.CreateUser(r.Context(), in.Name, in.Role, in.Password)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

func (h *Handler) userDelete(w http.ResponseWriter, r *http.Request) {
	if err := h.app.DeleteUser(r.Context(), r.PathValue("ref")); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) keyList(w http.ResponseWriter, r *http.Request) {
	list, err := h.app.ListAPIKeys(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (h *Handler) keyCreate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name      string `json:"name"`
		Role      string `json:"role"`
		ExpiresIn string `json:"expires_in,omitempty"` // a Go duration, e.g. "720h"
	}
	if !decode(w, r, &in) {
		return
	}
	var ttl time.Duration
	if in.ExpiresIn != "" {
		var err error
		if ttl, err = time.ParseDuration(in.ExpiresIn); err != nil || ttl <= 0 {
			writeError(w, http.StatusBadRequest, "expires_in must be a positive duration such as 720h")
			return
		}
	}
	key, k, err := h.app.CreateAPIKey(r.Context(), in.Name, in.Role, ttl)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"key": key, "api_key": k, "note": "the key is shown once; store it now"})
}

func (h *Handler) keyRevoke(w http.ResponseWriter, r *http.Request) {
	if err := h.app.RevokeAPIKey(r.Context(), r.PathValue("ref")); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) auditList(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	list, err := h.app.ListAudit(r.Context(), limit, offset)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// Metrics serves the Prometheus metrics: to a scraper with the configured
// bearer token, or, without one, to administrators.
func (h *Handler) Metrics() http.Handler {
	serve := h.app.Metrics.Handler()
	token := h.app.Cfg.MetricsToken
	if token == "" {
		return h.guard(auth.Administer, serve.ServeHTTP)
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(strings.TrimSpace(bearer)))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dbackup metrics"`)
			writeError(w, http.StatusUnauthorized, "send the metrics token (DBACKUP_METRICS_TOKEN) as a bearer token")
			return
		}
		serve.ServeHTTP(w, r)
	})
}
