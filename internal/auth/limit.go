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
	refused  map[string]time.Time // when a key's current refusal was first reported
}

// NewLimiter allows max failures per window.
func NewLimiter(max int, window time.Duration) *Limiter {
	return &Limiter{Max: max, Window: window, Now: time.Now, failures: map[string][]time.Time{}, refused: map[string]time.Time{}}
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

// Take counts an attempt of key before it is judged, so that concurrent
// attempts cannot pass the limit together: it returns 0 and counts the
// attempt, or how long key must wait. first is set on the first refusal
// of key within a window (to report it once, not at every attempt).
func (l *Limiter) Take(key string) (wait time.Duration, first bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.recent(key)
	if len(f) < l.Max {
		l.failures[key] = append(f, l.Now())
		return 0, false
	}
	now := l.Now()
	if at, ok := l.refused[key]; !ok || now.Sub(at) >= l.Window {
		l.refused[key], first = now, true
	}
	return f[len(f)-l.Max].Add(l.Window).Sub(now).Round(time.Second) + time.Second, first
}

// Refund gives back an attempt that Take counted but that was never
// judged (the server was too busy to check it).
func (l *Limiter) Refund(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.failures[key]; len(f) > 0 {
		l.failures[key] = f[:len(f)-1]
	}
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
	delete(l.refused, key)
}
