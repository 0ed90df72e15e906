// Package drift guards a release against Services whose EndpointSlices
// disagree with the pods they select: a pod that is gone, terminating or
// not ready still listed as a ready endpoint, or a ready pod that is not
// one. kube-proxy and ingress controllers route by those slices, so while
// they are stale, traffic goes to pods that are leaving and not to the new
// ones.
//
// The EndpointSlice controller normally follows pods within a second. It
// can fall far behind: after "EndpointSlice informer cache is out of
// date" errors (typically after an API server restart) it retries a
// Service with an exponential back-off of 1 s doubling to 1000 s
// (kubernetes#124547, #117193, #126578), and a starved or stuck
// controller-manager updates nothing at all. A Guard notices the
// disagreement, nudges the controller with a harmless write to the
// Service (an update event queues the Service at once, outside the
// back-off), drops the endpoints of pods that are gone from the slices when
// the controller still does not follow (see Repair), pauses the rolling
// Deployments whose old pods still take the traffic, and reports every
// episode.
package drift

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cutover/cutover/internal/readiness"
)

// Reason says how one pod's endpoint disagrees with the pod.
type Reason string

// Reasons. The first four are stale endpoints: traffic goes where it
// should not. Missing is a ready pod that gets no traffic.
const (
	Gone        Reason = "gone"        // a ready endpoint whose pod no longer exists
	Terminating Reason = "terminating" // a ready endpoint whose pod is being deleted
	NotReady    Reason = "not ready"   // a ready endpoint whose pod is not ready
	NotSelected Reason = "not selected"
	Missing     Reason = "missing" // a ready pod the Service selects that is not a ready endpoint
)

// Disagreement is one pod whose endpoint and state disagree.
type Disagreement struct {
	Pod    string
	Reason Reason
}

func (d Disagreement) String() string {
	switch d.Reason {
	case Missing:
		return "pod " + d.Pod + " is ready but not a ready endpoint"
	case Gone:
		return "pod " + d.Pod + " is gone but still a ready endpoint"
	case NotSelected:
		return "pod " + d.Pod + " is not selected but still a ready endpoint"
	}
	return "pod " + d.Pod + " is " + string(d.Reason) + " but still a ready endpoint"
}

// Compare returns, sorted, the disagreements between a Service's
// EndpointSlices and the pods (of its namespace) that its selector picks:
// Inspect's Disagreements.
func Compare(svc *corev1.Service, slices []*discoveryv1.EndpointSlice, pods []*corev1.Pod) []Disagreement {
	return Inspect(svc, slices, pods).Disagreements
}

// Report is what Inspect found.
type Report struct {
	ReadyEndpoints int // pods that are ready endpoints
	ReadyPods      int // selected pods that should be: ready, with an IP, not being deleted
	Disagreements  []Disagreement
}

// Inspect compares a Service's EndpointSlices with the pods (of its
// namespace) that its selector picks. Every slice of the Service counts,
// whoever manages it: kube-proxy routes by all of them. A Service without a selector has its endpoints managed by
// someone else and has no disagreement; neither has one that publishes
// not-ready addresses (its slices do not follow readiness).
func Inspect(svc *corev1.Service, slices []*discoveryv1.EndpointSlice, pods []*corev1.Pod) Report {
	var r Report
	if svc == nil || len(svc.Spec.Selector) == 0 || svc.Spec.PublishNotReadyAddresses {
		return r
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	byName := map[string]*corev1.Pod{}
	for _, p := range pods {
		byName[p.Name] = p
	}
	endpoint := map[string]bool{}
	for _, s := range slices {
		for _, e := range s.Endpoints {
			// An unset ready condition means ready (the API's rule).
			if e.TargetRef == nil || e.TargetRef.Kind != "Pod" || (e.Conditions.Ready != nil && !*e.Conditions.Ready) {
				continue
			}
			name := e.TargetRef.Name
			if endpoint[name] {
				continue // listed again: another address family, or slices being rearranged
			}
			endpoint[name] = true
			if reason, bad := endpointState(byName[name], sel); bad {
				r.Disagreements = append(r.Disagreements, Disagreement{Pod: name, Reason: reason})
			}
		}
	}
	r.ReadyEndpoints = len(endpoint)
	for _, p := range pods {
		if !sel.Matches(labels.Set(p.Labels)) || !serving(p) {
			continue
		}
		r.ReadyPods++
		if !endpoint[p.Name] {
			r.Disagreements = append(r.Disagreements, Disagreement{Pod: p.Name, Reason: Missing})
		}
	}
	sortDisagreements(r.Disagreements)
	return r
}

// endpointState says what is wrong with a ready endpoint of pod p, if
// anything.
func endpointState(p *corev1.Pod, sel labels.Selector) (Reason, bool) {
	switch {
	case p == nil:
		return Gone, true
	case p.DeletionTimestamp != nil:
		return Terminating, true
	case !sel.Matches(labels.Set(p.Labels)):
		return NotSelected, true
	case !readiness.PodReady(p):
		return NotReady, true
	}
	return "", false
}

// serving reports whether p should be a ready endpoint: ready, with an IP,
// and not being deleted.
func serving(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.PodIP != "" && readiness.PodReady(p)
}

func sortDisagreements(ds []Disagreement) {
	slices.SortFunc(ds, func(a, b Disagreement) int {
		if c := strings.Compare(a.Pod, b.Pod); c != 0 {
			return c
		}
		return strings.Compare(string(a.Reason), string(b.Reason))
	})
}

// Describe joins disagreements into one line, naming at most five pods.
func Describe(ds []Disagreement) string {
	const most = 5
	parts := make([]string, 0, most+1)
	for i, d := range ds {
		if i == most {
			parts = append(parts, fmt.Sprintf("and %d more", len(ds)-most))
			break
		}
		parts = append(parts, d.String())
	}
	return strings.Join(parts, "; ")
}
