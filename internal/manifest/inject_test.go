package manifest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// shape lists every path of a value with its kind (map, list or scalar):
// the document's structure without its scalar values.
func shape(v any, path string, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		out[path] = "map"
		for k, c := range v {
			shape(c, path+"/"+k, out)
		}
	case []any:
		out[path] = fmt.Sprintf("list of %d", len(v))
		for i, c := range v {
			shape(c, fmt.Sprintf("%s[%d]", path, i), out)
		}
	default:
		out[path] = "scalar"
	}
}

func setShape(set *Set) map[string]string {
	out := map[string]string{}
	for i, o := range set.Objects {
		shape(o.Object, fmt.Sprint(i), out)
	}
	return out
}

// injectionTemplates put ${V} in every place a scalar can be, YAML and JSON.
var injectionTemplates = map[string]string{
	"plain":          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  key: ${V}\n  after: x\n",
	"double-quoted":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  key: \"${V}\"\n  after: x\n",
	"single-quoted":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  key: '$V'\n  after: x\n",
	"mixed":          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  key: pre-${V}-post\n  after: x\n",
	"literal block":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  key: |\n    ${V}\n  after: x\n",
	"folded block":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  key: >-\n    ${V}\n  after: x\n",
	"flow mapping":   "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {key: $V, after: x}\n",
	"sequence item":  "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  args:\n  - ${V}\n  - after\n",
	"flow sequence":  "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {args: [$V, after]}\n",
	"list item":      "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n  data: {key: \"${V}\"}\n",
	"second doc":     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata:\n  key: ${V}\n",
	"json":           `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"key": "${V}", "after": "x"}}`,
	"json list item": `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"args": ["$V", "after"]}}`,
	"annotation key": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  annotations:\n    ${V}: x\n    after: y\n",
}

// hostileValues try to change the structure through a variable.
var hostileValues = []string{
	"x\nextra: key",
	"x\n  nested: key",
	"a: b",
	"- item",
	"x\n- item",
	"x # comment",
	"# comment",
	"x\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen\n",
	"---\nkind: Secret",
	"...",
	`"double" and 'single' quotes`,
	`"`,
	`'`,
	`x", "evil": "y`,
	"{a: b}",
	"{\"a\": \"b\"}",
	"[x, y]",
	"&anchor x",
	"*alias",
	"<<: {a: b}",
	"!!binary aGVsbG8=",
	"!!python/object/apply:os.system ['id']",
	"!custom x",
	"|\n  block",
	">\n  folded",
	"%YAML 1.1",
	"${NESTED}",
	"$$",
	"\t\r\n",
	"\\u0000\\n",
	strings.Repeat("long-", 200000),
	strings.Repeat("x\n", 10000),
}

// TestInjectionKeepsStructure: with any hostile value, every template keeps
// the structure it has with a harmless value, and the value lands verbatim.
func TestInjectionKeepsStructure(t *testing.T) {
	for _, name := range slices.Sorted(maps.Keys(injectionTemplates)) {
		tmpl := injectionTemplates[name]
		want := setShape(mustLoad(t, tmpl, vars("V=harmless")))
		delete(want, "0/metadata/annotations/harmless") // the key itself changes
		for i, val := range hostileValues {
			t.Run(fmt.Sprintf("%s/%d", name, i), func(t *testing.T) {
				v := vars("V=" + val)
				v.put("NESTED", "expanded twice", layerFlag)
				set, err := load(t, tmpl, v, false)
				if err != nil {
					if name == "annotation key" && val == "after" {
						return
					}
					t.Fatalf("value %.40q broke a valid document: %v", val, err)
				}
				got := setShape(set)
				delete(got, "0/metadata/annotations/"+val)
				if !maps.Equal(got, want) {
					t.Fatalf("value %.40q changed the structure:\ngot  %v\nwant %v", val, got, want)
				}
				if !strings.Contains(fmt.Sprint(set.Objects[len(set.Objects)-1].Object), val) {
					t.Errorf("value %.40q is not in the object verbatim", val)
				}
			})
		}
	}
}

// TestInjectionVerbatim pins the exact value in the string contexts.
func TestInjectionVerbatim(t *testing.T) {
	for _, val := range hostileValues {
		set := mustLoad(t, injectionTemplates["double-quoted"]+"  mixed: pre-${V}\n  single: '${V}'\n  keyed: {\"${V}\": 1}\n", vars("V="+val))
		data := set.Objects[0].Object["data"].(map[string]any)
		keyed := data["keyed"].(map[string]any)
		if data["key"] != val || data["mixed"] != "pre-"+val || data["single"] != val || keyed[val] != int64(1) {
			t.Errorf("value %.40q not kept verbatim: %.200v", val, data)
		}
	}
}

// TestValuesNeverRecursive: a value is inserted as is, never scanned again.
func TestValuesNeverRecursive(t *testing.T) {
	v := vars("A=${B}", "B=secret", "C=$$")
	got := spec(t, "  a: ${A}\n  c: $C\n", v)
	if got["a"] != "${B}" || got["c"] != "$$" {
		t.Errorf("values were expanded again: %#v", got)
	}
}
