package manifest

import (
	yaml "go.yaml.in/yaml/v3"

	"github.com/cutover/cutover/internal/hint"
)

// walker substitutes variables in a parsed document and converts it into
// JSON-compatible Go values: map[string]any, []any, string, int64,
// float64, bool and nil.
type walker struct {
	src       Source
	vars      *Vars // nil: no substitution
	strict    bool
	undefined map[string]bool
}

// allowedTags are the only tags accepted, by node kind. Anything else
// (!!python/object, !!set, !custom) is refused, never interpreted.
var allowedTags = map[yaml.Kind]map[string]bool{
	yaml.MappingNode:  {"!!map": true},
	yaml.SequenceNode: {"!!seq": true},
	yaml.ScalarNode: {"!!str": true, "!!int": true, "!!float": true, "!!bool": true,
		"!!null": true, "!!timestamp": true, "!!binary": true},
}

// value converts node n at path p into a Go value, substituting as it goes.
func (w *walker) value(n *yaml.Node, p *fieldPath, depth int) (any, error) {
	if err := w.check(n, p, depth); err != nil {
		return nil, err
	}
	switch n.Kind {
	case yaml.MappingNode:
		return w.mapping(n, p, depth)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			v, err := w.value(c, p.item(i), depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	return w.scalar(n, p)
}

// check refuses anchors, aliases, unknown tags and too deep nesting.
func (w *walker) check(n *yaml.Node, p *fieldPath, depth int) error {
	switch {
	case n.Kind == yaml.AliasNode:
		return w.src.errorf(n.Line, p.String(), "aliases (*%s) are not supported", n.Value)
	case n.Anchor != "":
		return w.src.errorf(n.Line, p.String(), "anchors (&%s) are not supported", n.Anchor)
	case depth > maxDepth:
		return w.src.errorf(n.Line, p.String(), "nested deeper than %d levels", maxDepth)
	case !allowedTags[n.Kind][n.Tag]:
		return w.src.errorf(n.Line, p.String(), "YAML tag %s is not supported here", n.Tag)
	}
	return nil
}

func (w *walker) mapping(n *yaml.Node, p *fieldPath, depth int) (map[string]any, error) {
	out := make(map[string]any, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key, err := w.key(k, p, depth)
		if err != nil {
			return nil, err
		}
		child := p.child(key)
		if _, dup := out[key]; dup {
			return nil, w.src.errorf(k.Line, child.String(), "duplicate key %q", key)
		}
		val, err := w.value(v, child, depth+1)
		if err != nil {
			return nil, err
		}
		out[key] = val
	}
	return out, nil
}

// key substitutes a mapping key; keys are always strings.
func (w *walker) key(k *yaml.Node, p *fieldPath, depth int) (string, error) {
	if k.Tag == "!!merge" {
		return "", w.src.errorf(k.Line, p.String(), "merge keys (<<) are not supported")
	}
	if k.Kind != yaml.ScalarNode {
		return "", w.src.errorf(k.Line, p.String(), "only scalar mapping keys are supported")
	}
	if err := w.check(k, p, depth); err != nil {
		return "", err
	}
	e, err := w.substitute(k.Value, k.Line, p.child(k.Value))
	return e.out, err
}

// scalar substitutes and types a scalar. Unchanged scalars keep their YAML
// type; an explicit tag is obeyed; a plain, untagged scalar that is exactly
// one variable takes the value's scalar type; anything else is a string.
func (w *walker) scalar(n *yaml.Node, p *fieldPath) (any, error) {
	e, err := w.substitute(n.Value, n.Line, p)
	if err != nil {
		return nil, err
	}
	switch {
	case !e.changed:
		return w.literal(n, n.Value, p)
	case n.Style&yaml.TaggedStyle != 0:
		return w.literal(n, e.out, p)
	case e.whole != "" && n.Style == 0:
		return inferred(e.out), nil
	}
	return e.out, nil
}

// strictVarsOn ends the error for an undefined variable.
var strictVarsOn = hint.New(hint.StrictVars, "with strict variables on")

func (w *walker) substitute(s string, line int, p *fieldPath) (expansion, error) {
	if w.vars == nil {
		return expansion{out: s}, nil
	}
	e := expand(s, w.vars)
	if len(e.undefined) > 0 && w.strict {
		return e, w.src.errorf(line, p.String(), "undefined variable %s %w", e.undefined[0], strictVarsOn)
	}
	for _, name := range e.undefined {
		w.undefined[name] = true
	}
	return e, nil
}

// literal converts the scalar text s by n's tag.
func (w *walker) literal(n *yaml.Node, s string, p *fieldPath) (any, error) {
	v, err := scalarValue(n.Tag, s)
	if err != nil {
		return nil, w.src.wrap(n.Line, p.String(), err)
	}
	return v, nil
}
