package manifest

import (
	"fmt"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// walker substitutes variables in a parsed document and converts it to
// JSON-compatible Go values.
type walker struct {
	src       Source
	vars      *Vars
	strict    bool
	undefined map[string]bool
}

// value converts node at path into a Go value, substituting as it goes.
func (w *walker) value(n *yaml.Node, path string) (any, error) {
	if n.Anchor != "" || n.Kind == yaml.AliasNode {
		return nil, w.src.errorf(n.Line, path, "anchors and aliases are not supported")
	}
	switch n.Kind {
	case yaml.MappingNode:
		return w.mapping(n, path)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			v, err := w.value(c, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.ScalarNode:
		return w.scalar(n, path)
	}
	return nil, w.src.errorf(n.Line, path, "unexpected YAML node")
}

func (w *walker) mapping(n *yaml.Node, path string) (map[string]any, error) {
	out := make(map[string]any, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
			return nil, w.src.errorf(k.Line, path, "only plain keys are supported (no merge keys or complex keys)")
		}
		if err := w.checkTag(k, path); err != nil {
			return nil, err
		}
		key, err := w.substitute(k.Value, k.Line, join(path, k.Value))
		if err != nil {
			return nil, err
		}
		child := join(path, key.out)
		if _, dup := out[key.out]; dup {
			return nil, w.src.errorf(k.Line, child, "duplicate key")
		}
		val, err := w.value(v, child)
		if err != nil {
			return nil, err
		}
		out[key.out] = val
	}
	return out, nil
}

// scalar substitutes and types a scalar.
func (w *walker) scalar(n *yaml.Node, path string) (any, error) {
	if err := w.checkTag(n, path); err != nil {
		return nil, err
	}
	e, err := w.substitute(n.Value, n.Line, path)
	if err != nil {
		return nil, err
	}
	if !e.changed {
		return typed(n.Tag, n.Value, n)
	}
	if e.whole != "" && n.Style == 0 { // plain, untagged: quoted or tagged scalars stay strings
		return inferred(e.out), nil
	}
	return e.out, nil
}

func (w *walker) substitute(s string, line int, path string) (expansion, error) {
	e := expand(s, w.vars)
	if len(e.undefined) > 0 && w.strict {
		return e, w.src.errorf(line, path, "undefined variable %s (--strict-vars)", e.undefined[0])
	}
	for _, name := range e.undefined {
		w.undefined[name] = true
	}
	return e, nil
}

// safeTags are the only tags accepted; anything else (!!python/object,
// !custom) is refused rather than interpreted.
var safeTags = map[string]bool{
	"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!null": true,
	"!!timestamp": true, "!!binary": true, "!!map": true, "!!seq": true, "": true,
}

func (w *walker) checkTag(n *yaml.Node, path string) error {
	if !safeTags[n.Tag] {
		return w.src.errorf(n.Line, path, "YAML tag %s is not supported", n.Tag)
	}
	return nil
}

// typed converts an unsubstituted scalar by its resolved tag. Timestamps and
// binary stay as written, as Kubernetes expects them to be strings.
func typed(tag, s string, n *yaml.Node) (any, error) {
	switch tag {
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return i, nil
		}
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, err
		}
		return f, nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, err
		}
		return f, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, err
		}
		return b, nil
	case "!!null":
		return nil, nil
	}
	return s, nil
}

// inferred types a substituted value: a single-line plain YAML scalar that
// resolves to int, float, bool or null takes that type; anything else,
// including the empty string, stays a string.
func inferred(s string) any {
	if s == "" || strings.ContainsAny(s, "\n\r") {
		return s
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(s), &doc); err != nil || len(doc.Content) != 1 {
		return s
	}
	n := doc.Content[0]
	if n.Kind != yaml.ScalarNode || n.Style != 0 || n.Value != s {
		return s
	}
	switch n.Tag {
	case "!!int", "!!float", "!!bool", "!!null":
		if v, err := typed(n.Tag, s, n); err == nil {
			return v
		}
	}
	return s
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	if strings.ContainsAny(key, ".[]") {
		return path + "[" + strconv.Quote(key) + "]"
	}
	return path + "." + key
}
