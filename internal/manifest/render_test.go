package manifest

import (
	"encoding/json"
	"strings"
	"testing"

	sigsyaml "sigs.k8s.io/yaml"
)

// roundTripValues are strings that a careless writer would let change
// type or structure on the way back in.
var roundTripValues = []string{
	"line1\nline2\n",
	"a\n---\nkind: Secret\nmetadata: {name: stolen}",
	"---",
	"...",
	"- item",
	"key: value",
	"# comment",
	"  leading and trailing  ",
	"trailing newlines\n\n\n",
	"\ttab",
	"yes", "no", "on", "off", "y", "true", "null", "~", "",
	"0755", "0x1F", "1e3", "1_000", ".inf", "12:30", "2001-12-14",
	"{a: b}", "[x]", "&a", "*a", "!!binary x", "%TAG", "@at", "`tick`", "'single'", `"double"`,
	"$HOME ${X} $$",
	"ünïcødé ✓ 😀",
	"\u2028\u0085",
	strings.Repeat("very long value ", 1000),
	strings.Repeat("x", 300) + "\n" + strings.Repeat("y ", 300),
}

func TestRenderRoundTripValues(t *testing.T) {
	v := NewVars()
	doc := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  annotations: {\"${K}\": x}\ndata:\n"
	keys := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keys}\ndata:\n"
	for i, val := range roundTripValues {
		name := "V" + strings.Repeat("X", i)
		v.put(name, val, layerFlag)
		doc += "  k" + strings.Repeat("k", i) + ": \"${" + name + "}\"\n"
		keys += "  \"${" + name + "}\": v\n"
	}
	v.put("K", "weird.key/with: colon", layerFlag)
	set := mustLoad(t, doc+"  int: 3\n  float: 1.5\n---\n"+keys, v)
	set.Objects[0].Object["nested"] = map[string]any{"list": []any{int64(1), 2.5, true, nil, "x\n---\ny"}}

	var buf strings.Builder
	if err := set.YAML(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	again, err := load(t, out, nil, false)
	if err != nil {
		t.Fatalf("rendered output does not load: %v\n%s", err, out)
	}
	if len(again.Objects) != len(set.Objects) {
		t.Fatalf("%d objects back, want %d:\n%s", len(again.Objects), len(set.Objects), out)
	}
	for i := range set.Objects {
		want := jsonOf(t, set.Objects[i].Object)
		if got := jsonOf(t, again.Objects[i].Object); got != want {
			t.Errorf("object %d changed through render:\ngot  %s\nwant %s", i, got, want)
		}
		// kubectl reads YAML with sigs.k8s.io/yaml (YAML 1.1 rules): same result.
		var kubectl map[string]any
		doc := strings.Split(out, "\n---\n")[i]
		if err := sigsyaml.Unmarshal([]byte(doc), &kubectl); err != nil {
			t.Fatalf("sigs.k8s.io/yaml cannot read object %d: %v", i, err)
		}
		if got := jsonOf(t, kubectl); got != want {
			t.Errorf("object %d reads differently with sigs.k8s.io/yaml:\ngot  %s\nwant %s", i, got, want)
		}
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRenderSourceComment(t *testing.T) {
	set := &Set{Objects: mustLoad(t, cmNamed("a"), nil).Objects}
	set.Objects[0].Source.File = "evil\n---\nkind: Secret\n.yaml"
	var buf strings.Builder
	if err := set.YAML(&buf); err != nil {
		t.Fatal(err)
	}
	if again, err := load(t, buf.String(), nil, false); err != nil || len(again.Objects) != 1 {
		t.Errorf("a file name broke out of its comment: %v\n%s", err, buf.String())
	}
	if !strings.HasPrefix(buf.String(), `# Source: evil\n---\nkind: Secret\n.yaml, document 1 (line 1)`+"\n") {
		t.Errorf("comment not escaped:\n%s", buf.String())
	}
}
