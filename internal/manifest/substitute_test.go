package manifest

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/hint"
)

func TestSubstitute(t *testing.T) {
	v := vars("HOST=example.com", "PORT=8080")
	cases := []struct {
		in, out   string
		undefined []string
	}{
		{"http://${HOST}:$PORT/health", "http://example.com:8080/health", nil},
		{"http://$HOST/$B/$A/$B", "http://example.com/$B/$A/$B", []string{"A", "B"}},
		{"price: $$5", "price: $5", nil},
		{"", "", nil},
	}
	for _, tc := range cases {
		out, undefined := Substitute(tc.in, v)
		if out != tc.out || !slices.Equal(undefined, tc.undefined) {
			t.Errorf("Substitute(%q) = %q, %v; want %q, %v", tc.in, out, undefined, tc.out, tc.undefined)
		}
	}
	if out, undefined := Substitute("$$ ${X}", nil); out != "$$ ${X}" || undefined != nil {
		t.Errorf("nil Vars substituted: %q, %v", out, undefined)
	}
}

// spec loads a ConfigMap-like object whose spec is doc, and returns spec.
func spec(t *testing.T, doc string, v *Vars) map[string]any {
	t.Helper()
	set := mustLoad(t, "apiVersion: v1\nkind: X\nmetadata: {name: x}\nspec:\n"+doc, v)
	return set.Objects[0].Object["spec"].(map[string]any)
}

func TestScalarTypes(t *testing.T) {
	cases := []struct {
		name, doc, val string
		want           any
	}{
		{"hex by YAML rules", "  v: ${N}\n", "0x1F", int64(31)},
		{"exponent", "  v: ${N}\n", "1e3", 1000.0},
		{"negative", "  v: ${N}\n", "-7", int64(-7)},
		{"beyond int64", "  v: ${N}\n", "99999999999999999999", 1e20},
		{"yes stays a string (YAML 1.2)", "  v: ${N}\n", "yes", "yes"},
		{"tilde is null", "  v: ${N}\n", "~", nil},
		{"infinity stays a string", "  v: ${N}\n", ".inf", ".inf"},
		{"timestamp stays a string", "  v: ${N}\n", "2001-12-14", "2001-12-14"},
		{"trailing newline stays a string", "  v: ${N}\n", "3\n", "3\n"},
		{"leading space stays a string", "  v: ${N}\n", " 3", " 3"},
		{"merge key text stays a string", "  v: ${N}\n", "<<", "<<"},
		{"explicit int tag", "  v: !!int ${N}\n", "3", int64(3)},
		{"explicit int tag on a quoted scalar", "  v: !!int \"${N}\"\n", "3", int64(3)},
		{"explicit float tag", "  v: !!float ${N}\n", "2", 2.0},
		{"explicit bool tag", "  v: !!bool ${N}\n", "false", false},
		{"explicit str tag", "  v: !!str ${N}\n", "true", "true"},
		{"two variables", "  v: ${N}${N}\n", "1", "11"},
		{"escaped dollar only", "  v: $$N\n", "1", "$N"},
		{"block scalar", "  v: |\n    ${N}\n", "3", "3\n"},
		{"in a flow sequence", "  v: [$N]\n", "3", []any{int64(3)}},
		{"in a flow mapping", "  v: {k: $N}\n", "true", map[string]any{"k": true}},
		{"undefined stays a string", "  v: ${UNSET}\n", "3", "${UNSET}"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := spec(t, tc.doc, vars("N="+tc.val))["v"]
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v (%T), want %#v (%T)", got, got, tc.want, tc.want)
			}
		})
	}
}

func TestLiteralScalars(t *testing.T) {
	got := spec(t, "  int: 3\n  octal: 0o17\n  float: 1.5\n  bool: true\n  null: ~\n  str: \"3\"\n  big: 18446744073709551615\n  bin: !!binary aGVsbG8=\n  ts: 2001-12-14t21:59:43.10-05:00\n", nil)
	want := map[string]any{"int": int64(3), "octal": int64(15), "float": 1.5, "bool": true, "null": nil, "str": "3",
		"big": float64(math.MaxUint64), "bin": "aGVsbG8=", "ts": "2001-12-14t21:59:43.10-05:00"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
}

func TestScalarErrors(t *testing.T) {
	cases := []struct {
		name, doc, val, field, text string
	}{
		{"value does not fit its explicit tag", "  v: !!int ${N}\n", "a: b", "spec.v", "not a valid !!int"},
		{"infinity literal", "  v: .inf\n", "", "spec.v", "cannot be represented in JSON"},
		{"NaN literal", "  v: .nan\n", "", "spec.v", "cannot be represented in JSON"},
		{"bad int literal", "  v: !!int abc\n", "", "spec.v", "not a valid !!int"},
		{"set tag", "  v: !!set {a}\n", "", "spec.v", "tag !!set"},
		{"custom scalar tag", "  v: !secret x\n", "", "spec.v", "tag !secret"},
		{"python tag on a scalar", "  v: !!python/object/apply:os.system [id]\n", "", "spec.v", "tag !!python/object/apply:os.system"},
		{"tag on a sequence", "  v: !list [a]\n", "", "spec.v", "tag !list"},
		{"complex key", "  ? [a]\n  : b\n", "", "spec", "scalar mapping keys"},
		{"alias in a list", "  a: &x 1\n  b: [*x]\n", "", "spec.a", "anchors (&x)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, "apiVersion: v1\nkind: X\nmetadata: {name: x}\nspec:\n"+tc.doc, vars("N="+tc.val), false)
			var me *Error
			if !errors.As(err, &me) || me.Field != tc.field || me.Line != 5 || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("err = %v; want field %q, line 5, containing %q", err, tc.field, tc.text)
			}
		})
	}
}

func TestKeySubstitution(t *testing.T) {
	got := spec(t, "  ${K}: v\n  \"${N}\": n\n  prefix-$K: p\n", vars("K=app.kubernetes.io/name", "N=3"))
	want := map[string]any{"app.kubernetes.io/name": "v", "3": "n", "prefix-app.kubernetes.io/name": "p"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
	_, err := load(t, "apiVersion: v1\nkind: X\nmetadata: {name: x}\nspec:\n  a: 1\n  ${K}: 2\n", vars("K=a"), false)
	var me *Error
	if !errors.As(err, &me) || me.Field != "spec.a" || me.Line != 6 || !strings.Contains(err.Error(), "duplicate key") {
		t.Errorf("duplicate key after substitution: err = %v", err)
	}
}

func TestNoVarsNoSubstitution(t *testing.T) {
	set := mustLoad(t, "apiVersion: v1\nkind: X\nmetadata: {name: x}\nspec:\n  a: $$HOME\n  b: ${HOME}\n", nil)
	got := set.Objects[0].Object["spec"]
	if want := map[string]any{"a": "$$HOME", "b": "${HOME}"}; !reflect.DeepEqual(got, want) || set.Undefined != nil {
		t.Errorf("got %#v, undefined %v; want %#v and none", got, set.Undefined, want)
	}
}

func TestStrictErrorLocation(t *testing.T) {
	doc := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n" +
		"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n" +
		"  annotations:\n    nginx.ingress.kubernetes.io/snippet: ok\n" +
		"spec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: app:${TAG}\n"
	cases := []struct {
		name, doc, field string
		line             int
	}{
		{"value", doc, "spec.template.spec.containers[0].image", 16},
		{"key with dots", strings.Replace(doc, "/snippet: ok", "/${TAG}: ok", 1), `metadata.annotations["nginx.ingress.kubernetes.io/${TAG}"]`, 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.doc, NewVars(), true)
			var me *Error
			if !errors.As(err, &me) || me.File != stdinName || me.Doc != 2 || me.Line != tc.line || me.Field != tc.field ||
				!strings.Contains(err.Error(), "undefined variable TAG with strict variables on") {
				t.Errorf("err = %v (%+v); want document 2, line %d, field %s", err, me, tc.line, tc.field)
			}
			if got := hint.Settings(err); !slices.Equal(got, []hint.Setting{hint.StrictVars}) {
				t.Errorf("err = %v hints %q, want %s", err, got, hint.StrictVars)
			}
		})
	}
}

// TestManyReferencesLinear: scanning references stays linear, so a long
// scalar full of "${" (or of references) cannot stall a load.
func TestManyReferencesLinear(t *testing.T) {
	for _, unit := range []string{"${", "$V", "${V}", "$$", "${V"} {
		big := strings.Repeat(unit, 2<<20)
		done := make(chan struct{})
		go func() {
			defer close(done)
			out, _ := Substitute(big, vars("V=x"))
			if len(out) == 0 {
				t.Error("empty output")
			}
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("substituting %d × %q takes more than 20 s", 2<<20, unit)
		}
	}
}
