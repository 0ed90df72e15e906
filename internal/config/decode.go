package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var durationType = reflect.TypeFor[time.Duration]()

// maxNodes bounds the nodes decoded, aliases expanded, so that a file of
// nested aliases ("billion laughs") cannot make Load run for ever.
const maxNodes = 100_000

// decoder fills a value from a YAML node tree by the value's json tags,
// strictly, and records the line of every field path it meets (the key's
// line for a field, the item's for a list item) so that later errors can
// name the line too.
type decoder struct {
	problems
	lines map[string]int
	nodes int // decoded so far
}

func newDecoder() *decoder {
	return &decoder{lines: map[string]int{}}
}

// decode fills v from n. A null leaves v as it is (unset).
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	n = deref(n)
	if !d.count(n, path) {
		return
	}
	if _, ok := d.lines[path]; !ok {
		d.lines[path] = n.Line
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	switch {
	case v.Type() == durationType:
		d.duration(n, v, path)
	case v.Kind() == reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		d.decode(n, v.Elem(), path)
	case v.Kind() == reflect.Struct:
		d.object(n, v, path)
	case v.Kind() == reflect.Slice:
		d.list(n, v, path)
	case v.Kind() == reflect.Map:
		d.dict(n, v, path)
	case v.Kind() == reflect.String:
		d.text(n, v, path)
	default:
		d.scalar(n, v, path)
	}
}

// count counts n against maxNodes; false when over, with one error.
func (d *decoder) count(n *yaml.Node, path string) bool {
	d.nodes++
	if d.nodes == maxNodes+1 {
		d.addf(n.Line, path, "more than %d values, aliases expanded", maxNodes)
	}
	return d.nodes <= maxNodes
}

// deref follows aliases to the anchored node.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// object fills a struct from a mapping; a key without a field is an error.
func (d *decoder) object(n *yaml.Node, v reflect.Value, path string) {
	if !d.want(n, yaml.MappingNode, path, "a mapping") {
		return
	}
	fields := jsonFields(v.Type())
	for _, p := range d.pairs(n, path) {
		key := field(path, p.key.Value)
		i, ok := fields[p.key.Value]
		if !ok {
			d.errs = append(d.errs, &Error{Line: p.key.Line, Field: key, Err: ErrUnknownKey, Hint: closest(p.key.Value, fields)})
			continue
		}
		d.lines[key] = p.key.Line
		d.decode(p.val, v.Field(i), key)
	}
}

// dict fills a map with string keys from a mapping.
func (d *decoder) dict(n *yaml.Node, v reflect.Value, path string) {
	if !d.want(n, yaml.MappingNode, path, "a mapping") {
		return
	}
	m := reflect.MakeMap(v.Type())
	for _, p := range d.pairs(n, path) {
		key := field(path, p.key.Value)
		d.lines[key] = p.key.Line
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(p.val, elem, key)
		m.SetMapIndex(reflect.ValueOf(p.key.Value), elem)
	}
	v.Set(m)
}

// list fills a slice from a sequence.
func (d *decoder) list(n *yaml.Node, v reflect.Value, path string) {
	if !d.want(n, yaml.SequenceNode, path, "a list") {
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, s.Index(i), index(path, i))
	}
	v.Set(s)
}

// text takes a scalar's text as written: vars: {VERSION: 8.0} gives "8.0".
func (d *decoder) text(n *yaml.Node, v reflect.Value, path string) {
	if d.want(n, yaml.ScalarNode, path, "a string") {
		v.SetString(n.Value)
	}
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if !d.want(n, yaml.ScalarNode, path, "a duration such as 90s or 5m") {
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		d.addf(n.Line, path, "want a duration such as 90s or 5m: %w", err)
		return
	}
	v.SetInt(int64(dur))
}

// scalar decodes a bool or an integer, of exactly that YAML type.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	want, tag := "an integer", "!!int"
	if v.Kind() == reflect.Bool {
		want, tag = "true or false", "!!bool"
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != tag {
		d.addf(n.Line, path, "want %s, got %s", want, describe(n))
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.addf(n.Line, path, "want %s: %w", want, err)
	}
}

// want reports whether n is of kind, and records an error if not.
func (d *decoder) want(n *yaml.Node, kind yaml.Kind, path, what string) bool {
	if n.Kind == kind {
		return true
	}
	d.addf(n.Line, path, "want %s, got %s", what, describe(n))
	return false
}

// describe names what a node holds, for errors.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

type pair struct{ key, val *yaml.Node }

// pairs returns a mapping's entries, with those of merge keys (<<) first so
// that the mapping's own keys win. A repeated key is an error.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var merged, own []pair
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content) && d.count(n, path); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge":
			merged = append(merged, d.merge(v, path)...)
		case k.Kind != yaml.ScalarNode:
			d.addf(k.Line, path, "want a string key, got %s", describe(k))
		case seen[k.Value] > 0:
			d.addf(k.Line, field(path, k.Value), "repeated key (first on line %d)", seen[k.Value])
		default:
			seen[k.Value] = k.Line
			own = append(own, pair{k, v})
		}
	}
	return append(merged, own...)
}

// merge returns the entries a merge key brings: a mapping, or a list of
// them where earlier ones win.
func (d *decoder) merge(n *yaml.Node, path string) []pair {
	n = deref(n)
	if n.Kind == yaml.MappingNode {
		return d.pairs(n, path)
	}
	if !d.want(n, yaml.SequenceNode, path, "a mapping or a list of mappings after <<") {
		return nil
	}
	var out []pair
	for i := len(n.Content) - 1; i >= 0; i-- {
		m := deref(n.Content[i])
		if d.want(m, yaml.MappingNode, path, "a mapping after <<") {
			out = append(out, d.pairs(m, path)...)
		}
	}
	return out
}

// jsonFields maps the json names of t's fields to their indexes.
func jsonFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := range t.NumField() {
		if name := jsonName(t.Field(i)); name != "" {
			out[name] = i
		}
	}
	return out
}

// jsonName is a field's key in the file: "" for unexported fields and
// fields tagged "-".
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if !f.IsExported() || name == "-" {
		return ""
	}
	if name == "" {
		return f.Name
	}
	return name
}
