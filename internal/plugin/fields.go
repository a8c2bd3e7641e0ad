package plugin

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Field describes one config field so that a form can be built for it:
// from the config struct's JSON name and type, and its `help` and
// `choices` ("a|b|c") tags.
type Field struct {
	Name     string   // the JSON name
	Kind     string   // text, textarea, number, bool, list or map
	Help     string   //
	Choices  []string // a fixed set of values, for a select
	Optional bool     // omitempty: empty means the default
	// Host is "dir" or "program" for a field naming something on the host
	// to run (tag `host`): allowed only from the server's tool directories.
	Host string
}

// Label is the field's name for people: "host_key" → "Host key".
func (f Field) Label() string {
	s := strings.ReplaceAll(f.Name, "_", " ")
	return strings.ToUpper(s[:1]) + s[1:]
}

// describe lists the fields of a config struct type.
func describe(t reflect.Type) []Field {
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []Field
	for sf := range t.Fields() {
		name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if !sf.IsExported() || name == "-" || name == "" {
			continue
		}
		f := Field{Name: name, Help: sf.Tag.Get("help"), Optional: strings.Contains(opts, "omitempty"), Host: sf.Tag.Get("host")}
		if c := sf.Tag.Get("choices"); c != "" {
			f.Choices = strings.Split(c, "|")
		}
		switch k := sf.Type.Kind(); {
		case k == reflect.String && sf.Tag.Get("form") == "textarea":
			f.Kind = "textarea"
		case k == reflect.String:
			f.Kind = "text"
		case k == reflect.Int || k == reflect.Int64:
			f.Kind = "number"
		case k == reflect.Bool:
			f.Kind = "bool"
		case k == reflect.Slice && sf.Type.Elem().Kind() == reflect.String:
			f.Kind = "list"
		case k == reflect.Map && sf.Type.Key().Kind() == reflect.String && sf.Type.Elem().Kind() == reflect.String:
			f.Kind = "map"
		default:
			panic(fmt.Sprintf("plugin config %s.%s: type %s has no form field", t, sf.Name, sf.Type))
		}
		out = append(out, f)
	}
	return out
}

// FormValues renders a stored config as the text of each field's input.
func FormValues(fields []Field, config json.RawMessage) map[string]string {
	var m map[string]any
	json.Unmarshal(config, &m)
	out := map[string]string{}
	for _, f := range fields {
		v, ok := m[f.Name]
		if !ok || v == nil {
			continue
		}
		switch x := v.(type) {
		case string:
			out[f.Name] = x
		case float64:
			out[f.Name] = strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			out[f.Name] = strconv.FormatBool(x)
		case []any:
			var lines []string
			for _, e := range x {
				lines = append(lines, fmt.Sprint(e))
			}
			out[f.Name] = strings.Join(lines, "\n")
		case map[string]any:
			var lines []string
			for k, e := range x {
				lines = append(lines, k+": "+fmt.Sprint(e))
			}
			sort.Strings(lines)
			out[f.Name] = strings.Join(lines, "\n")
		}
	}
	return out
}

// FormConfig builds a config from the text of each field's input (bools:
// "true" or "on" when ticked); errs says what is wrong, by field.
func FormConfig(fields []Field, get func(name string) string) (json.RawMessage, map[string]string) {
	m, errs := map[string]any{}, map[string]string{}
	for _, f := range fields {
		v := strings.TrimSpace(get(f.Name))
		switch f.Kind {
		case "bool":
			if v == "on" || v == "true" {
				m[f.Name] = true
			}
		case "number":
			if v == "" {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				errs[f.Name] = "a whole number"
				continue
			}
			m[f.Name] = n
		case "list":
			var list []string
			for _, e := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == ',' }) {
				if e = strings.TrimSpace(e); e != "" {
					list = append(list, e)
				}
			}
			if len(list) > 0 {
				m[f.Name] = list
			}
		case "map":
			kv := map[string]string{}
			for _, line := range strings.Split(v, "\n") {
				if line = strings.TrimSpace(line); line == "" {
					continue
				}
				k, val, ok := strings.Cut(line, ":")
				if !ok || strings.TrimSpace(k) == "" {
					errs[f.Name] = fmt.Sprintf("%q: one “name: value” per line", line)
					continue
				}
				kv[strings.TrimSpace(k)] = strings.TrimSpace(val)
			}
			if len(kv) > 0 {
				m[f.Name] = kv
			}
		default:
			if f.Kind == "textarea" {
				v = get(f.Name) // keep a template's own spacing
			}
			if v != "" {
				m[f.Name] = v
			}
		}
	}
	raw, _ := json.Marshal(m)
	return raw, errs
}
