// Package memdest is an in-memory destination for tests.
package memdest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dbackup/dbackup/internal/dest"
)

// Mem keeps objects in a map.
type Mem struct {
	mu      sync.Mutex
	objects map[string][]byte
	times   map[string]time.Time
}

var _ dest.Destination = (*Mem)(nil)

// New returns an empty destination.
func New() *Mem {
	return &Mem{objects: map[string][]byte{}, times: map[string]time.Time{}}
}

func (m *Mem) Check(context.Context) error { return nil }

func (m *Mem) Put(ctx context.Context, key string, r io.Reader) (dest.ObjectInfo, error) {
	return m.store(ctx, key, r, false)
}

// Replace stores like Put but replaces an existing object.
func (m *Mem) Replace(ctx context.Context, key string, r io.Reader) (dest.ObjectInfo, error) {
	return m.store(ctx, key, r, true)
}

func (m *Mem) store(ctx context.Context, key string, r io.Reader, replace bool) (dest.ObjectInfo, error) {
	k, err := dest.CleanKey(key)
	if err != nil {
		return dest.ObjectInfo{}, err
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return dest.ObjectInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return dest.ObjectInfo{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objects[k]; ok && !replace {
		return dest.ObjectInfo{}, fmt.Errorf("%w: %s", dest.ErrExists, key)
	}
	m.objects[k] = buf.Bytes()
	m.times[k] = time.Now()
	return dest.ObjectInfo{Key: k, Size: int64(buf.Len()), ModTime: m.times[k]}, nil
}

func (m *Mem) Open(_ context.Context, key string) (io.ReadCloser, error) {
	if _, err := dest.CleanKey(key); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objects[key]
	if !ok {
		return nil, fmt.Errorf("%w: %s", dest.ErrNotFound, key)
	}
	return seekable{bytes.NewReader(b)}, nil
}

// seekable is a readable, seekable, closable copy of an object.
type seekable struct{ *bytes.Reader }

func (seekable) Close() error { return nil }

func (m *Mem) Stat(_ context.Context, key string) (dest.ObjectInfo, error) {
	if _, err := dest.CleanKey(key); err != nil {
		return dest.ObjectInfo{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objects[key]
	if !ok {
		return dest.ObjectInfo{}, fmt.Errorf("%w: %s", dest.ErrNotFound, key)
	}
	return dest.ObjectInfo{Key: key, Size: int64(len(b)), ModTime: m.times[key]}, nil
}

func (m *Mem) List(_ context.Context, prefix string) ([]dest.ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []dest.ObjectInfo
	for k, b := range m.objects {
		if strings.HasPrefix(k, prefix) {
			out = append(out, dest.ObjectInfo{Key: k, Size: int64(len(b)), ModTime: m.times[k]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (m *Mem) Delete(_ context.Context, key string) error {
	if _, err := dest.CleanKey(key); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objects[key]; !ok {
		return fmt.Errorf("%w: %s", dest.ErrNotFound, key)
	}
	delete(m.objects, key)
	return nil
}

func (m *Mem) Close() error { return nil }
