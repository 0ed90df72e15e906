package config

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cutover/cutover/internal/verify"
)

const schemaPath = "../../schema/cutover.schema.json"

type schema = map[string]any

func loadSchema(t *testing.T) schema {
	t.Helper()
	data, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var s schema
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("%s: %v", schemaPath, err)
	}
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v, want draft 2020-12", s["$schema"])
	}
	return s
}

// schemaWalker compares a Go type with its schema, both ways.
type schemaWalker struct {
	t    *testing.T
	root schema
}

// at returns the schema at a "#/$defs/name" reference, or s itself.
func (w *schemaWalker) at(s schema, path string) schema {
	ref, ok := s["$ref"].(string)
	if !ok {
		return s
	}
	name, found := strings.CutPrefix(ref, "#/$defs/")
	def, ok := w.root["$defs"].(schema)[name].(schema)
	if !found || !ok {
		w.t.Fatalf("%s: unresolvable $ref %q", path, ref)
	}
	return def
}

// hasType reports whether the schema's type is, or lists, want.
func hasType(s schema, want string) bool {
	switch typ := s["type"].(type) {
	case string:
		return typ == want
	case []any:
		return slices.Contains(typ, any(want))
	}
	return false
}

func (w *schemaWalker) walk(t reflect.Type, s schema, path string) {
	s = w.at(s, path)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		w.want(s, "string", path)
	case t.Kind() == reflect.Struct:
		w.object(t, s, path)
	case t.Kind() == reflect.Slice:
		if items, ok := s["items"].(schema); w.want(s, "array", path) && ok {
			w.walk(t.Elem(), items, path+"[]")
		} else {
			w.t.Errorf("%s: schema has no items", path)
		}
	case t.Kind() == reflect.Map:
		w.want(s, "object", path)
		if values, ok := s["additionalProperties"].(schema); ok {
			w.walk(t.Elem(), values, path+".*")
		} else {
			w.t.Errorf("%s: a map, but its schema's additionalProperties is not a schema", path)
		}
	case t.Kind() == reflect.String:
		w.want(s, "string", path)
	case t.Kind() == reflect.Bool:
		w.want(s, "boolean", path)
	case t.Kind() == reflect.Int:
		w.want(s, "integer", path)
	default:
		w.t.Errorf("%s: no schema rule for Go type %s", path, t)
	}
}

func (w *schemaWalker) want(s schema, typ, path string) bool {
	if !hasType(s, typ) {
		w.t.Errorf("%s: schema type %v, want %s", path, s["type"], typ)
		return false
	}
	return true
}

// object compares a struct's json keys with the schema's properties.
func (w *schemaWalker) object(t reflect.Type, s schema, path string) {
	w.want(s, "object", path)
	if s["additionalProperties"] != false {
		w.t.Errorf("%s: schema lacks additionalProperties: false", path)
	}
	props, _ := s["properties"].(schema)
	fields := jsonFields(t)
	for name, i := range fields {
		p, ok := props[name].(schema)
		if !ok {
			w.t.Errorf("%s: Go field %s.%s is not in the schema", field(path, name), t.Name(), t.Field(i).Name)
			continue
		}
		if desc, _ := w.at(p, name)["description"].(string); desc == "" && p["description"] == nil {
			w.t.Errorf("%s: no description in the schema", field(path, name))
		}
		w.walk(t.Field(i).Type, p, field(path, name))
	}
	for name := range props {
		if _, ok := fields[name]; !ok {
			w.t.Errorf("%s: in the schema but not in Go type %s", field(path, name), t.Name())
		}
	}
}

// TestSchemaMatchesConfig walks Config's json tags and the schema's
// properties together and fails on any key, or kind of value, that only
// one of them has.
func TestSchemaMatchesConfig(t *testing.T) {
	root := loadSchema(t)
	w := &schemaWalker{t: t, root: root}
	w.walk(reflect.TypeFor[Config](), root, "")
}

// TestSchemaObjectsAreClosed checks every object schema, used or not.
func TestSchemaObjectsAreClosed(t *testing.T) {
	var visit func(v any, path string)
	visit = func(v any, path string) {
		switch v := v.(type) {
		case schema:
			if hasType(v, "object") && v["properties"] != nil && v["additionalProperties"] != false {
				t.Errorf("%s: object with properties but without additionalProperties: false", path)
			}
			for k, child := range v {
				visit(child, path+"/"+k)
			}
		case []any:
			for _, child := range v {
				visit(child, path+"/[]")
			}
		}
	}
	visit(loadSchema(t), "#")
}

// TestSchemaEnumsAndDefaults holds the schema's enums and defaults to the
// Go values.
func TestSchemaEnumsAndDefaults(t *testing.T) {
	w := &schemaWalker{t: t, root: loadSchema(t)}
	get := func(path string) schema { // the property's own schema, $ref not followed
		s := w.root
		for _, key := range strings.Split(path, ".") {
			if key == "[]" {
				s = w.at(s, path)["items"].(schema)
			} else {
				s = w.at(s, path)["properties"].(schema)[key].(schema)
			}
		}
		return s
	}
	for path, want := range map[string][]string{
		"strategy":                 strategies,
		"blueGreen.idlePolicy":     idlePolicies,
		"checks.[].stage":          stages,
		"approval.mode":            approvals,
		"approval.notify.smtp.tls": tlsModes,
	} {
		var got []string
		for _, v := range get(path)["enum"].([]any) {
			got = append(got, v.(string))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: schema enum %q, Go %q", path, got, want)
		}
	}
	for path, want := range map[string]any{
		"strategy":                 StrategyRolling,
		"blueGreen.idlePolicy":     idlePolicies[0],
		"checks.[].stage":          StageBoth,
		"checks.[].attempts":       float64(verify.DefaultAttempts),
		"checks.[].interval":       verify.DefaultInterval.String(),
		"checks.[].timeout":        verify.DefaultTimeout.String(),
		"checks.[].successesInRow": float64(verify.DefaultSuccessesInRow),
		"approval.mode":            ApprovalNone,
		"approval.notify.smtp.tls": TLSStartTLS,
	} {
		if got := get(path)["default"]; got != want {
			t.Errorf("%s: schema default %v, Go %v", path, got, want)
		}
	}
}
