package manifest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestLists(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string // name@line
	}{
		{"List", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: b}\n",
			[]string{"a@4", "b@7"}},
		{"typed list", "apiVersion: apps/v1\nkind: DeploymentList\nitems:\n- {apiVersion: apps/v1, kind: Deployment, metadata: {name: d}}\n", []string{"apps/v1 Deployment d@4"}},
		{"typed list items without apiVersion and kind", "apiVersion: apps/v1\nkind: DeploymentList\nitems:\n- metadata: {name: d}\n", []string{"apps/v1 Deployment d@4"}},
		{"nested List", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items:\n  - {apiVersion: v1, kind: ConfigMap, metadata: {name: n}}\n", []string{"n@7"}},
		{"empty List", "apiVersion: v1\nkind: List\nitems: []\n---\n" + "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", []string{"c@5"}},
		{"List without items", "apiVersion: v1\nkind: List\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", []string{"c@4"}},
		{"kind ending in List without items is an object", "apiVersion: x.io/v1\nkind: AllowList\nmetadata: {name: allow}\nspec: {items: 3}\n", []string{"allow@1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, o := range mustLoad(t, tc.in, nil).Objects {
				name := o.GetName()
				if o.GetKind() == "Deployment" {
					name = o.GetAPIVersion() + " Deployment " + name
				}
				got = append(got, fmt.Sprintf("%s@%d", name, o.Source.Line))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestValidation(t *testing.T) {
	cases := []struct {
		name, in, field, text string
		line                  int
	}{
		{"apiVersion not a string", "apiVersion: 1\nkind: X\nmetadata: {name: x}\n", "apiVersion", "non-empty string", 1},
		{"empty kind", "apiVersion: v1\nkind: \"\"\nmetadata: {name: x}\n", "kind", "non-empty string", 1},
		{"metadata a list", "apiVersion: v1\nkind: X\nmetadata: [a]\n", "metadata", "must be an object", 1},
		{"name a number", "apiVersion: v1\nkind: X\nmetadata: {name: 3}\n", "metadata.name", "non-empty string", 1},
		{"name null", "apiVersion: v1\nkind: X\nmetadata: {name: ~, generateName: x-}\n", "metadata.name", "required", 1},
		{"namespace a map", "apiVersion: v1\nkind: X\nmetadata: {name: x, namespace: {a: b}}\n", "metadata.namespace", "must be a string", 1},
		{"List items not a list", "apiVersion: v1\nkind: List\nitems: {a: b}\n", "items", "must be a list", 1},
		{"List item not an object", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: X\n  metadata: {name: a}\n- just text\n", "items[1]", "must be an object", 7},
		{"List item without name", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: X\n  metadata: {name: a}\n- apiVersion: v1\n  kind: X\n  metadata: {}\n", "items[1].metadata.name", "required", 7},
		{"variable made the name empty", "apiVersion: v1\nkind: X\nmetadata: {name: \"${EMPTY}\"}\n", "metadata.name", "non-empty string", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.in, vars("EMPTY="), false)
			var me *Error
			if !errors.As(err, &me) || me.Field != tc.field || me.Line != tc.line || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("err = %v; want field %q, line %d, containing %q", err, tc.field, tc.line, tc.text)
			}
		})
	}
}

func TestGenerateNameAccepted(t *testing.T) {
	job := "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: migrate-}\n"
	set := mustLoad(t, job+"---\n"+job, nil)
	if len(set.Objects) != 2 || set.Objects[0].GetGenerateName() != "migrate-" {
		t.Errorf("objects %v: want two Jobs named by generateName (never duplicates)", set.Objects)
	}
}

func TestDuplicates(t *testing.T) {
	obj := func(apiVersion, kind, ns, name string) string {
		return "---\napiVersion: " + apiVersion + "\nkind: " + kind + "\nmetadata: {name: " + name + ", namespace: '" + ns + "'}\n"
	}
	cases := []struct {
		name, in string
		dup      bool
	}{
		{"same object", obj("v1", "ConfigMap", "a", "x") + obj("v1", "ConfigMap", "a", "x"), true},
		{"other version, same group", obj("apps/v1", "Deployment", "", "x") + obj("apps/v1beta2", "Deployment", "", "x"), true},
		{"other namespace", obj("v1", "ConfigMap", "a", "x") + obj("v1", "ConfigMap", "b", "x"), false},
		{"other group", obj("example.com/v1", "Widget", "", "x") + obj("other.io/v1", "Widget", "", "x"), false},
		{"other kind", obj("v1", "ConfigMap", "", "x") + obj("v1", "Secret", "", "x"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.in, nil, false)
			if !tc.dup {
				if err != nil {
					t.Errorf("err = %v, want none", err)
				}
				return
			}
			var me *Error
			if !errors.As(err, &me) || me.Doc != 2 || me.Line != 6 || !strings.Contains(err.Error(), "defined twice: here and in <stdin>, document 1 (line 2)") {
				t.Errorf("err = %v; want both sources named", err)
			}
		})
	}
}

func TestImagesAndDigest(t *testing.T) {
	mk := func(kind, image string) Object {
		u := &unstructured.Unstructured{Object: map[string]any{"kind": kind, "metadata": map[string]any{"name": "x"}}}
		path := podSpecPaths[kind]
		_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"name": "c", "image": image}}, append(slices.Clone(path), "containers")...)
		return Object{Unstructured: u}
	}
	objs := []Object{mk("Deployment", "tomcat:8"), mk("CronJob", "busybox:1"), mk("Deployment", "tomcat:8"), mk("ConfigMap", "no")}
	if got, want := Images(objs), []string{"busybox:1", "tomcat:8"}; !slices.Equal(got, want) {
		t.Errorf("Images = %v, want %v", got, want)
	}
	reordered := []Object{objs[3], objs[1], objs[0], objs[2]}
	if Digest(objs) != Digest(reordered) {
		t.Error("digest depends on order")
	}
	if Digest(objs) == Digest([]Object{mk("Deployment", "tomcat:9")}) {
		t.Error("different objects, same digest")
	}
}
