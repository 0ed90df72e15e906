package manifest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func load(t *testing.T, content string, v *Vars, strict bool) (*Set, error) {
	t.Helper()
	return Load(context.Background(), Options{Paths: []string{"-"}, Stdin: strings.NewReader(content), Vars: v, Strict: strict})
}

func mustLoad(t *testing.T, content string, v *Vars) *Set {
	t.Helper()
	set, err := load(t, content, v, false)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n"

// TestInjectionCannotChangeStructure feeds hostile values through a
// variable and checks that each lands verbatim in the one string field.
func TestInjectionCannotChangeStructure(t *testing.T) {
	hostile := []string{
		"x\nextra: key",
		"x: y",
		"- item",
		"value # comment",
		"x\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen",
		`"quoted" 'single'`,
		"{a: b}",
		"[x, y]",
		"&anchor x",
		"*alias",
		"!!binary aGVsbG8=",
		"!!python/object/apply:os.system ['id']",
		"|\n  block",
		"${NESTED}",
		strings.Repeat("long-", 20000),
	}
	for _, val := range hostile {
		t.Run(strings.SplitN(val, "\n", 2)[0], func(t *testing.T) {
			v := vars("V=" + val)
			v.put("NESTED", "should-not-expand-twice", layerFlag)
			for _, doc := range []string{cm + "  key: ${V}\n", cm + "  key: \"${V}\"\n", cm + "  key: pre-${V}\n"} {
				set := mustLoad(t, doc, v)
				if len(set.Objects) != 1 {
					t.Fatalf("%d objects, want 1", len(set.Objects))
				}
				data, _, _ := unstructured.NestedMap(set.Objects[0].Object, "data")
				if len(data) != 1 {
					t.Fatalf("data has keys %v, want only key", reflect.ValueOf(data).MapKeys())
				}
				got := data["key"]
				want := val
				if strings.Contains(doc, "pre-") {
					want = "pre-" + val
				}
				if got != want {
					t.Errorf("key = %#v, want the value verbatim", got)
				}
			}
		})
	}
}

func TestTypedScalars(t *testing.T) {
	cases := []struct {
		doc  string
		val  string
		want any
	}{
		{"replicas: ${N}", "3", int64(3)},
		{"replicas: $N", "3", int64(3)},
		{"replicas: \"${N}\"", "3", "3"},
		{"replicas: '${N}'", "3", "3"},
		{"replicas: !!str ${N}", "3", "3"},
		{"replicas: ${N}x", "3", "3x"},
		{"ratio: ${N}", "1.5", 1.5},
		{"enabled: ${N}", "true", true},
		{"nothing: ${N}", "null", nil},
		{"empty: ${N}", "", ""},
		{"mapish: ${N}", "{a: 1}", "{a: 1}"},
		{"listish: ${N}", "[1]", "[1]"},
		{"colon: ${N}", "a: b", "a: b"},
		{"octal-looking: ${N}", "0755", int64(493)},
		{"port: 8080", "", int64(8080)},
		{"version: \"8\"", "", "8"},
		{"date: 2001-12-14", "", "2001-12-14"},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			set := mustLoad(t, "apiVersion: v1\nkind: X\nmetadata: {name: x}\nspec:\n  "+tc.doc+"\n", vars("N="+tc.val))
			spec := set.Objects[0].Object["spec"].(map[string]any)
			for _, got := range spec {
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("got %#v (%T), want %#v (%T)", got, got, tc.want, tc.want)
				}
			}
		})
	}
}

func TestUndefinedVariables(t *testing.T) {
	doc := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nginx\n  annotations:\n    snippet: proxy_set_header Host $host;\ndata:\n  image: app:${TAG}\n"
	set := mustLoad(t, doc, NewVars())
	if got := set.Objects[0].Object["data"].(map[string]any)["image"]; got != "app:${TAG}" {
		t.Errorf("undefined variable not left as written: %v", got)
	}
	if !reflect.DeepEqual(set.Undefined, []string{"TAG", "host"}) {
		t.Errorf("undefined = %v", set.Undefined)
	}
	_, err := load(t, doc, NewVars(), true)
	var me *Error
	if !errors.As(err, &me) || me.Field != "metadata.annotations.snippet" || me.Line != 6 || !strings.Contains(err.Error(), "undefined variable host") {
		t.Errorf("strict error = %v (%+v)", err, me)
	}
}

func TestBadInput(t *testing.T) {
	cases := []struct {
		name, doc, wantField, wantText string
		wantDoc, wantLine              int
	}{
		{"malformed", cm + "  a: [\n---\n", "", "malformed YAML", 1, 0},
		{"no kind", "apiVersion: v1\nmetadata: {name: x}\n", "kind", "required", 1, 1},
		{"no apiVersion", "kind: ConfigMap\nmetadata: {name: x}\n", "apiVersion", "required", 1, 1},
		{"no name", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "metadata.name", "required", 1, 1},
		{"empty generateName", "apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: \"\"}\n", "metadata.generateName", "non-empty", 1, 1},
		{"list document", "- a\n- b\n", "", "must be a mapping", 1, 1},
		{"scalar document", "just text\n", "", "must be a mapping", 1, 1},
		{"second document", cm + "  a: b\n---\napiVersion: v1\nkind: ConfigMap\n", "metadata", "required", 2, 8},
		{"duplicate", cm + "  a: b\n---\n" + cm + "  c: d\n", "metadata.name", "defined twice", 2, 8},
		{"duplicate key", cm + "  a: b\n  a: c\n", "data.a", "duplicate key", 1, 0},
		{"alias", "apiVersion: v1\nkind: ConfigMap\nmetadata: &m {name: x}\ndata: *m\n", "metadata", "anchors", 1, 3},
		{"merge key", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  <<: {a: b}\n", "data", "merge keys", 1, 5},
		{"custom tag", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: !!python/object {}\n", "data", "tag", 1, 4},
		{"empty input", "# nothing\n---\n", "", "no objects found", 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.doc, NewVars(), false)
			var me *Error
			if !errors.As(err, &me) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if me.Field != tc.wantField || me.Doc != tc.wantDoc || (tc.wantLine > 0 && me.Line != tc.wantLine) || !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("got %q (field %q doc %d line %d), want field %q doc %d line %d containing %q",
					err, me.Field, me.Doc, me.Line, tc.wantField, tc.wantDoc, tc.wantLine, tc.wantText)
			}
			if tc.wantDoc > 0 && !strings.HasPrefix(err.Error(), "<stdin>: document ") {
				t.Errorf("error should start with the file and document: %q", err)
			}
		})
	}
}

func TestReadingInputs(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	obj := func(name string) string { return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\n" }
	write("a.yaml", obj("a"))
	write("sub/b.yml", obj("b"))
	write("sub/deep/c.json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}`+"\n"+`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c2"}}`)
	write("sub/notes.txt", "not a manifest")
	write("list.yaml", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: l1}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: l2}}\n")
	write("bin/x.yaml", "apiVersion: v1\x00\x01")
	names := func(paths ...string) ([]string, error) {
		set, err := Load(context.Background(), Options{Paths: paths})
		if err != nil {
			return nil, err
		}
		var out []string
		for _, o := range set.Objects {
			out = append(out, o.GetName())
		}
		return out, nil
	}
	cases := []struct {
		name  string
		paths []string
		want  []string
		err   string
	}{
		{"file", []string{filepath.Join(dir, "a.yaml")}, []string{"a"}, ""},
		{"directory recursive", []string{filepath.Join(dir, "sub")}, []string{"b", "c", "c2"}, ""},
		{"glob", []string{filepath.Join(dir, "*.yaml")}, []string{"a", "l1", "l2"}, ""},
		{"double star", []string{filepath.Join(dir, "sub/**/*.json")}, []string{"c", "c2"}, ""},
		{"same file twice", []string{filepath.Join(dir, "a.yaml"), filepath.Join(dir, "a.yaml")}, []string{"a"}, ""},
		{"missing", []string{filepath.Join(dir, "nope.yaml")}, nil, "no such file"},
		{"glob without match", []string{filepath.Join(dir, "*.toml")}, nil, "no file matches"},
		{"binary", []string{filepath.Join(dir, "bin/x.yaml")}, nil, "binary content"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := names(tc.paths...)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestHugeInputRefused(t *testing.T) {
	_, err := Load(context.Background(), Options{Paths: []string{"-"}, Stdin: strings.NewReader(strings.Repeat("#", 2048)), MaxFileBytes: 1024})
	if err == nil || !strings.Contains(err.Error(), "larger than 1024 bytes") {
		t.Errorf("err = %v", err)
	}
}

func TestRenderRoundTrip(t *testing.T) {
	v := vars("V=line1\n---\nkind: Secret\n\"q\" $x")
	set := mustLoad(t, cm+"  key: ${V}\n  n: 3\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: hunter2}\n", v)
	var buf strings.Builder
	if err := set.YAML(&buf); err != nil {
		t.Fatal(err)
	}
	again, err := load(t, buf.String(), nil, false)
	if err != nil {
		t.Fatalf("rendered output does not parse: %v\n%s", err, buf.String())
	}
	if len(again.Objects) != 2 || !reflect.DeepEqual(again.Objects[0].Object, set.Objects[0].Object) {
		t.Errorf("round trip changed the objects:\n%s", buf.String())
	}
	set.RedactSecrets()
	buf.Reset()
	_ = set.YAML(&buf)
	if strings.Contains(buf.String(), "hunter2") {
		t.Error("RedactSecrets left a Secret value")
	}
}
