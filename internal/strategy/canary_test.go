package strategy

import (
	"reflect"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cutover/cutover/internal/manifest"
)

func TestCanaryReplicas(t *testing.T) {
	for _, tc := range []struct {
		weight, stable, replicas, share int
	}{
		{0, 4, 0, 0},
		{10, 4, 1, 20},  // the smallest canary is a pod: a fifth of the traffic
		{25, 4, 1, 20},  // 1 of 5
		{50, 4, 2, 33},  // 2 of 6
		{100, 4, 4, 50}, // stable keeps its pods: half at most
		{10, 20, 2, 9},  // 2 of 22
		{33, 3, 1, 25},  // 0.99 rounds up
		{10, 0, 1, 100}, // nothing stable to share with
		{0, 0, 0, 0},
	} {
		n, share := canaryReplicas(tc.weight, tc.stable)
		if n != tc.replicas || share != tc.share {
			t.Errorf("canaryReplicas(%d%%, %d stable) = %d pods, %d%%; want %d, %d%%", tc.weight, tc.stable, n, share, tc.replicas, tc.share)
		}
	}
}

func TestDynamicSplit(t *testing.T) {
	for _, tc := range []struct {
		weight, full, canary, stable, share int
	}{
		{0, 4, 0, 4, 0},
		{10, 4, 1, 3, 25},   // the smallest canary is a pod
		{25, 4, 1, 3, 25},   // exact
		{50, 4, 2, 2, 50},   // exact
		{75, 4, 3, 1, 75},   // exact
		{90, 4, 4, 1, 80},   // stable keeps a pod below 100: one more than full
		{100, 4, 4, 0, 100}, // the canary takes every pod
		{50, 1, 1, 1, 50},   // one pod: the canary's is extra
		{10, 20, 2, 18, 10},
		{10, 0, 1, 0, 100}, // nothing stable to share with
	} {
		canary, stable, share := dynamicSplit(tc.weight, tc.full)
		if canary != tc.canary || stable != tc.stable || share != tc.share {
			t.Errorf("dynamicSplit(%d%%, %d) = %d canary, %d stable, %d%%; want %d, %d, %d%%",
				tc.weight, tc.full, canary, stable, share, tc.canary, tc.stable, tc.share)
		}
	}
}

func TestWeightBefore(t *testing.T) {
	steps := []CanaryStep{{Kind: StepWeight, Weight: 10}, {Kind: StepPause}, {Kind: StepWeight, Weight: 50}, {Kind: StepAnalysis}}
	for _, tc := range []struct {
		i, want int
		ok      bool
	}{{0, 0, false}, {1, 10, true}, {2, 10, true}, {3, 50, true}, {4, 50, true}, {9, 50, true}} {
		if w, ok := weightBefore(steps, tc.i); w != tc.want || ok != tc.ok {
			t.Errorf("weightBefore(steps, %d) = %d, %v; want %d, %v", tc.i, w, ok, tc.want, tc.ok)
		}
	}
}

func TestStepStage(t *testing.T) {
	for _, tc := range []struct {
		s    CanaryStep
		want string
	}{
		{CanaryStep{Kind: StepWeight, Weight: 10}, "Step 2/5: weight 10%"},
		{CanaryStep{Kind: StepPause, Pause: 90 * time.Second}, "Step 2/5: pause 1m30s"},
		{CanaryStep{Kind: StepPause}, "Step 2/5: pause until promoted"},
		{CanaryStep{Kind: StepAnalysis, Analysis: "error rate"}, "Step 2/5: analysis error rate"},
	} {
		if got := stepStage(1, 5, tc.s); got != tc.want {
			t.Errorf("stepStage = %q, want %q", got, tc.want)
		}
	}
}

func TestCanaryDeployment(t *testing.T) {
	stable := manifest.Object{Unstructured: &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "labels": map[string]any{"team": "a"}},
		"spec": map[string]any{
			"replicas": int64(4),
			"selector": map[string]any{"matchLabels": map[string]any{"app": "web"}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": "web"}},
				"spec":     map[string]any{"containers": []any{map[string]any{"name": "web", "image": "tomcat:8"}}},
			},
		},
	}}}
	c, err := canaryDeployment(stable)
	if err != nil {
		t.Fatal(err)
	}
	if c.GetName() != "web-canary" {
		t.Errorf("name %s, want web-canary", c.GetName())
	}
	sel, _, _ := unstructured.NestedStringMap(c.Object, "spec", "selector", "matchLabels")
	pod := templateLabels(c.Object)
	want := map[string]string{"app": "web", TrackLabel: TrackCanary}
	if !reflect.DeepEqual(sel, want) || !reflect.DeepEqual(map[string]string(pod), want) {
		t.Errorf("selector %v, pod labels %v; want both %v", sel, pod, want)
	}
	// Every Service that selects stable's pods selects the canary's; the
	// stable pods are told apart by the track label alone.
	if !labels.SelectorFromSet(labels.Set{"app": "web"}).Matches(pod) {
		t.Error("a Service selecting app=web does not select the canary's pods")
	}
	if n, _, _ := unstructured.NestedInt64(c.Object, "spec", "replicas"); n != 0 {
		t.Errorf("the canary starts at %d replicas, want 0", n)
	}
	if n, _, _ := unstructured.NestedInt64(stable.Object, "spec", "replicas"); n != 4 || stable.GetName() != "web" {
		t.Error("deriving the canary changed the stable object")
	}
	if image, _, _ := unstructured.NestedSlice(c.Object, "spec", "template", "spec", "containers"); !reflect.DeepEqual(image[0].(map[string]any)["image"], "tomcat:8") {
		t.Errorf("the canary runs %v, want the files' tomcat:8", image)
	}

	owned := stable
	owned.Object = map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "web"},
		"spec": map[string]any{"selector": map[string]any{"matchLabels": map[string]any{TrackLabel: "x"}},
			"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{TrackLabel: "x"}}}}}
	if _, err := canaryDeployment(owned); err == nil {
		t.Error("a Deployment that sets the track label itself was accepted")
	}
}
