// Package route splits traffic through a Gateway API HTTPRoute: it
// rewrites the route's backendRefs to an app's Service into a weighted
// pair, a stable and a canary Service, and confirms a weight change by the
// route's status, as every implementation of the Gateway API reports it:
// each parent Accepted and ResolvedRefs at the generation written or
// later.
package route

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// HTTPRoutes is the resource of the Gateway API's HTTPRoute.
var HTTPRoutes = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}

// Group is the Gateway API's group.
const Group = "gateway.networking.k8s.io"

// Backends names the pair a route's traffic for one Service is split
// between.
type Backends struct {
	// Service is the app's Service the route sends to in the files.
	Service string
	// Stable and Canary are the Services the split sends to.
	Stable, Canary string
}

// Split rewrites, in place, every backendRef of route u to b.Service, or
// already to b.Stable or b.Canary, into two: b.Stable with weight
// 100-canary and b.Canary with weight canary, on the port the ref named.
// It returns how many rules it rewrote: none means the route does not send
// to the Service.
func Split(u *unstructured.Unstructured, b Backends, canary int) (int, error) {
	rules, _, err := unstructured.NestedSlice(u.Object, "spec", "rules")
	if err != nil {
		return 0, fmt.Errorf("spec.rules: %w", err)
	}
	n := 0
	for i, r := range rules {
		rule, ok := r.(map[string]any)
		if !ok {
			return 0, fmt.Errorf("spec.rules[%d]: not an object", i)
		}
		refs, _, err := unstructured.NestedSlice(rule, "backendRefs")
		if err != nil {
			return 0, fmt.Errorf("spec.rules[%d].backendRefs: %w", i, err)
		}
		out, split, err := splitRefs(refs, b, canary)
		if err != nil {
			return 0, fmt.Errorf("spec.rules[%d].%w", i, err)
		}
		if !split {
			continue
		}
		rule["backendRefs"] = out
		n++
	}
	if n > 0 {
		if err := unstructured.SetNestedSlice(u.Object, rules, "spec", "rules"); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// splitRefs replaces the refs to the pair's Services by the weighted pair,
// where the first of them stood.
func splitRefs(refs []any, b Backends, canary int) ([]any, bool, error) {
	var out []any
	var port any
	at := -1
	for j, r := range refs {
		ref, ok := r.(map[string]any)
		if !ok {
			return nil, false, fmt.Errorf("backendRefs[%d]: not an object", j)
		}
		if !isService(ref) || !b.names(ref["name"]) {
			out = append(out, ref)
			continue
		}
		if at >= 0 && fmt.Sprint(ref["port"]) != fmt.Sprint(port) {
			return nil, false, fmt.Errorf("backendRefs[%d]: port %v, where an earlier ref to the app's Services has %v", j, ref["port"], port)
		}
		if at < 0 {
			at, port = len(out), ref["port"]
		}
	}
	if at < 0 {
		return refs, false, nil
	}
	pair := []any{backendRef(b.Stable, port, 100-canary), backendRef(b.Canary, port, canary)}
	out = append(out[:at], append(pair, out[at:]...)...)
	return out, true, nil
}

func backendRef(name string, port any, weight int) map[string]any {
	ref := map[string]any{"name": name, "weight": int64(weight)}
	if port != nil {
		ref["port"] = port
	}
	return ref
}

func (b Backends) names(v any) bool {
	name, _ := v.(string)
	return name == b.Service || name == b.Stable || name == b.Canary
}

// isService reports a backendRef to a core Service (the default kind).
func isService(ref map[string]any) bool {
	group, _ := ref["group"].(string)
	kind, _ := ref["kind"].(string)
	return group == "" && (kind == "" || kind == "Service")
}

// Weights returns the weights route u gives the pair's Services in its
// first rule that names them.
func Weights(u *unstructured.Unstructured, b Backends) (stable, canary int, found bool) {
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		refs, _, _ := unstructured.NestedSlice(rule, "backendRefs")
		for _, x := range refs {
			ref, _ := x.(map[string]any)
			w := weightOf(ref)
			switch ref["name"] {
			case b.Stable:
				stable, found = stable+w, true
			case b.Canary:
				canary, found = canary+w, true
			}
		}
		if found {
			return stable, canary, true
		}
	}
	return 0, 0, false
}

// weightOf is a backendRef's weight; unset means 1 (the API's default).
func weightOf(ref map[string]any) int {
	if w, ok := number(ref["weight"]); ok {
		return int(w)
	}
	return 1
}

// number reads an integer field: int64 from the API, float64 from YAML or
// JSON decoded generically.
func number(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case float64:
		return int64(n), true
	}
	return 0, false
}

// Acceptance is what a route's status says of a generation.
type Acceptance struct {
	Accepted bool   // every parent accepted it, its refs resolved
	Parents  int    // parents in the status
	Reason   string // why not, when not
}

// Accepted reads route u's status: every parent in status.parents has
// Accepted and ResolvedRefs True at observedGeneration gen or later.
func Accepted(u *unstructured.Unstructured, gen int64) Acceptance {
	parents, _, _ := unstructured.NestedSlice(u.Object, "status", "parents")
	if len(parents) == 0 {
		return Acceptance{Reason: "no gateway has reported on the route yet (status.parents is empty)"}
	}
	var why []string
	for i, p := range parents {
		parent, _ := p.(map[string]any)
		name, _, _ := unstructured.NestedString(parent, "parentRef", "name")
		for _, typ := range []string{"Accepted", "ResolvedRefs"} {
			if msg := condition(parent, typ, gen); msg != "" {
				why = append(why, fmt.Sprintf("parent %d (%s): %s", i, name, msg))
			}
		}
	}
	return Acceptance{Accepted: len(why) == 0, Parents: len(parents), Reason: strings.Join(why, "; ")}
}

// condition says what is wrong with a parent's condition typ at gen, or
// "".
func condition(parent map[string]any, typ string, gen int64) string {
	conds, _, _ := unstructured.NestedSlice(parent, "conditions")
	for _, c := range conds {
		cond, _ := c.(map[string]any)
		if cond["type"] != typ {
			continue
		}
		observed, _ := number(cond["observedGeneration"])
		switch {
		case observed < gen:
			return fmt.Sprintf("%s is of generation %d, not yet %d", typ, observed, gen)
		case cond["status"] != "True":
			return fmt.Sprintf("%s is %v: %v (%v)", typ, cond["status"], cond["reason"], cond["message"])
		}
		return ""
	}
	return typ + " is not reported"
}

// Header is an exact header match that sends a request to the canary
// whatever the weights: testers reach it before any user does.
type Header struct {
	Name, Value string
}

// maxRules is the Gateway API's limit of rules per HTTPRoute.
const maxRules = 16

// AddHeaderRules adds, to route u already split (Split), a rule for each
// rule that sends to b.Canary: its matches, each with the header h added
// (a rule without matches gets one), sending everything to b.Canary. The
// Gateway API prefers a match with more header matches, so requests with
// the header reach the canary, the others the split.
func AddHeaderRules(u *unstructured.Unstructured, b Backends, h Header) error {
	rules, _, err := unstructured.NestedSlice(u.Object, "spec", "rules")
	if err != nil {
		return fmt.Errorf("spec.rules: %w", err)
	}
	var added []any
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		refs, _, _ := unstructured.NestedSlice(rule, "backendRefs")
		ref := canaryRef(refs, b.Canary)
		if ref == nil {
			continue
		}
		added = append(added, map[string]any{"matches": withHeader(rule["matches"], h), "backendRefs": []any{ref}})
	}
	if len(rules)+len(added) > maxRules {
		return fmt.Errorf("spec.rules: %d rules and %d header rules for the canary pass the Gateway API's limit of %d", len(rules), len(added), maxRules)
	}
	return unstructured.SetNestedSlice(u.Object, append(added, rules...), "spec", "rules")
}

// canaryRef is a copy of the ref to the canary among refs, at weight 1, or
// nil.
func canaryRef(refs []any, canary string) map[string]any {
	for _, x := range refs {
		if ref, ok := x.(map[string]any); ok && ref["name"] == canary {
			out := map[string]any{"name": canary, "weight": int64(1)}
			if p, ok := ref["port"]; ok {
				out["port"] = p
			}
			return out
		}
	}
	return nil
}

// withHeader is matches, each with the header match h added; one match
// of h alone without matches.
func withHeader(matches any, h Header) []any {
	hm := map[string]any{"type": "Exact", "name": h.Name, "value": h.Value}
	list, _ := matches.([]any)
	if len(list) == 0 {
		return []any{map[string]any{"headers": []any{hm}}}
	}
	out := make([]any, 0, len(list))
	for _, m := range list {
		match, _ := m.(map[string]any)
		c := runtime.DeepCopyJSON(match)
		headers, _ := c["headers"].([]any)
		c["headers"] = append(headers, hm)
		out = append(out, c)
	}
	return out
}
