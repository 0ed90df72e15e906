package route

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func parse(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

var pair = Backends{Service: "web", Stable: "web-stable", Canary: "web-canary"}

func TestSplit(t *testing.T) {
	cases := []struct {
		name, rules string
		canary      int
		want        string // the rules' refs, "name:port:weight" joined by " ", rules by " | "
		rewritten   int
		err         string
	}{
		{name: "the app's Service becomes the pair", canary: 10,
			rules: `[{backendRefs: [{name: web, port: 80}]}]`, want: "web-stable:80:90 web-canary:80:10", rewritten: 1},
		{name: "a pair already written is rewritten", canary: 50,
			rules: `[{backendRefs: [{name: web-stable, port: 80, weight: 90}, {name: web-canary, port: 80, weight: 10}]}]`,
			want:  "web-stable:80:50 web-canary:80:50", rewritten: 1},
		{name: "other backends and rules stay", canary: 0,
			rules: `[{backendRefs: [{name: api, port: 8080}, {name: web, port: 80}]}, {backendRefs: [{name: docs, port: 80}]}]`,
			want:  "api:8080:- web-stable:80:100 web-canary:80:0 | docs:80:-", rewritten: 1},
		{name: "every rule that sends to the app", canary: 100,
			rules: `[{matches: [{path: {value: /a}}], backendRefs: [{name: web, port: 80}]}, {backendRefs: [{name: web, port: 80}]}]`,
			want:  "web-stable:80:0 web-canary:80:100 | web-stable:80:0 web-canary:80:100", rewritten: 2},
		{name: "a ref of another kind is not the Service", canary: 10,
			rules: `[{backendRefs: [{name: web, kind: ServiceImport, group: multicluster.x-k8s.io, port: 80}]}]`,
			want:  "web:80:-", rewritten: 0},
		{name: "a route that does not send to the app", canary: 10,
			rules: `[{backendRefs: [{name: api, port: 80}]}]`, want: "api:80:-", rewritten: 0},
		{name: "two ports of the app in one rule", canary: 10,
			rules: `[{backendRefs: [{name: web, port: 80}, {name: web-canary, port: 81}]}]`,
			err:   "spec.rules[0].backendRefs[1]: port 81, where an earlier ref to the app's Services has 80"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := parse(t, "kind: HTTPRoute\nspec:\n  rules: "+tc.rules)
			n, err := Split(u, pair, tc.canary)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.rewritten {
				t.Errorf("rewrote %d rules, want %d", n, tc.rewritten)
			}
			if got := refs(u); got != tc.want {
				t.Errorf("refs %q, want %q", got, tc.want)
			}
		})
	}
}

func refs(u *unstructured.Unstructured) string {
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	var out []string
	for _, r := range rules {
		list, _, _ := unstructured.NestedSlice(r.(map[string]any), "backendRefs")
		var names []string
		for _, x := range list {
			ref := x.(map[string]any)
			w := "-"
			if v, ok := ref["weight"]; ok {
				w = strings.TrimSpace(strings.Trim(yamlOf(v), "\n"))
			}
			names = append(names, yamlOf(ref["name"])+":"+yamlOf(ref["port"])+":"+w)
		}
		out = append(out, strings.Join(names, " "))
	}
	return strings.Join(out, " | ")
}

func yamlOf(v any) string {
	b, _ := yaml.Marshal(v)
	return strings.TrimSpace(string(b))
}

func TestWeights(t *testing.T) {
	u := parse(t, `spec: {rules: [{backendRefs: [{name: api}]}, {backendRefs: [{name: web-stable, weight: 70}, {name: web-canary, weight: 30}]}]}`)
	if s, c, ok := Weights(u, pair); !ok || s != 70 || c != 30 {
		t.Errorf("weights %d/%d (%v), want 70/30", s, c, ok)
	}
	if _, _, ok := Weights(parse(t, `spec: {rules: [{backendRefs: [{name: web}]}]}`), pair); ok {
		t.Error("a route without the pair has weights")
	}
}

func TestAccepted(t *testing.T) {
	cond := func(typ, status string, gen int) string {
		return "{type: " + typ + ", status: \"" + status + "\", reason: R, message: M, observedGeneration: " + string(rune('0'+gen)) + "}"
	}
	cases := []struct {
		name, parents string
		accepted      bool
		reason        string
	}{
		{"no status yet", `[]`, false, "no gateway has reported on the route yet"},
		{"accepted at the generation", "[{parentRef: {name: gw}, conditions: [" + cond("Accepted", "True", 3) + ", " + cond("ResolvedRefs", "True", 3) + "]}]", true, ""},
		{"accepted later", "[{parentRef: {name: gw}, conditions: [" + cond("Accepted", "True", 4) + ", " + cond("ResolvedRefs", "True", 4) + "]}]", true, ""},
		{"an older generation", "[{parentRef: {name: gw}, conditions: [" + cond("Accepted", "True", 2) + ", " + cond("ResolvedRefs", "True", 2) + "]}]", false, "Accepted is of generation 2, not yet 3"},
		{"refs unresolved", "[{parentRef: {name: gw}, conditions: [" + cond("Accepted", "True", 3) + ", " + cond("ResolvedRefs", "False", 3) + "]}]", false, "parent 0 (gw): ResolvedRefs is False: R (M)"},
		{"one of two parents behind", "[{parentRef: {name: a}, conditions: [" + cond("Accepted", "True", 3) + ", " + cond("ResolvedRefs", "True", 3) + "]}, {parentRef: {name: b}, conditions: [" + cond("Accepted", "True", 3) + "]}]", false, "parent 1 (b): ResolvedRefs is not reported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Accepted(parse(t, "status: {parents: "+tc.parents+"}"), 3)
			if got.Accepted != tc.accepted || !strings.Contains(got.Reason, tc.reason) {
				t.Errorf("got %+v, want accepted %v, reason containing %q", got, tc.accepted, tc.reason)
			}
		})
	}
}

func TestAddHeaderRules(t *testing.T) {
	h := Header{Name: "X-Canary", Value: "always"}
	cases := []struct {
		name, rules string
		want        string // each rule: its matches' headers, then its refs
		err         string
	}{
		{name: "a rule without matches gets one of the header",
			rules: `[{backendRefs: [{name: web-stable, port: 80, weight: 90}, {name: web-canary, port: 80, weight: 10}]}]`,
			want:  "[X-Canary] web-canary:80:1 | [] web-stable:80:90 web-canary:80:10"},
		{name: "each match keeps its path and adds the header",
			rules: `[{matches: [{path: {value: /a}}, {path: {value: /b}, headers: [{name: X-Team, value: qa}]}], backendRefs: [{name: web-canary, port: 80, weight: 0}, {name: web-stable, port: 80, weight: 100}]}, {backendRefs: [{name: docs, port: 80}]}]`,
			want:  "[X-Canary] [X-Team X-Canary] web-canary:80:1 | [] [X-Team] web-canary:80:0 web-stable:80:100 | [] docs:80:-"},
		{name: "too many rules", rules: "[" + strings.Repeat(`{backendRefs: [{name: web-canary, port: 80}]},`, 9) + "]",
			err: "spec.rules: 9 rules and 9 header rules for the canary pass the Gateway API's limit of 16"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := parse(t, "kind: HTTPRoute\nspec:\n  rules: "+tc.rules)
			err := AddHeaderRules(u, pair, h)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := headerRules(u); got != tc.want {
				t.Errorf("rules %q, want %q", got, tc.want)
			}
		})
	}
}

// headerRules renders each rule as the header names of each of its
// matches, then its refs (as refs does).
func headerRules(u *unstructured.Unstructured) string {
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	backends := strings.Split(refs(u), " | ")
	var out []string
	for i, r := range rules {
		matches, _, _ := unstructured.NestedSlice(r.(map[string]any), "matches")
		var ms []string
		for _, m := range matches {
			hs, _, _ := unstructured.NestedSlice(m.(map[string]any), "headers")
			var names []string
			for _, h := range hs {
				names = append(names, h.(map[string]any)["name"].(string))
			}
			ms = append(ms, "["+strings.Join(names, " ")+"]")
		}
		if len(ms) == 0 {
			ms = []string{"[]"}
		}
		out = append(out, strings.Join(ms, " ")+" "+backends[i])
	}
	return strings.Join(out, " | ")
}
