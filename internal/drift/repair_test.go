package drift

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestRepairs(t *testing.T) {
	ep := func(pod string, ready *bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{"10.0.0.1"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: pod},
			Conditions: discoveryv1.EndpointConditions{Ready: ready}}
	}
	slice := func(name string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Endpoints: eps}
	}
	pod := func(name string, deleting bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if deleting {
			p.DeletionTimestamp = &metav1.Time{}
		}
		return p
	}
	cases := []struct {
		name   string
		slices []*discoveryv1.EndpointSlice
		pods   []*corev1.Pod
		want   map[string][]string // slice -> the pods it keeps
	}{
		{name: "all there", slices: []*discoveryv1.EndpointSlice{slice("s1", ep("a", nil), ep("b", ptr.To(true)))},
			pods: []*corev1.Pod{pod("a", false), pod("b", false)}},
		{name: "a gone pod is dropped", slices: []*discoveryv1.EndpointSlice{slice("s1", ep("a", nil), ep("gone", nil))},
			pods: []*corev1.Pod{pod("a", false)}, want: map[string][]string{"s1": {"a"}}},
		{name: "a terminating pod may still serve", slices: []*discoveryv1.EndpointSlice{slice("s1", ep("a", nil), ep("t", nil))},
			pods: []*corev1.Pod{pod("a", false), pod("t", true)}},
		{name: "a gone pod already not ready is left", slices: []*discoveryv1.EndpointSlice{slice("s1", ep("a", nil), ep("gone", ptr.To(false)))},
			pods: []*corev1.Pod{pod("a", false)}},
		{name: "only the slice that lists it", slices: []*discoveryv1.EndpointSlice{slice("s1", ep("a", nil)), slice("s2", ep("gone", nil), ep("b", nil))},
			pods: []*corev1.Pod{pod("a", false), pod("b", false)}, want: map[string][]string{"s2": {"b"}}},
		{name: "never the last ready endpoint", slices: []*discoveryv1.EndpointSlice{slice("s1", ep("gone1", nil)), slice("s2", ep("gone2", nil))}},
		{name: "gone across slices, one left", slices: []*discoveryv1.EndpointSlice{slice("s1", ep("gone1", nil)), slice("s2", ep("gone2", nil), ep("b", nil))},
			pods: []*corev1.Pod{pod("b", false)}, want: map[string][]string{"s1": nil, "s2": {"b"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.slices[0].DeepCopy()
			got := map[string][]string{}
			for _, s := range repairs(tc.slices, tc.pods) {
				var kept []string
				for _, e := range s.Endpoints {
					kept = append(kept, e.TargetRef.Name)
				}
				got[s.Name] = kept
			}
			if len(got) != len(tc.want) {
				t.Fatalf("repaired %v, want %v", got, tc.want)
			}
			for name, kept := range tc.want {
				if g, ok := got[name]; !ok || !slices.Equal(g, kept) {
					t.Errorf("slice %s keeps %v, want %v", name, g, kept)
				}
			}
			if len(before.Endpoints) != len(tc.slices[0].Endpoints) {
				t.Error("the View's slice was changed in place")
			}
		})
	}
}
