package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/dbackup/dbackup/internal/backup"
)

// MarshalConfig writes a configuration as YAML: keys in the order of the
// Go fields, settings at their zero value left out (enabled always kept).
func MarshalConfig(f *ConfigFile) ([]byte, error) {
	raw, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	node, err := jsonNode(dec, "")
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.WriteString("# dbackup configuration: `dbackup apply -f FILE` makes an installation match it.\n")
	out.WriteString("# Secrets and keys are references (env:NAME or file:/path), never values.\n")
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(node); err != nil {
		return nil, err
	}
	return out.Bytes(), enc.Close()
}

// jsonNode turns the next JSON value into a YAML node, keeping key order
// and leaving out empty values (except under the key "enabled").
func jsonNode(dec *json.Decoder, key string) (*yaml.Node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			n := &yaml.Node{Kind: yaml.MappingNode}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k := kt.(string)
				v, err := jsonNode(dec, k)
				if err != nil {
					return nil, err
				}
				if v != nil {
					n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, v)
				}
			}
			dec.Token() // }
			if len(n.Content) == 0 {
				return nil, nil
			}
			return n, nil
		}
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for dec.More() {
			v, err := jsonNode(dec, "")
			if err != nil {
				return nil, err
			}
			if v == nil {
				v = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
			}
			n.Content = append(n.Content, v)
		}
		dec.Token() // ]
		if len(n.Content) == 0 {
			return nil, nil
		}
		return n, nil
	case nil:
		return nil, nil
	case bool:
		if !t && key != "enabled" {
			return nil, nil
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(t)}, nil
	case json.Number:
		if t.String() == "0" {
			return nil, nil
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: t.String()}, nil
	case string:
		if t == "" || t == "0s" {
			return nil, nil
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t}, nil
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
}

// parseConfig reads a configuration file: every item checked for fields
// the format does not have, with the line it starts on.
func parseConfig(raw []byte) (*parsedConfig, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", backup.ErrInvalid, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%w: the file is empty", backup.ErrInvalid)
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: line %d: the file must be a mapping with version, sources, destinations, channels, profiles, policies and jobs", backup.ErrInvalid, top.Line)
	}
	p := &parsedConfig{endpoints: map[Kind][]located[ConfigEndpoint]{}}
	version := 0
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		var err error
		switch k.Value {
		case "version":
			err = v.Decode(&version)
		case "policies":
			p.policies, err = items[ConfigPolicy](v, "policy")
		case "profiles":
			p.profiles, err = items[ConfigProfile](v, "profile")
		case "sources":
			p.endpoints[KindSource], err = items[ConfigEndpoint](v, "source")
		case "destinations":
			p.endpoints[KindDestination], err = items[ConfigEndpoint](v, "destination")
		case "channels":
			p.endpoints[KindChannel], err = items[ConfigEndpoint](v, "channel")
		case "jobs":
			p.jobs, err = items[JobInput](v, "job")
		default:
			err = fmt.Errorf("line %d: unknown section %q (want version, policies, profiles, sources, destinations, channels, jobs)", k.Line, k.Value)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", backup.ErrInvalid, err)
		}
	}
	if version != ConfigVersion {
		return nil, fmt.Errorf("%w: version %d: this dbackup reads configuration version %d", backup.ErrInvalid, version, ConfigVersion)
	}
	return p, nil
}

// items decodes a sequence of T, each through JSON so that it takes the
// API's field names and refuses unknown ones.
func items[T any](seq *yaml.Node, kind string) ([]located[T], error) {
	if seq.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: %ss must be a list", seq.Line, kind)
	}
	var out []located[T]
	seen := map[string]int{}
	for _, n := range seq.Content {
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %v", n.Line, err)
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n.Line, err)
		}
		var item T
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&item); err != nil && err != io.EOF {
			return nil, fmt.Errorf("line %d: %s: %v", n.Line, kind, err)
		}
		name := nameOf(v)
		if name == "" {
			return nil, fmt.Errorf("line %d: a %s needs a name", n.Line, kind)
		}
		if first, dup := seen[name]; dup {
			return nil, fmt.Errorf("line %d: %s %q is already on line %d", n.Line, kind, name, first)
		}
		seen[name] = n.Line
		out = append(out, located[T]{item, n.Line})
	}
	return out, nil
}

func nameOf(v any) string {
	m, _ := v.(map[string]any)
	s, _ := m["name"].(string)
	return strings.TrimSpace(s)
}
