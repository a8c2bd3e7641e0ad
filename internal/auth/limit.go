package auth

import (
	"sync"
	"time"
)

// Limiter slows down password guessing: after Max failures of one key (a
// user name, an address) within Window, that key is refused until the
// oldest of those failures is Window old.
type Limiter struct {
	Max    int
	Window time.Duration
	Now    func() time.Time

	mu       sync.Mutex
	failures map[string][]time.Time
}

// NewLimiter allows max failures per window.
func NewLimiter(max int, window time.Duration) *Limiter {
	return &Limiter{Max: max, Window: window, Now: time.Now, failures: map[string][]time.Time{}}
}

// recent drops failures older than the window; the caller holds mu.
func (l *Limiter) recent(key string) []time.Time {
	cut := l.Now().Add(-l.Window)
	f := l.failures[key]
	i := 0
	for i < len(f) && !f[i].After(cut) {
		i++
	}
	f = f[i:]
	if len(f) == 0 {
		delete(l.failures, key)
	} else {
		l.failures[key] = f
	}
	return f
}

// Wait is how long key must wait before its next attempt (0: go ahead).
func (l *Limiter) Wait(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.recent(key)
	if len(f) < l.Max {
		return 0
	}
	return f[len(f)-l.Max].Add(l.Window).Sub(l.Now()).Round(time.Second) + time.Second
}

// Fail records a failed attempt of key.
func (l *Limiter) Fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures[key] = append(l.recent(key), l.Now())
}

// Reset forgets key's failures (after a successful login).
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, key)
}
