package drift

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func pod(name, color string, ready bool, mods ...func(*corev1.Pod)) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "tomcat", "role": color}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.0.1",
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func terminating(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.NewTime(time.Now())) }

func slice(ready map[string]bool) []*discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{}
	for name, r := range ready {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: name},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(r)},
		})
	}
	return []*discoveryv1.EndpointSlice{s}
}

func unsetReady(name string) []*discoveryv1.EndpointSlice {
	s := slice(map[string]bool{name: true})
	s[0].Endpoints[0].Conditions.Ready = nil
	return s
}

func service(sel map[string]string) *corev1.Service {
	return &corev1.Service{Spec: corev1.ServiceSpec{Selector: sel}}
}

func TestCompare(t *testing.T) {
	blue := map[string]string{"app": "tomcat", "role": "blue"}
	tests := []struct {
		name   string
		svc    *corev1.Service
		slices []*discoveryv1.EndpointSlice
		pods   []*corev1.Pod
		want   []Disagreement
	}{
		{"agree", service(blue), slice(map[string]bool{"a": true, "b": true}),
			[]*corev1.Pod{pod("a", "blue", true), pod("b", "blue", true), pod("g", "green", true)}, nil},
		{"a not-ready endpoint of a not-ready pod agrees", service(blue), slice(map[string]bool{"a": true, "b": false}),
			[]*corev1.Pod{pod("a", "blue", true), pod("b", "blue", false)}, nil},
		{"a terminating pod still a ready endpoint", service(blue), slice(map[string]bool{"a": true, "b": true}),
			[]*corev1.Pod{pod("a", "blue", true), pod("b", "blue", true, terminating)},
			[]Disagreement{{"b", Terminating}}},
		{"a deleted pod and a new one not yet routed (seed 318)", service(blue), slice(map[string]bool{"old": true}),
			[]*corev1.Pod{pod("new", "blue", true)},
			[]Disagreement{{"new", Missing}, {"old", Gone}}},
		{"after a switch the old color is still routed", service(blue), slice(map[string]bool{"g": true}),
			[]*corev1.Pod{pod("b", "blue", true), pod("g", "green", true)},
			[]Disagreement{{"b", Missing}, {"g", NotSelected}}},
		{"a ready endpoint of a pod that is not ready", service(blue), slice(map[string]bool{"a": true}),
			[]*corev1.Pod{pod("a", "blue", false)}, []Disagreement{{"a", NotReady}}},
		{"a pod without an IP is not expected yet", service(blue), slice(nil),
			[]*corev1.Pod{pod("a", "blue", true, func(p *corev1.Pod) { p.Status.PodIP = "" })}, nil},
		{"no selector: endpoints are someone else's", service(nil), slice(map[string]bool{"x": true}), nil, nil},
		{"publishNotReadyAddresses: every endpoint is ready by design",
			&corev1.Service{Spec: corev1.ServiceSpec{Selector: blue, PublishNotReadyAddresses: true}},
			slice(map[string]bool{"a": true}), []*corev1.Pod{pod("a", "blue", false)}, nil},
		{"no Service seen", nil, slice(map[string]bool{"a": true}), nil, nil},
		{"a pod listed in two slices (dual stack) is one disagreement", service(blue),
			append(slice(map[string]bool{"a": true}), slice(map[string]bool{"a": true})...),
			[]*corev1.Pod{pod("a", "blue", true, terminating)}, []Disagreement{{"a", Terminating}}},
		{"an unset ready condition means ready", service(blue), unsetReady("a"),
			[]*corev1.Pod{pod("a", "blue", true, terminating)}, []Disagreement{{"a", Terminating}}},
		{"a ready endpoint in a slice of another manager counts: kube-proxy routes by it", service(blue),
			slice(map[string]bool{"ghost": true}),
			[]*corev1.Pod{pod("a", "blue", true)}, []Disagreement{{"a", Missing}, {"ghost", Gone}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compare(tt.svc, tt.slices, tt.pods)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Compare = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 8 * time.Second, 60: 8 * time.Second} {
		if got := backoff(n, 8*time.Second); got != want {
			t.Errorf("backoff(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestDescribeNamesAtMostFivePods(t *testing.T) {
	var ds []Disagreement
	for _, p := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		ds = append(ds, Disagreement{p, Gone})
	}
	want := "pod a is gone but still a ready endpoint; pod b is gone but still a ready endpoint; " +
		"pod c is gone but still a ready endpoint; pod d is gone but still a ready endpoint; " +
		"pod e is gone but still a ready endpoint; and 2 more"
	if got := Describe(ds); got != want {
		t.Errorf("Describe = %q", got)
	}
}
