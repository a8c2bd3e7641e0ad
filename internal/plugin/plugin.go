// Package plugin holds what every plugin family shares: strict config
// decoding and an explicit registry of constructors.
package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"

	"github.com/dbackup/dbackup/internal/backup"
)

// DecodeStrict decodes raw into v, refusing unknown fields and trailing data.
func DecodeStrict(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: config: %v", backup.ErrInvalid, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: config: trailing data", backup.ErrInvalid)
	}
	return nil
}

// Factory builds a plugin instance from its stored config and secrets.
type Factory[T any] struct {
	Type    string
	Label   string
	Secrets []string // names of the secrets it accepts
	// Fields describe the config, for forms (Typed fills them).
	Fields []Field
	New    func(config json.RawMessage, secrets map[string]string) (T, error)
}

// Typed is a factory whose config decodes strictly into a C, which build
// validates and turns into the plugin with its secrets.
func Typed[C, T any](typ, label string, secrets []string, build func(c C, secrets map[string]string) (T, error)) Factory[T] {
	return Factory[T]{Type: typ, Label: label, Secrets: secrets, Fields: describe(reflect.TypeFor[C]()), New: func(raw json.RawMessage, s map[string]string) (T, error) {
		var c C
		if err := DecodeStrict(raw, &c); err != nil {
			var zero T
			return zero, err
		}
		return build(c, s)
	}}
}

// Registry is the explicit list of a family's plugins.
type Registry[T any] struct {
	family    string
	factories map[string]Factory[T]
	// Wrap, when set, wraps every instance New builds (retries, logging).
	Wrap func(e *backup.Endpoint, v T) T
	// Allow, when set, vets an endpoint's config before New builds it
	// (the server's own limits, such as which programs may run).
	Allow func(e *backup.Endpoint, fields []Field) error
}

// NewRegistry builds a registry from an explicit list.
func NewRegistry[T any](family string, fs ...Factory[T]) *Registry[T] {
	r := &Registry[T]{family: family, factories: map[string]Factory[T]{}}
	for _, f := range fs {
		r.factories[f.Type] = f
	}
	return r
}

// Lookup returns the factory of a plugin type.
func (r *Registry[T]) Lookup(typ string) (Factory[T], error) {
	f, ok := r.factories[typ]
	if !ok {
		return f, fmt.Errorf("%w: unknown %s type %q (known: %v)", backup.ErrInvalid, r.family, typ, r.Types())
	}
	return f, nil
}

// Types lists the registered types, sorted.
func (r *Registry[T]) Types() []string {
	var out []string
	for t := range r.factories {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// New builds an instance for an endpoint, rejecting unknown secret names.
func (r *Registry[T]) New(e *backup.Endpoint) (T, error) {
	var zero T
	f, err := r.Lookup(e.Type)
	if err != nil {
		return zero, err
	}
	for name := range e.Secrets {
		if !contains(f.Secrets, name) {
			return zero, fmt.Errorf("%w: %s %q does not take a secret named %q (accepts %v)", backup.ErrInvalid, r.family, e.Type, name, f.Secrets)
		}
	}
	if r.Allow != nil {
		if err := r.Allow(e, f.Fields); err != nil {
			return zero, err
		}
	}
	v, err := f.New(e.Config, e.Secrets)
	if err != nil || r.Wrap == nil {
		return v, err
	}
	return r.Wrap(e, v), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
