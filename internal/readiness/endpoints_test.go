package readiness

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestEndpointsMatch(t *testing.T) {
	now := metav1.Now()
	pod := func(name string, ready, terminating bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}}
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
		if terminating {
			p.DeletionTimestamp = &now
		}
		return p
	}
	ep := func(name string, ready bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: name},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready}}
	}
	slice := func(eps ...discoveryv1.Endpoint) []*discoveryv1.EndpointSlice {
		return []*discoveryv1.EndpointSlice{{Endpoints: eps}}
	}
	newA, newB := pod("new-a", true, false), pod("new-b", true, false)
	oldGoing := pod("old", true, true) // ready until its grace period ends, but terminating
	cases := []struct {
		name   string
		slices []*discoveryv1.EndpointSlice
		pods   []*corev1.Pod
		others bool   // OthersNotReady
		want   string // "" when they match, else a fragment of why not
	}{
		{"the ready pods, exactly", slice(ep("new-a", true), ep("new-b", true)), []*corev1.Pod{newA, newB}, false, ""},
		{"a terminating pod shown not ready", slice(ep("new-a", true), ep("new-b", true), ep("old", false)),
			[]*corev1.Pod{newA, newB, oldGoing}, false, ""},
		{"a stale slice: the terminating pod still ready, a new one missing", slice(ep("new-a", true), ep("old", true)),
			[]*corev1.Pod{newA, newB, oldGoing}, false, "old is a ready endpoint but not a ready pod"},
		{"a new pod not ready yet in the slice", slice(ep("new-a", true), ep("new-b", false)), []*corev1.Pod{newA, newB}, false, "1 of 2"},
		{"another pod's endpoint", slice(ep("new-a", true), ep("stranger", true)), []*corev1.Pod{newA}, false, "other pods"},
		{"no ready pod", slice(), []*corev1.Pod{pod("new-a", false, false)}, false, "no ready pod"},
		{"a leaving canary not ready, others allowed", slice(ep("new-a", true), ep("canary", false)), []*corev1.Pod{newA}, true, ""},
		{"a leaving canary still ready, others allowed", slice(ep("new-a", true), ep("canary", true)), []*corev1.Pod{newA}, true, "other pods"},
		{"a leaving canary not ready, others not allowed", slice(ep("new-a", true), ep("canary", false)), []*corev1.Pod{newA}, false, "other pods"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok, why := endpointsMatch(c.slices, c.pods, c.others)
			switch {
			case c.want == "" && !ok:
				t.Errorf("no match: %s", why)
			case c.want != "" && (ok || !strings.Contains(why, c.want)):
				t.Errorf("match %v (%q), want no match because %q", ok, why, c.want)
			}
		})
	}
}
