package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dbackup/dbackup/internal/auth"
	"github.com/dbackup/dbackup/internal/backup"
)

// Security settings.
const (
	SettingSessionHours   = "session_lifetime_hours"
	SettingAuditDays      = "audit_retention_days"
	SettingLoginFailures  = "login_max_failures"
	loginWindow           = 15 * time.Minute
	ipFailuresPerUserRate = 4 // an address may fail this many times the per-user limit
)

func init() {
	settings[SettingSessionHours] = setting{"24", "hours a login lasts", intRange(1, 24*90)}
	settings[SettingAuditDays] = setting{"365", "days audit log entries are kept", intRange(1, 3650)}
	settings[SettingLoginFailures] = setting{"5", "failed logins per user (and 4 × that per address) in 15 minutes before login is refused for a while", intRange(1, 100)}
}

// ErrUnauthenticated and ErrForbidden are what access control answers.
var (
	ErrUnauthenticated = errors.New("login required")
	ErrForbidden       = errors.New("not allowed")
)

// Principal is who makes a request: a logged-in user or an API key.
type Principal struct {
	Actor   string // "user:alice", "key:ci"
	Role    auth.Role
	UserID  string
	Session *backup.Session // nil for API keys
	IP      string
}

type principalKey struct{}

// WithPrincipal attaches p to ctx, for the audit log.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal of ctx, if any.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// limiters slow down password guessing, per user name and per address.
type limiters struct {
	once         sync.Once
	user, byAddr *auth.Limiter
}

func (a *App) limits(ctx context.Context) (*auth.Limiter, *auth.Limiter) {
	a.lim.once.Do(func() {
		n := a.intSetting(ctx, SettingLoginFailures)
		a.lim.user, a.lim.byAddr = auth.NewLimiter(n, loginWindow), auth.NewLimiter(n*ipFailuresPerUserRate, loginWindow)
	})
	return a.lim.user, a.lim.byAddr
}

// maxAuditField bounds every text an audit entry stores: some come from
// requests made before login.
const maxAuditField = 256

// clip cuts s to at most n bytes, on a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Audit records what the caller in ctx did (the CLI when there is none).
func (a *App) Audit(ctx context.Context, action, target string, ok bool, detail string) {
	e := &backup.AuditEntry{Actor: "cli", Action: action, Target: target, OK: ok, Detail: detail}
	if p := PrincipalFrom(ctx); p != nil {
		e.Actor, e.IP = p.Actor, p.IP
	}
	e.Actor, e.IP, e.Action = clip(e.Actor, maxAuditField), clip(e.IP, maxAuditField), clip(e.Action, maxAuditField)
	e.Target, e.Detail = clip(e.Target, maxAuditField), clip(e.Detail, 4*maxAuditField)
	if err := a.Store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		a.Log.Error("audit log", "action", action, "error", err)
	}
}

// NeedsSetup reports whether no user exists yet (the first start).
func (a *App) NeedsSetup(ctx context.Context) (bool, error) {
	n, err := a.Store.CountUsers(ctx)
	return n == 0, err
}

// Setup creates the first admin, exactly once, however many setups run at
// the same time; it refuses once any user exists.
func (a *App) Setup(ctx context.Context, name, password string) (u *backup.User, err error) {
	defer func() { a.Audit(ctx, "setup", name, err == nil, errText(err)) }()
	exists := fmt.Errorf("%w: the first admin exists already; log in", backup.ErrConflict)
	if need, err := a.NeedsSetup(ctx); err != nil {
		return nil, err
	} else if !need {
		return nil, exists
	}
	if u, err = a.newUser(name, string(auth.Admin), password); err != nil {
		return nil, err
	}
	created, err := a.Store.CreateFirstUser(ctx, u)
	switch {
	case err != nil:
		return nil, err
	case !created:
		return nil, exists
	}
	return u, nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// CreateUser adds a user with a role and a password (10 characters or more).
func (a *App) CreateUser(ctx context.Context, name, role, password string) (*backup.User, error) {
	u, err := a.newUser(name, role, password)
	if err != nil {
		return nil, err
	}
	if err := a.Store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	a.Audit(ctx, "user.create", name, true, "role "+u.Role)
	return u, nil
}

// newUser checks a new user's name, role and password and hashes it.
func (a *App) newUser(name, role, password string) (*backup.User, error) {
	if err := backup.CheckName("a user name", name); err != nil || strings.ContainsAny(name, " :/") {
		return nil, fmt.Errorf("%w: a user name is required, at most %d bytes, without spaces, colons, slashes or control characters", backup.ErrInvalid, backup.MaxNameBytes)
	}
	r, err := auth.ParseRole(role)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", backup.ErrInvalid, err)
	}
	if len(password) > maxPasswordBytes {
		return nil, fmt.Errorf("%w: a password of at most %d bytes", backup.ErrInvalid, maxPasswordBytes)
	}
	h, err := auth.HashPassword(password)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", backup.ErrInvalid, err)
	}
	return &backup.User{Name: name, Role: string(r), PasswordHash: h}, nil
}

// SetPassword replaces a user's password and ends their sessions.
func (a *App) SetPassword(ctx context.Context, ref, password string) error {
	u, err := a.Store.GetUser(ctx, ref)
	if err != nil {
		return err
	}
	if u.PasswordHash, err = auth.HashPassword(password); err != nil {
		return fmt.Errorf("%w: %v", backup.ErrInvalid, err)
	}
	err = a.Store.UpdateUser(ctx, u)
	a.Audit(ctx, "user.password", u.Name, err == nil, errText(err))
	return err
}

// DeleteUser removes a user; the last admin stays.
func (a *App) DeleteUser(ctx context.Context, ref string) error {
	u, err := a.Store.GetUser(ctx, ref)
	if err != nil {
		return err
	}
	if u.Role == string(auth.Admin) {
		users, err := a.Store.ListUsers(ctx)
		if err != nil {
			return err
		}
		admins := 0
		for _, x := range users {
			if x.Role == string(auth.Admin) {
				admins++
			}
		}
		if admins == 1 {
			return fmt.Errorf("%w: %s is the last admin", backup.ErrConflict, u.Name)
		}
	}
	err = a.Store.DeleteUser(ctx, u.ID)
	a.Audit(ctx, "user.delete", u.Name, err == nil, errText(err))
	if err != nil {
		return err
	}
	// The keys a person made leave with them: a script that must outlive
	// its author gets a key from someone who stays.
	keys, err := a.Store.ListAPIKeys(ctx)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	for _, k := range keys {
		if k.CreatedBy == "user:"+u.Name && k.RevokedAt == nil {
			err := a.Store.RevokeAPIKey(ctx, k.ID, now)
			a.Audit(ctx, "apikey.revoke", k.Name, err == nil, "its creator, user "+u.Name+", was deleted")
		}
	}
	return nil
}

// ListUsers lists users (never their password hashes: the JSON omits them).
func (a *App) ListUsers(ctx context.Context) ([]*backup.User, error) { return a.Store.ListUsers(ctx) }

// LoginError says when a refused login may be tried again. First is set
// on the first refusal of a window, the one that is audited.
type LoginError struct {
	RetryAfter time.Duration
	First      bool
}

func (e *LoginError) Error() string {
	return fmt.Sprintf("too many failed logins: try again in %s", e.RetryAfter)
}

// ErrBusy: every password check slot is taken; the login was not judged.
var ErrBusy = errors.New("too many logins at once: try again in a moment")

// LoginStatus is the HTTP status of a refused login and, when it may be
// tried again later, after how long.
func LoginStatus(err error) (int, time.Duration) {
	var le *LoginError
	switch {
	case errors.As(err, &le):
		return 429, le.RetryAfter
	case errors.Is(err, ErrBusy):
		return 503, time.Second
	case errors.Is(err, ErrUnauthenticated):
		return 401, 0
	}
	return 500, 0
}

// Limits of what a login may send: a longer name or password is wrong
// without being hashed.
const (
	maxNameBytes     = 256
	maxPasswordBytes = 1024
)

// checkPassword runs the slow hash in one of a few slots: argon2id takes
// 19 MiB and a core's time, so concurrent logins cannot exhaust memory.
// With every slot taken for a second, it gives up with ErrBusy.
func (a *App) checkPassword(ctx context.Context, u *backup.User, password string) (bool, error) {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case a.hashSlots <- struct{}{}:
	case <-t.C:
		return false, ErrBusy
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-a.hashSlots }()
	if u == nil {
		auth.CheckNoUser(password) // the same time as a real check
		return false, nil
	}
	return auth.CheckPassword(u.PasswordHash, password), nil
}

// attempt counts a password attempt against the limits of the user (key)
// and of the address before judging it, then checks it unless judge is
// false (an attempt wrong on its face). A refused attempt returns a
// *LoginError; a success clears the user's count.
func (a *App) attempt(ctx context.Context, key, ip string, u *backup.User, password string, judge bool) (bool, error) {
	byUser, byAddr := a.limits(ctx)
	wait, first := byAddr.Take(ip)
	if wait == 0 {
		if wait, first = byUser.Take(key); wait > 0 {
			byAddr.Refund(ip)
		}
	}
	if wait > 0 {
		return false, &LoginError{RetryAfter: wait, First: first}
	}
	if !judge {
		return false, nil
	}
	ok, err := a.checkPassword(ctx, u, password)
	switch {
	case err != nil:
		byUser.Refund(key)
		byAddr.Refund(ip)
	case ok:
		byUser.Reset(key)
		byAddr.Refund(ip)
	}
	return ok, err
}

// Login checks a user's password and opens a session. It returns the
// session token and the CSRF token for the browser. Each attempt counts
// against the limits of the user (resolved: a name and an id are the same
// user) and of the address before it is judged, so concurrent guesses get
// no more tries than sequential ones.
func (a *App) Login(ctx context.Context, name, password, ip string) (token, csrf string, u *backup.User, err error) {
	actx := WithPrincipal(ctx, &Principal{Actor: "user:" + name, IP: ip})
	key := "name:" + strings.ToLower(name)
	if len(name) <= maxNameBytes && len(password) <= maxPasswordBytes {
		if found, gerr := a.Store.GetUser(ctx, name); gerr == nil {
			u, key = found, "user:"+found.ID
		}
	} else {
		key = "oversized"
	}
	ok, err := a.attempt(ctx, key, ip, u, password, key != "oversized")
	var le *LoginError
	switch {
	case errors.As(err, &le):
		if le.First { // once per window, not once per attempt
			a.Audit(actx, "login", name, false, "rate limited: further attempts are refused without a record until "+time.Now().Add(le.RetryAfter).UTC().Format(time.RFC3339))
		}
		return "", "", nil, err
	case err != nil:
		return "", "", nil, err
	case !ok:
		a.Audit(actx, "login", name, false, "wrong user name or password")
		return "", "", nil, fmt.Errorf("%w: wrong user name or password", ErrUnauthenticated)
	}
	token, hash := auth.NewToken()
	csrf, csrfHash := auth.NewToken()
	now := time.Now().UTC()
	se := &backup.Session{TokenHash: hash, UserID: u.ID, CSRFHash: csrfHash, IP: ip, CreatedAt: now,
		ExpiresAt: now.Add(time.Duration(a.intSetting(ctx, SettingSessionHours)) * time.Hour)}
	if err := a.Store.CreateSession(ctx, se); err != nil {
		return "", "", nil, err
	}
	a.Store.DeleteExpiredSessions(ctx, now)
	a.Audit(WithPrincipal(ctx, &Principal{Actor: "user:" + u.Name, IP: ip}), "login", u.Name, true, "")
	return token, csrf, u, nil
}

// Logout ends a session.
func (a *App) Logout(ctx context.Context, token string) error {
	err := a.Store.DeleteSession(ctx, auth.TokenHash(token))
	a.Audit(ctx, "logout", "", err == nil, errText(err))
	return err
}

// Authenticate finds who presents an API key (bearer) or a session token.
func (a *App) Authenticate(ctx context.Context, bearer, session, ip string) (*Principal, error) {
	now := time.Now().UTC()
	if bearer != "" {
		id, secret, ok := auth.ParseAPIKey(bearer)
		if !ok {
			return nil, fmt.Errorf("%w: malformed API key", ErrUnauthenticated)
		}
		k, err := a.Store.GetAPIKey(ctx, id)
		if err != nil || k.ID != id || !auth.CheckKey(k.Salt, k.Hash, secret) {
			return nil, fmt.Errorf("%w: unknown API key", ErrUnauthenticated)
		}
		if !k.Usable(now) {
			return nil, fmt.Errorf("%w: API key %s is revoked or expired", ErrUnauthenticated, k.Name)
		}
		if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) > time.Minute {
			a.Store.TouchAPIKey(ctx, k.ID, now)
		}
		return &Principal{Actor: "key:" + k.Name, Role: auth.Role(k.Role), IP: ip}, nil
	}
	if session == "" {
		return nil, ErrUnauthenticated
	}
	se, err := a.Store.GetSession(ctx, auth.TokenHash(session))
	if err != nil || now.After(se.ExpiresAt) {
		return nil, fmt.Errorf("%w: the session expired; log in again", ErrUnauthenticated)
	}
	u, err := a.Store.GetUser(ctx, se.UserID)
	if err != nil {
		return nil, ErrUnauthenticated
	}
	return &Principal{Actor: "user:" + u.Name, Role: auth.Role(u.Role), UserID: u.ID, Session: se, IP: ip}, nil
}

// CreateAPIKey makes a key with a role and an optional lifetime; the key
// is returned once and only its salted hash is kept.
func (a *App) CreateAPIKey(ctx context.Context, name, role string, ttl time.Duration) (string, *backup.APIKey, error) {
	if strings.TrimSpace(name) == "" {
		return "", nil, fmt.Errorf("%w: a key name is required", backup.ErrInvalid)
	}
	r, err := auth.ParseRole(role)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", backup.ErrInvalid, err)
	}
	id, key, salt, hash := auth.NewAPIKey()
	k := &backup.APIKey{ID: id, Name: name, Role: string(r), Salt: salt, Hash: hash, CreatedBy: "cli"}
	if p := PrincipalFrom(ctx); p != nil {
		k.CreatedBy = p.Actor
	}
	if ttl > 0 {
		exp := time.Now().UTC().Add(ttl)
		k.ExpiresAt = &exp
	}
	if err := a.Store.CreateAPIKey(ctx, k); err != nil {
		return "", nil, err
	}
	a.Audit(ctx, "apikey.create", name, true, "role "+string(r))
	return key, k, nil
}

// ListAPIKeys lists keys (never their hashes).
func (a *App) ListAPIKeys(ctx context.Context) ([]*backup.APIKey, error) {
	return a.Store.ListAPIKeys(ctx)
}

// RevokeAPIKey makes a key unusable at once.
func (a *App) RevokeAPIKey(ctx context.Context, ref string) error {
	k, err := a.Store.GetAPIKey(ctx, ref)
	if err != nil {
		return err
	}
	err = a.Store.RevokeAPIKey(ctx, k.ID, time.Now().UTC())
	a.Audit(ctx, "apikey.revoke", k.Name, err == nil, errText(err))
	return err
}

// ListAudit lists the audit log, newest first, after pruning what is older
// than the retention setting.
func (a *App) ListAudit(ctx context.Context, limit, offset int) ([]backup.AuditEntry, error) {
	days := a.intSetting(ctx, SettingAuditDays)
	a.Store.PruneAudit(ctx, time.Now().UTC().AddDate(0, 0, -days))
	return a.Store.ListAudit(ctx, limit, offset)
}

// RevealProfileKey returns a profile's key to a signed-in user who types
// their password again (counted by the login limiter like a login).
// Every attempt is audited.
func (a *App) RevealProfileKey(ctx context.Context, p *Principal, ref, password string) (*backup.Profile, error) {
	prof, err := a.Store.GetProfile(ctx, ref)
	if err != nil {
		return nil, err
	}
	if p == nil || p.UserID == "" {
		return nil, fmt.Errorf("%w: revealing a key needs a signed-in user", ErrUnauthenticated)
	}
	u, err := a.Store.GetUser(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	ok, err := a.attempt(ctx, "user:"+u.ID, p.IP, u, password, len(password) <= maxPasswordBytes)
	var le *LoginError
	if errors.As(err, &le) {
		if le.First {
			a.Audit(ctx, "profile.export-key", prof.Name, false, "rate limited")
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		a.Audit(ctx, "profile.export-key", prof.Name, false, "wrong password")
		return nil, fmt.Errorf("%w: wrong password", ErrUnauthenticated)
	}
	a.Audit(ctx, "profile.export-key", prof.Name, true, "")
	return prof, nil
}
