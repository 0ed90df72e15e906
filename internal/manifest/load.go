package manifest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Options for Load.
type Options struct {
	// Paths are files, globs (** allowed), directories (read recursively for
	// *.yaml, *.yml, *.json) or "-" for Stdin.
	Paths        []string
	Stdin        io.Reader
	Vars         *Vars // nil: no substitution
	Strict       bool  // undefined variables are an error
	MaxFileBytes int64 // default 32 MiB
}

// Object is one parsed object and where it came from.
type Object struct {
	*unstructured.Unstructured
	Source Source
}

// Set is what Load read.
type Set struct {
	Objects   []Object
	Undefined []string // variables referenced but undefined, left as written
}

// Load reads, parses and substitutes the inputs. Errors about the input
// are *Error values naming the file, document, line and field.
func Load(ctx context.Context, opts Options) (*Set, error) {
	inputs, err := readInputs(ctx, opts)
	if err != nil {
		return nil, err
	}
	undefined := map[string]bool{}
	set := &Set{}
	for _, in := range inputs {
		objs, err := parseInput(in, &walker{vars: opts.Vars, strict: opts.Strict, undefined: undefined})
		if err != nil {
			return nil, err
		}
		set.Objects = append(set.Objects, objs...)
	}
	if len(set.Objects) == 0 {
		return nil, &Error{File: strings.Join(opts.Paths, ", "), Err: errors.New("no objects found")}
	}
	if err := checkDuplicates(set.Objects); err != nil {
		return nil, err
	}
	for name := range undefined {
		set.Undefined = append(set.Undefined, name)
	}
	sort.Strings(set.Undefined)
	return set, nil
}

// document is one parsed document and its position.
type document struct {
	root *yaml.Node
	doc  int
	line int // offset added to node lines (JSON streams)
}

func parseInput(in input, w *walker) ([]Object, error) {
	docs, err := documents(in)
	if err != nil {
		return nil, err
	}
	var out []Object
	for _, d := range docs {
		w.src = Source{File: in.name, Doc: d.doc, Line: d.root.Line + d.line}
		objs, err := w.objects(d.root)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// documents splits an input into YAML documents, or JSON values.
func documents(in input) ([]document, error) {
	trimmed := bytes.TrimLeft(in.data, " \t\r\n")
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') && strings.HasSuffix(strings.ToLower(in.name), ".json") {
		return jsonDocuments(in)
	}
	dec := yaml.NewDecoder(bytes.NewReader(in.data))
	var out []document
	for n := 1; ; n++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, &Error{File: in.name, Doc: n, Err: fmt.Errorf("malformed YAML: %w", err)}
		}
		if root := docRoot(&doc); root != nil {
			out = append(out, document{root: root, doc: n})
		}
	}
}

// jsonDocuments reads a stream of JSON values; each is parsed as YAML (JSON
// is YAML) so that substitution works the same way.
func jsonDocuments(in input) ([]document, error) {
	dec := json.NewDecoder(bytes.NewReader(in.data))
	var out []document
	for n := 1; ; n++ {
		start := dec.InputOffset()
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		rest := in.data[start:]
		valueStart := start + int64(len(rest)-len(bytes.TrimLeft(rest, " \t\r\n")))
		line := 1 + bytes.Count(in.data[:valueStart], []byte("\n"))
		if err != nil {
			return nil, &Error{File: in.name, Doc: n, Line: line, Err: fmt.Errorf("malformed JSON: %w", err)}
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			return nil, &Error{File: in.name, Doc: n, Line: line, Err: fmt.Errorf("malformed JSON: %w", err)}
		}
		if root := docRoot(&doc); root != nil {
			out = append(out, document{root: root, doc: n, line: line - 1})
		}
	}
}

// docRoot returns a document's content, or nil for an empty document.
func docRoot(doc *yaml.Node) *yaml.Node {
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	return root
}

// objects converts a document root into objects, flattening List kinds.
func (w *walker) objects(root *yaml.Node) ([]Object, error) {
	if root.Kind != yaml.MappingNode {
		return nil, w.src.errorf(root.Line, "", "a document must be a mapping (an object), not a list or a scalar")
	}
	v, err := w.value(root, "")
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: v.(map[string]any)}
	if items, ok := u.Object["items"].([]any); ok && strings.HasSuffix(u.GetKind(), "List") {
		return w.listItems(root, items)
	}
	if err := w.validate(u, root.Line); err != nil {
		return nil, err
	}
	return []Object{{Unstructured: u, Source: w.src}}, nil
}

func (w *walker) listItems(root *yaml.Node, items []any) ([]Object, error) {
	nodes := mappingValue(root, "items")
	out := make([]Object, 0, len(items))
	for i, it := range items {
		line := root.Line
		if nodes != nil && i < len(nodes.Content) {
			line = nodes.Content[i].Line
		}
		m, ok := it.(map[string]any)
		if !ok {
			return nil, w.src.errorf(line, fmt.Sprintf("items[%d]", i), "a list item must be an object")
		}
		u := &unstructured.Unstructured{Object: m}
		if err := w.validate(u, line); err != nil {
			return nil, err
		}
		src := w.src
		src.Line = line
		out = append(out, Object{Unstructured: u, Source: src})
	}
	return out, nil
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// validate requires apiVersion, kind and metadata.name.
func (w *walker) validate(u *unstructured.Unstructured, line int) error {
	for _, f := range []string{"apiVersion", "kind"} {
		if s, ok := u.Object[f].(string); !ok || s == "" {
			return w.src.errorf(line, f, "required: a non-empty string")
		}
	}
	md, ok := u.Object["metadata"].(map[string]any)
	if !ok {
		return w.src.errorf(line, "metadata", "required: an object with a name")
	}
	if name, ok := md["name"].(string); !ok || name == "" {
		msg := "required: a non-empty string"
		if _, gen := md["generateName"]; gen {
			msg += " (generateName cannot be applied idempotently)"
		}
		return w.src.errorf(line, "metadata.name", "%s", msg)
	}
	if ns, ok := md["namespace"]; ok {
		if _, isString := ns.(string); !isString {
			return w.src.errorf(line, "metadata.namespace", "must be a string")
		}
	}
	return nil
}

// checkDuplicates refuses the same object twice.
func checkDuplicates(objs []Object) error {
	seen := map[string]Source{}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		k := strings.Join([]string{gvk.Group, gvk.Kind, o.GetNamespace(), o.GetName()}, "/")
		if first, dup := seen[k]; dup {
			return &Error{File: o.Source.File, Doc: o.Source.Doc, Line: o.Source.Line, Field: "metadata.name",
				Err: fmt.Errorf("%s %q is defined twice; first in %s", gvk.Kind, o.GetName(), first)}
		}
		seen[k] = o.Source
	}
	return nil
}
