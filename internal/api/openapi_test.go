package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The description covers every registered route and nothing else, each
// with its permission, and docs/openapi.json is the one served
// (UPDATE_OPENAPI=1 rewrites it).
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	_, a := setup(t)
	h := New(a)
	d := docs()
	registered := map[string]bool{}
	for _, r := range h.Routes {
		registered[r.Pattern] = true
		if _, ok := d[r.Pattern]; !ok {
			t.Errorf("route %s has no description in openapi.go", r.Pattern)
		}
	}
	for p := range d {
		if !registered[p] {
			t.Errorf("openapi.go describes %s, which is not a route", p)
		}
	}
	spec := specOf(t, h)
	n := 0
	for path, item := range spec["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			n++
			pattern := strings.ToUpper(method) + " " + path
			perm := op.(map[string]any)["x-dbackup-permission"]
			i := slices.IndexFunc(h.Routes, func(r Route) bool { return r.Pattern == pattern })
			if i < 0 || perm != string(h.Routes[i].Permission) {
				t.Errorf("%s: permission %v, registered %v", pattern, perm, h.Routes)
			}
		}
	}
	if n != len(h.Routes) {
		t.Errorf("%d operations described, %d routes", n, len(h.Routes))
	}
	got, _ := json.MarshalIndent(spec, "", "  ")
	got = append(got, '\n')
	if os.Getenv("UPDATE_OPENAPI") == "1" {
		os.WriteFile("../../docs/openapi.json", got, 0o644)
	}
	if want, _ := os.ReadFile("../../docs/openapi.json"); !bytes.Equal(normalizeVersion(got), normalizeVersion(want)) {
		t.Fatal("docs/openapi.json is not what the server describes: run UPDATE_OPENAPI=1 go test ./internal/api -run TestOpenAPIDescribesEveryRoute")
	}
	// Served, publicly.
	c, _ := setup(t)
	resp, err := http.Get(c.base + "/api/v1/openapi.json")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET openapi.json: %v %v", resp, err)
	}
	resp.Body.Close()
}

// normalizeVersion blanks the version, which follows the build.
func normalizeVersion(b []byte) []byte {
	var m map[string]any
	json.Unmarshal(b, &m)
	if info, ok := m["info"].(map[string]any); ok {
		info["version"] = ""
	}
	out, _ := json.Marshal(m)
	return out
}

// specOf is the description as a client reads it.
func specOf(t testing.TB, h *Handler) map[string]any {
	raw, err := json.Marshal(h.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	json.Unmarshal(raw, &spec)
	return spec
}

// checkAnswer validates an answer of the API against the description: the
// schema of its route's success status, or the error schema.
func checkAnswer(spec map[string]any, mux *http.ServeMux, req *http.Request, status int, body []byte) error {
	_, pattern := mux.Handler(req)
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		return nil // not a route: the catch-all 404
	}
	op, _ := spec["paths"].(map[string]any)[path].(map[string]any)[strings.ToLower(method)].(map[string]any)
	if op == nil {
		return fmt.Errorf("%s is not described", pattern)
	}
	responses := op["responses"].(map[string]any)
	r, _ := responses[strconv.Itoa(status)].(map[string]any)
	if r == nil {
		if status < 400 {
			return fmt.Errorf("%s answered %d, which is not described", pattern, status)
		}
		r = responses["default"].(map[string]any)
	}
	content, _ := r["content"].(map[string]any)
	if sse, ok := content["text/event-stream"].(map[string]any); ok {
		return checkEvents(spec, sse["itemSchema"].(map[string]any), pattern, body)
	}
	js, _ := content["application/json"].(map[string]any)
	if js == nil {
		if len(body) > 0 && content == nil {
			return fmt.Errorf("%s answered %d with a body the description does not have", pattern, status)
		}
		return nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("%s: not JSON: %v", pattern, err)
	}
	defs := spec["components"].(map[string]any)["schemas"].(map[string]any)
	if err := validate(defs, js["schema"].(map[string]any), v, "$"); err != nil {
		return fmt.Errorf("%s %d: %v", pattern, status, err)
	}
	return nil
}

// checkEvents validates every event of a Server-Sent Events answer.
func checkEvents(spec, item map[string]any, pattern string, body []byte) error {
	defs := spec["components"].(map[string]any)["schemas"].(map[string]any)
	n := 0
	for _, line := range strings.Split(string(body), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		n++
		var v any
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			return fmt.Errorf("%s: event %d is not JSON: %v", pattern, n, err)
		}
		if err := validate(defs, item, v, fmt.Sprintf("event %d", n)); err != nil {
			return fmt.Errorf("%s: %v", pattern, err)
		}
	}
	if n == 0 {
		return fmt.Errorf("%s: no event", pattern)
	}
	return nil
}

// validate checks a JSON value against the JSON Schema subset the
// description uses: $ref, anyOf, type, properties, required,
// additionalProperties, items.
func validate(defs map[string]any, s map[string]any, v any, at string) error {
	if ref, ok := s["$ref"].(string); ok {
		return validate(defs, defs[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any), v, at)
	}
	if alts, ok := s["anyOf"].([]any); ok {
		var errs []string
		for _, alt := range alts {
			err := validate(defs, alt.(map[string]any), v, at)
			if err == nil {
				return nil
			}
			errs = append(errs, err.Error())
		}
		return fmt.Errorf("%s: none of %s", at, strings.Join(errs, "; "))
	}
	if typ, ok := s["type"]; ok {
		types := []any{typ}
		if list, ok := typ.([]any); ok {
			types = list
		}
		if !slices.ContainsFunc(types, func(t any) bool { return isType(v, t.(string)) }) {
			return fmt.Errorf("%s: %T is not %v", at, v, typ)
		}
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asList(s["required"]) {
			if _, ok := x[r]; !ok {
				return fmt.Errorf("%s: %q is missing", at, r)
			}
		}
		for k, val := range x {
			if ps, ok := props[k].(map[string]any); ok {
				if err := validate(defs, ps, val, at+"."+k); err != nil {
					return err
				}
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					return fmt.Errorf("%s: %q is not described", at, k)
				}
			case map[string]any:
				if err := validate(defs, ap, val, at+"."+k); err != nil {
					return err
				}
			}
		}
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for i, e := range x {
				if err := validate(defs, items, e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func isType(v any, t string) bool {
	switch t {
	case "null":
		return v == nil
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == float64(int64(f))
	}
	return false
}

func asList(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		out = append(out, x.(string))
	}
	return out
}

// The validator itself fails where it should.
func TestValidatorRefusesWrongShapes(t *testing.T) {
	defs := map[string]any{"J": map[string]any{"type": "object", "properties": map[string]any{"id": map[string]any{"type": "string"}},
		"required": []any{"id"}, "additionalProperties": false}}
	ref := map[string]any{"$ref": "#/components/schemas/J"}
	for _, c := range []struct {
		v    string
		fail bool
	}{{`{"id":"x"}`, false}, {`{}`, true}, {`{"id":1}`, true}, {`{"id":"x","extra":1}`, true}, {`[]`, true}} {
		var v any
		json.Unmarshal([]byte(c.v), &v)
		if err := validate(defs, ref, v, "$"); (err != nil) != c.fail {
			t.Errorf("%s: %v", c.v, err)
		}
	}
}
