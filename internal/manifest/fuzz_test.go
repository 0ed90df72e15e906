package manifest

import (
	"context"
	"strings"
	"testing"
)

// FuzzValueCannotChangeStructure: whatever a variable holds, the document
// keeps exactly its keys, and a value is never turned into a map or a list.
func FuzzValueCannotChangeStructure(f *testing.F) {
	for _, seed := range []string{"3", "x: y", "a\nb: c", "---\nkind: Secret", "{a: 1}", "[1]", "- x", "# c", "'q'", "\"q\"", "&a", "*a", "!!binary x", "$$", "${X}", ""} {
		f.Add(seed)
	}
	doc := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  plain: ${V}\n  quoted: \"${V}\"\n  mixed: pre-$V-post\n"
	f.Fuzz(func(t *testing.T, val string) {
		v := NewVars()
		v.put("V", val, layerFlag)
		set, err := Load(context.Background(), Options{Paths: []string{"-"}, Stdin: strings.NewReader(doc), Vars: v})
		if err != nil {
			t.Fatalf("value %q made a valid document fail: %v", val, err)
		}
		if len(set.Objects) != 1 {
			t.Fatalf("value %q produced %d objects", val, len(set.Objects))
		}
		data, ok := set.Objects[0].Object["data"].(map[string]any)
		if !ok || len(data) != 3 {
			t.Fatalf("value %q changed data to %#v", val, set.Objects[0].Object["data"])
		}
		if data["quoted"] != val || data["mixed"] != "pre-"+val+"-post" {
			t.Fatalf("value %q not kept verbatim: %#v", val, data)
		}
		switch data["plain"].(type) {
		case map[string]any, []any:
			t.Fatalf("value %q became a collection", val)
		case string:
			if data["plain"] != val {
				t.Fatalf("value %q became string %q", val, data["plain"])
			}
		}
	})
}
