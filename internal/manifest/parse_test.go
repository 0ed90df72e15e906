package manifest

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestJSON(t *testing.T) {
	one := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"%s"},"data":{"a":"x"}}`
	cases := []struct {
		name, in string
		names    []string
	}{
		{"single value", strings.ReplaceAll(one, "%s", "a"), []string{"a"}},
		{"stream", strings.ReplaceAll(one, "%s", "a") + "\n" + strings.ReplaceAll(one, "%s", "b"), []string{"a", "b"}},
		{"concatenated", strings.ReplaceAll(one, "%s", "a") + strings.ReplaceAll(one, "%s", "b"), []string{"a", "b"}},
		{"list", `{"apiVersion":"v1","kind":"List","items":[` + strings.ReplaceAll(one, "%s", "a") + "," + strings.ReplaceAll(one, "%s", "b") + "]}", []string{"a", "b"}},
		{"yaml flow mapping, not JSON", "{apiVersion: v1, kind: ConfigMap, metadata: {name: a}}", []string{"a"}},
		{"JSON then YAML", strings.ReplaceAll(one, "%s", "a") + "\n---\n" + strings.ReplaceAll(one, "%s", "b"), []string{"a", "b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			set := mustLoad(t, tc.in, nil)
			var names []string
			for _, o := range set.Objects {
				names = append(names, o.GetName())
			}
			if !reflect.DeepEqual(names, tc.names) {
				t.Errorf("names %v, want %v", names, tc.names)
			}
		})
	}
}

func TestJSONValues(t *testing.T) {
	in := `{"apiVersion": "v1", "kind": "X", "metadata": {"name": "x"}, "spec": {
	"slash": "a\/b", "emoji": "\ud83d\ude00", "int": 3, "neg": -0, "float": 1.5, "exp": 1E+2,
	"big": 123456789012345678901234, "bool": false, "null": null, "list": [1, "2"],
	"quoted": "${N}", "mixed": "n=${N}", "dollars": "$$", "${K}": "key"}}`
	set := mustLoad(t, in, vars("N=3", "K=k"))
	want := map[string]any{"slash": "a/b", "emoji": "😀", "int": int64(3), "neg": int64(0), "float": 1.5, "exp": 100.0,
		"big": 1.2345678901234568e+23, "bool": false, "null": nil, "list": []any{int64(1), "2"},
		"quoted": "3", "mixed": "n=3", "dollars": "$", "k": "key"}
	if got := set.Objects[0].Object["spec"]; !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
}

func TestJSONErrors(t *testing.T) {
	cases := []struct {
		name, in  string
		doc, line int
		text      string
	}{
		{"syntax", "{\"apiVersion\": \"v1\",\n \"kind\": x}", 1, 2, "malformed JSON"},
		{"second value", "{\"apiVersion\":\"v1\",\"kind\":\"X\",\"metadata\":{\"name\":\"a\"}}\n\n{\"a\": }", 2, 3, "malformed JSON"},
		{"array", "[{\"apiVersion\": \"v1\"}]", 1, 1, "must be a mapping"},
		{"duplicate key", "{\"apiVersion\": \"v1\",\n\"apiVersion\": \"v2\"}", 1, 2, "duplicate key"},
		{"strict undefined", "{\"apiVersion\": \"v1\", \"kind\": \"X\",\n \"metadata\": {\"name\": \"${NAME}\"}}", 1, 2, "undefined variable NAME"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, "in.json", tc.in)
			_, err := Load(t.Context(), Options{Paths: []string{path}, Vars: NewVars(), Strict: true})
			var me *Error
			if !errors.As(err, &me) || me.File != path || me.Doc != tc.doc || me.Line != tc.line || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("err = %v; want document %d, line %d containing %q", err, tc.doc, tc.line, tc.text)
			}
		})
	}
}

func TestYAMLDocuments(t *testing.T) {
	obj := func(name string) string { return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n" }
	in := "---\n# leading comment\n---\n" + obj("a") + "---\n\n---\n# only a comment\n---\n" + obj("b") + "...\n"
	set := mustLoad(t, in, nil)
	var got []Source
	for _, o := range set.Objects {
		got = append(got, o.Source)
	}
	want := []Source{{File: stdinName, Doc: 2, Line: 4}, {File: stdinName, Doc: 5, Line: 13}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sources %v, want %v", got, want)
	}
}

func TestMalformedYAMLLine(t *testing.T) {
	in := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  labels: a: b\n"
	_, err := load(t, in, nil, false)
	var me *Error
	if !errors.As(err, &me) || me.Doc != 2 || me.Line != 9 || !strings.Contains(err.Error(), "malformed YAML: mapping values are not allowed") {
		t.Errorf("err = %v (%+v); want document 2, line 9", err, me)
	}
}

func TestNotAMapping(t *testing.T) {
	for _, in := range []string{"~\n", "null\n", "42\n", "- a\n", "\"text\"\n"} {
		_, err := load(t, in, nil, false)
		var me *Error
		if !errors.As(err, &me) || me.Doc != 1 || !strings.Contains(err.Error(), "must be a mapping") {
			t.Errorf("%q: err = %v", in, err)
		}
	}
}
