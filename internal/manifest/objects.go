package manifest

import (
	"errors"
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// objects converts one document into objects, flattening List kinds.
func (w *walker) objects(root *yaml.Node) ([]Object, error) {
	if root.Kind != yaml.MappingNode {
		return nil, w.src.errorf(root.Line, "", "a document must be a mapping (an object), not %s", kindName(root))
	}
	v, err := w.value(root, nil, 0)
	if err != nil {
		return nil, err
	}
	return w.flatten(v.(map[string]any), root, nil)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return "a scalar"
}

// flatten returns the object m, or the items of m if it is a List: kind
// "List", or a kind ending in "List" with an items array.
func (w *walker) flatten(m map[string]any, n *yaml.Node, at *fieldPath) ([]Object, error) {
	kind, _ := m["kind"].(string)
	items, isArray := m["items"].([]any)
	switch {
	case kind == "List" && !isArray && m["items"] != nil:
		return nil, w.src.errorf(n.Line, at.child("items").String(), "must be a list")
	case kind == "List" || (strings.HasSuffix(kind, "List") && isArray):
		return w.items(m, items, n, at)
	}
	if field, err := validate(m); err != nil {
		return nil, w.src.wrap(n.Line, joinField(at, field), err)
	}
	src := w.src
	src.Line = n.Line
	return []Object{{Unstructured: &unstructured.Unstructured{Object: m}, Source: src}}, nil
}

// items flattens a List's items; each keeps the document's source with its
// own line. Nested Lists are flattened too. As in apimachinery, items of a
// typed list (DeploymentList) that name no apiVersion and kind get the
// list's apiVersion and the kind without "List".
func (w *walker) items(list map[string]any, items []any, node *yaml.Node, at *fieldPath) ([]Object, error) {
	nodes := mappingValue(node, "items")
	var out []Object
	for i, it := range items {
		n := node
		if nodes != nil && i < len(nodes.Content) {
			n = nodes.Content[i]
		}
		p := at.child("items").item(i)
		m, ok := it.(map[string]any)
		if !ok {
			return nil, w.src.errorf(n.Line, p.String(), "a list item must be an object")
		}
		typedListItem(list, m)
		objs, err := w.flatten(m, n, p)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

func typedListItem(list, item map[string]any) {
	kind, _ := list["kind"].(string)
	_, hasAPIVersion := item["apiVersion"]
	_, hasKind := item["kind"]
	if kind == "List" || hasAPIVersion || hasKind {
		return
	}
	item["apiVersion"] = list["apiVersion"]
	item["kind"] = strings.TrimSuffix(kind, "List")
}

// mappingValue returns the value node of key in mapping n, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func joinField(at *fieldPath, field string) string {
	if at == nil {
		return field
	}
	return at.String() + "." + field
}

// validate requires apiVersion, kind, and metadata.name or
// metadata.generateName; it returns the faulty field.
func validate(m map[string]any) (string, error) {
	for _, f := range []string{"apiVersion", "kind"} {
		if err := nonEmptyString(m, f); err != nil {
			return f, err
		}
	}
	raw, ok := m["metadata"]
	if !ok || raw == nil {
		return "metadata", errors.New("required: an object with a name")
	}
	md, ok := raw.(map[string]any)
	if !ok {
		return "metadata", errors.New("must be an object")
	}
	if _, hasName := md["name"]; hasName || md["generateName"] == nil {
		if err := nonEmptyString(md, "name"); err != nil {
			return "metadata.name", err
		}
	} else if err := nonEmptyString(md, "generateName"); err != nil {
		return "metadata.generateName", err
	}
	if ns, ok := md["namespace"]; ok {
		if _, isString := ns.(string); !isString {
			return "metadata.namespace", errors.New("must be a string")
		}
	}
	return "", nil
}

func nonEmptyString(m map[string]any, key string) error {
	v, ok := m[key]
	if !ok || v == nil {
		return errors.New("required")
	}
	if s, ok := v.(string); !ok || s == "" {
		return fmt.Errorf("must be a non-empty string, not %s", describe(v))
	}
	return nil
}

func describe(v any) string {
	switch v := v.(type) {
	case string:
		return "an empty string"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	default:
		return fmt.Sprintf("%T %v", v, v)
	}
}
