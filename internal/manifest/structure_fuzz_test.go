package manifest

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
)

// FuzzStructure: whatever a variable holds, substituting it into any scalar
// of any template gives the same set of paths, with the same kinds, as a
// harmless value does; it never fails a valid document and never panics.
func FuzzStructure(f *testing.F) {
	for _, v := range hostileValues {
		if len(v) < 1000 {
			f.Add(v)
		}
	}
	names := slices.Sorted(maps.Keys(injectionTemplates))
	want := map[string]map[string]string{}
	for _, name := range names {
		set, err := Load(f.Context(), Options{Paths: []string{"-"}, Stdin: strings.NewReader(injectionTemplates[name]), Vars: vars("V=harmless")})
		if err != nil {
			f.Fatal(err)
		}
		want[name] = setShape(set)
		delete(want[name], "0/metadata/annotations/harmless")
	}
	f.Fuzz(func(t *testing.T, val string) {
		v := NewVars()
		v.put("V", val, layerFlag)
		for _, name := range names {
			set, err := Load(t.Context(), Options{Paths: []string{"-"}, Stdin: strings.NewReader(injectionTemplates[name]), Vars: v})
			if err != nil {
				if name == "annotation key" && val == "after" { // a genuine duplicate key
					continue
				}
				t.Fatalf("%s: value %q broke a valid document: %v", name, val, err)
			}
			got := setShape(set)
			delete(got, "0/metadata/annotations/"+val)
			if !maps.Equal(got, want[name]) {
				t.Fatalf("%s: value %q changed the structure:\ngot  %v\nwant %v", name, val, got, want[name])
			}
		}
	})
}

// FuzzLoad: any input either loads into JSON-compatible objects or fails
// with an *Error; it never panics.
func FuzzLoad(f *testing.F) {
	for _, tmpl := range injectionTemplates {
		f.Add(tmpl, "x")
	}
	f.Add("a: &x [*x, *x]\n", "")
	f.Add("apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: List, items: [1]}]\n", "")
	f.Add("{\"apiVersion\": \"v1\", \"kind\": \"X\", \"metadata\": {\"name\": \"$V\"}}{", "3")
	f.Fuzz(func(t *testing.T, doc, val string) {
		v := NewVars()
		v.put("V", val, layerFlag)
		set, err := Load(t.Context(), Options{Paths: []string{"-"}, Stdin: strings.NewReader(doc), Vars: v})
		if err != nil {
			var me *Error
			if !errors.As(err, &me) {
				t.Fatalf("error is not an *Error: %v", err)
			}
			return
		}
		for _, o := range set.Objects {
			c := o.DeepCopy() // panics on values that are not JSON-compatible
			if _, err := json.Marshal(c.Object); err != nil {
				t.Fatalf("object does not marshal to JSON: %v", err)
			}
		}
	})
}
